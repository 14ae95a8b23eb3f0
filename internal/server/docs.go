package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
	"go.yaml.in/yaml/v4"
)

// docs serves the contract and Swagger UI. The UI's assets are compiled into the binary (swgui's
// embedded build), so /docs works offline and behind a firewall, and it reads the served spec, so
// "Try it out" calls this very server.
type docs struct {
	specYAML []byte
	specJSON []byte
	ui       http.Handler
}

// newDocs serves specYAML, openapi.yaml exactly as written: oapi-codegen's embedded copy is
// normalised (its operationIds are capitalised), and client generators should see the source.
func newDocs(specYAML []byte) (*docs, error) {
	if len(specYAML) == 0 {
		return nil, errors.New("the openapi.yaml document is empty")
	}
	spec, err := openapi3.NewLoader().LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	// The JSON is the YAML document as data, not kin-openapi's model of it: the model leaves out
	// what equals its zero value (`security: []`, `required: false`), and linters and generators
	// reading /openapi.json must see the contract as written.
	var doc any
	if err := yaml.Unmarshal(specYAML, &doc); err != nil {
		return nil, fmt.Errorf("read openapi.yaml as data: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi spec as json: %w", err)
	}
	ui := v5emb.NewWithConfig(swgui.Config{
		Title:       spec.Info.Title,
		SwaggerJSON: "/openapi.json",
		BasePath:    "/docs/",
		HideCurl:    false,
		ShowTopBar:  false,
	})(spec.Info.Title, "/openapi.json", "/docs/")
	return &docs{specYAML: specYAML, specJSON: js, ui: ui}, nil
}

func (d *docs) register(e *echo.Echo) {
	getOrHead(e, "/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", d.specYAML)
	})
	getOrHead(e, "/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.specJSON)
	})
	getOrHead(e, "/docs", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/docs/")
	})
	getOrHead(e, "/docs/*", jsonNotFound(d.ui))
}

// jsonNotFound serves h, except that its plain-text 404 (an asset that does not exist) becomes the
// API's JSON 404, as every other unknown path is.
func jsonNotFound(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Echo's own writer underneath, so that the access log and metrics see the status sent.
		w := &notFoundCatcher{ResponseWriter: c.Response()}
		h.ServeHTTP(w, c.Request())
		if w.notFound {
			return echo.ErrNotFound
		}
		return nil
	}
}

// notFoundCatcher passes a response through unless it is a 404, which it swallows for the caller
// to answer.
type notFoundCatcher struct {
	http.ResponseWriter
	notFound bool
}

func (w *notFoundCatcher) WriteHeader(status int) {
	if status == http.StatusNotFound {
		w.notFound = true
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *notFoundCatcher) Write(b []byte) (int, error) {
	if w.notFound {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
