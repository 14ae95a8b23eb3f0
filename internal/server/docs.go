package server

import (
	"bytes"
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
	js, err := yamlAsJSON(specYAML)
	if err != nil {
		return nil, fmt.Errorf("encode openapi.yaml as json: %w", err)
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

// yamlAsJSON is the YAML document as JSON, as written: not kin-openapi's model of it, which leaves
// out what equals its zero value (`security: []`, `required: false`), and with every mapping's keys
// in the document's order, not sorted as a Go map would have them. Swagger UI lists the operations
// in the order of the document's paths (it is given no operationsSorter), so /docs shows the flow as
// openapi.yaml tells it: request, check, cancel.
func yamlAsJSON(specYAML []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(specYAML, &doc); err != nil {
		return nil, fmt.Errorf("read yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeJSON writes n to buf as JSON; a scalar as YAML reads it (`true`, `3`, `'3'`, `null`).
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one yaml document, have %d", n.Line, len(n.Content))
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			for key.Kind == yaml.AliasNode {
				key = key.Alias
			}
			if key.Kind != yaml.ScalarNode || key.Tag == "!!merge" {
				return fmt.Errorf("line %d: a key must be a plain value", key.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			name, err := json.Marshal(key.Value)
			if err != nil {
				return fmt.Errorf("line %d: %w", key.Line, err)
			}
			buf.Write(name)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		js, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(js)
		return nil
	}
	return fmt.Errorf("line %d: unexpected yaml node kind %v", n.Line, n.Kind)
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
