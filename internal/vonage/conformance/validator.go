// Package conformance proves that every request verify-proxy's Vonage clients can send is one that
// Vonage's published Verify specifications accept. It owns our own statement of those
// specifications' request-side facts (verify-v1.yaml and verify-v2.yaml: field names, types,
// lengths, ranges, enums, required fields, content type and authentication, each with its source
// and version; written by us, not a copy of Vonage's files), the rules their prose states that a
// schema cannot (prose.go), a Validator that applies both to an *http.Request, and a spec server
// that stands in for api.nexmo.com, validates every request it receives and answers valid ones in
// Vonage's wire format. Its test builds the real clients from configuration, at every setting's
// limits, and replays every request shape through the spec server.
package conformance

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

//go:embed verify-v1.yaml verify-v2.yaml
var specFiles embed.FS

// maxBody bounds what the validator reads: a Verify request is a few hundred bytes.
const maxBody = 1 << 20

// API names one of the two specifications.
type API string

// The specifications a request may be validated against.
const (
	V1 API = "v1"
	V2 API = "v2"
)

// Validator checks requests against the embedded specifications. It is immutable and safe for
// concurrent use.
type Validator struct {
	specs []spec
}

type spec struct {
	api    API
	doc    *openapi3.T
	router routers.Router
}

// NewValidator loads and checks the embedded specifications.
func NewValidator() (*Validator, error) {
	v := &Validator{}
	for _, s := range []struct {
		api  API
		file string
	}{{V1, "verify-v1.yaml"}, {V2, "verify-v2.yaml"}} {
		data, err := specFiles.ReadFile(s.file)
		if err != nil {
			return nil, err
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", s.file, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", s.file, err)
		}
		// The servers name Vonage's host for the reader; the spec server listens on another, and
		// routing on the host would refuse every request it receives.
		doc.Servers = nil
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", s.file, err)
		}
		v.specs = append(v.specs, spec{api: s.api, doc: doc, router: router})
	}
	return v, nil
}

// Operation is what a request was taken for: the specification and its operationId ("" when no
// operation of either matches the method and path).
type Operation struct {
	API API
	ID  string
}

func (o Operation) String() string {
	if o.ID == "" {
		return "no operation"
	}
	return string(o.API) + " " + o.ID
}

// Validate reports which operation r is and nil, or why the specification refuses it. It reads
// r.Body and puts back an unread copy.
func (v *Validator) Validate(ctx context.Context, r *http.Request) (Operation, error) {
	body, err := readBody(r)
	if err != nil {
		return Operation{}, err
	}

	var (
		s      spec
		route  *routers.Route
		params map[string]string
	)
	for _, candidate := range v.specs {
		rt, p, err := candidate.router.FindRoute(r)
		if err == nil {
			s, route, params = candidate, rt, p
			break
		}
	}
	if route == nil {
		return Operation{}, fmt.Errorf("no operation of either specification is %s %s", r.Method, r.URL.Path)
	}
	op := Operation{API: s.api, ID: route.Operation.OperationID}

	// Neither API takes anything in the query: v1's credentials and v2's ids travel in the body or
	// the path. A query string is how a secret ends up in access logs.
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return op, errors.New("the URL carries a query string; neither Verify API takes one, and it would reach access logs")
	}
	if err := checkContentType(route.Operation, r, body); err != nil {
		return op, err
	}
	// Verify v1 declares no header authentication (its credentials are body fields): credentials
	// in a header nobody reads would only travel further than they need to.
	if noSecurity(s.doc, route.Operation) && r.Header.Get("Authorization") != "" {
		return op, fmt.Errorf("an Authorization header on %s, which declares no header authentication", op)
	}
	if err := checkFormFields(route.Operation, body); err != nil {
		return op, err
	}

	resetBody(r, body)
	err = openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: authenticate,
		},
	})
	resetBody(r, body)
	if err != nil {
		return op, errors.New(describe(err))
	}
	return op, checkProse(op, body)
}

// noSecurity reports whether op declares no security requirement, itself or through the document.
func noSecurity(doc *openapi3.T, op *openapi3.Operation) bool {
	if op.Security != nil {
		return len(*op.Security) == 0
	}
	return len(doc.Security) == 0
}

// checkContentType refuses a body the operation does not declare, and a Content-Type other than
// exactly the one it declares (each operation declares one). kin-openapi would take parameters
// (a charset) and letter case as the same type; the proxy sends the bare type, and this keeps it so.
func checkContentType(op *openapi3.Operation, r *http.Request, body []byte) error {
	got := r.Header.Values("Content-Type")
	if op.RequestBody == nil {
		if len(body) > 0 || len(got) > 0 {
			return fmt.Errorf("a body (Content-Type %q, %d bytes) on an operation that takes none", strings.Join(got, ", "), len(body))
		}
		return nil
	}
	var declared []string
	for mediaType := range op.RequestBody.Value.Content {
		declared = append(declared, mediaType)
	}
	if len(declared) != 1 {
		return fmt.Errorf("the specification declares %d media types for this operation; this validator expects one", len(declared))
	}
	if len(got) != 1 || got[0] != declared[0] {
		return fmt.Errorf("Content-Type is %q, the specification declares %q", strings.Join(got, ", "), declared[0])
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the body: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("a body of more than %d bytes", maxBody)
	}
	resetBody(r, body)
	return body, nil
}

func resetBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
}

// describe turns kin-openapi's error, which dumps whole schemas and values, into one line that names
// the field and the rule.
func describe(err error) string {
	var secErr *openapi3filter.SecurityRequirementsError
	if errors.As(err, &secErr) {
		reasons := make([]string, 0, len(secErr.Errors))
		for i, e := range secErr.Errors {
			name := "?"
			if i < len(secErr.SecurityRequirements) {
				for scheme := range secErr.SecurityRequirements[i] {
					name = scheme
				}
			}
			reasons = append(reasons, name+": "+e.Error())
		}
		return "authorization: no declared scheme accepts it (" + strings.Join(reasons, "; ") + ")"
	}
	var schemaErr *openapi3.SchemaError
	if errors.As(err, &schemaErr) {
		return describeSchemaError(schemaErr)
	}
	var reqErr *openapi3filter.RequestError
	if errors.As(err, &reqErr) {
		switch {
		case reqErr.Parameter != nil:
			return fmt.Sprintf("parameter %s: %s %v", reqErr.Parameter.Name, reqErr.Reason, reqErr.Err)
		case reqErr.Err != nil:
			return "request body: " + reqErr.Err.Error()
		}
		return reqErr.Reason
	}
	return err.Error()
}

// describeSchemaError names the field by its JSON pointer and gives the rule it breaks; for a oneOf
// that nothing matches, why each alternative does not.
func describeSchemaError(e *openapi3.SchemaError) string {
	field := strings.Join(e.JSONPointer(), "/")
	if field == "" {
		field = "body"
	}
	out := field + ": " + e.Reason
	var multi openapi3.MultiError
	if e.SchemaField == "oneOf" && errors.As(e.Origin, &multi) {
		alternatives := make([]string, 0, len(multi))
		for _, alt := range multi {
			var altErr *openapi3.SchemaError
			if errors.As(alt, &altErr) {
				alternatives = append(alternatives, describeSchemaError(altErr))
				continue
			}
			alternatives = append(alternatives, alt.Error())
		}
		out += " [" + strings.Join(alternatives, " | ") + "]"
	}
	return out
}
