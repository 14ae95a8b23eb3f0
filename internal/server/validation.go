package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/verify-proxy/verify-proxy/api"
)

// newValidator checks every request against the embedded contract before a handler runs, so the
// handlers only ever see bodies the contract allows.
//
// It is oapi-codegen's echo-middleware but for two things, each a share of a call's CPU: each
// operation's route is found once, here, by Echo's route pattern, instead of per request by a router
// that matches the path with regular expressions; and a body legacyBodies has decoded is validated
// as decoded (validateDecoded), not read and decoded again. The middleware runs only for the
// contract's operations (onlyAPI), whose routes are all in opByRoute.
func newValidator(s *Server) (echo.MiddlewareFunc, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded openapi spec: %w", err)
	}
	// The servers list is for documentation; validating the Host header against it would refuse
	// every deployment behind another name.
	spec.Servers = nil
	routes, err := contractRoutes(spec)
	if err != nil {
		return nil, err
	}
	options := &openapi3filter.Options{
		// Hand the handler the very value that was validated: Echo's binder matches JSON names
		// case-insensitively and would otherwise accept an unvalidated "NUMBER" beside "number".
		KeepValidatedValue:  true,
		ExcludeResponseBody: true,
	}
	// For a body legacyBodies decoded: everything but the body, which validateDecoded validates.
	withoutBody := *options
	withoutBody.ExcludeRequestBody = true
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			route := routes[c.Path()]
			if route == nil {
				return next(c) // not an operation of the contract: nothing to validate against
			}
			req := c.Request()
			input := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: options}
			body, decoded := req.Body.(*decodedBody)
			if decoded && route.Operation.RequestBody != nil && route.Operation.RequestBody.Value != nil {
				input.Options = &withoutBody
			}
			err := openapi3filter.ValidateRequest(req.Context(), input)
			if err == nil && input.Options == &withoutBody {
				err = validateDecoded(req.Context(), input, route.Operation.RequestBody.Value, body)
			}
			if err != nil {
				return s.validationError(validationHTTPError(err))
			}
			return next(c)
		}
	}, nil
}

// contractRoutes finds the route of each of the contract's operations, by Echo's route pattern.
func contractRoutes(spec *openapi3.T) (map[string]*routers.Route, error) {
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("route the embedded openapi spec: %w", err)
	}
	routes := make(map[string]*routers.Route, len(opByRoute))
	for path := range opByRoute {
		req, err := http.NewRequest(http.MethodPost, path, nil)
		if err != nil {
			return nil, err
		}
		route, _, err := router.FindRoute(req)
		if err != nil {
			return nil, fmt.Errorf("the contract has no POST %s: %w", path, err)
		}
		routes[path] = route
	}
	return routes, nil
}

// validateDecoded is openapi3filter.ValidateRequestBody (with KeepValidatedValue) for a body that
// legacyBodies has decoded with the same decoder: the same schema validation with the same options
// and the same error, on the decoded value instead of a second read and decode of the bytes. A
// body of a media type the contract does not list is left to ValidateRequestBody itself.
func validateDecoded(ctx context.Context, input *openapi3filter.RequestValidationInput,
	requestBody *openapi3.RequestBody, body *decodedBody) error {
	req := input.Request
	if len(requestBody.Content) == 0 {
		return nil
	}
	contentType := requestBody.Content.Get(req.Header.Get(echo.HeaderContentType))
	if contentType == nil {
		return openapi3filter.ValidateRequestBody(ctx, input, requestBody)
	}
	if contentType.Schema == nil {
		return nil
	}
	defaultsSet := false
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.DefaultsSet(func() { defaultsSet = true })}
	if input.Route.Spec.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	if err := contentType.Schema.Value.VisitJSON(body.value, opts...); err != nil {
		reason := "doesn't match schema"
		if id := schemaIdentifier(contentType.Schema); id != "" {
			reason += " " + id
		}
		return &openapi3filter.RequestError{Input: input, RequestBody: requestBody, Reason: reason, Err: err}
	}
	if defaultsSet { // the defaults are in the value; the bytes get them too, as kin-openapi's do
		data, err := json.Marshal(body.value)
		if err != nil {
			return &openapi3filter.RequestError{Input: input, RequestBody: requestBody, Reason: "rewriting failed", Err: err}
		}
		body.Reader = bytes.NewReader(data)
		req.ContentLength = int64(len(data))
	}
	req.Body = validatedBody{ReadCloser: body, value: body.value}
	return nil
}

// schemaIdentifier names a schema in an error as kin-openapi does: by its $ref, else its title.
func schemaIdentifier(schema *openapi3.SchemaRef) string {
	if id := strings.TrimSpace(schema.Ref); id != "" {
		return id
	}
	if schema.Value != nil {
		return strings.TrimSpace(schema.Value.Title)
	}
	return ""
}

// validatedBody is what openapi3filter leaves with KeepValidatedValue, and the generated handlers
// bind: the value that was validated.
type validatedBody struct {
	io.ReadCloser
	value any
}

func (b validatedBody) ValidatedValue() any { return b.value }

// validationHTTPError is the error echo-middleware makes of a validation failure: a bad request
// named by the first line of kin-openapi's verbose error.
func validationHTTPError(err error) *echo.HTTPError {
	switch e := err.(type) {
	case *openapi3filter.RequestError:
		first, _, _ := strings.Cut(e.Error(), "\n")
		return &echo.HTTPError{Code: http.StatusBadRequest, Message: first, Internal: err}
	case *openapi3filter.SecurityRequirementsError: // the contract has none; as echo-middleware would
		for _, err := range e.Errors {
			if he, ok := err.(*echo.HTTPError); ok {
				return he
			}
		}
		return &echo.HTTPError{Code: http.StatusForbidden, Message: e.Error(), Internal: err}
	}
	return &echo.HTTPError{Code: http.StatusInternalServerError,
		Message: fmt.Sprintf("error validating request: %s", err), Internal: err}
}

// patternHints say in words what a field's pattern in openapi.yaml allows: an app developer reading
// error_text should not have to read a regular expression.
var patternHints = map[string]string{
	"number":          "use digits, with an optional leading '+' and spaces, dashes, dots or parentheses (e.g. 14155550100)",
	"code":            "use only the letters and digits of the code the user received",
	"request_id":      "use the request_id that /request returned (letters, digits and dashes)",
	"Idempotency-Key": "use visible ASCII characters only, no spaces (a UUID is the usual choice)",
}

// typeHints say what to send when a field came as the wrong JSON type or as null. kin-openapi would
// say "value must be a string" to an app that sent a number the compatibility layer could not take
// (negative, fractional), and capitalise "Value is not nullable".
var typeHints = map[string]string{
	"":           "send a JSON object",
	"number":     `send the phone number as a string of digits, e.g. "14155550100" (a JSON number is read only when it is a whole positive number)`,
	"code":       `send the code as a string, e.g. "1234"`,
	"request_id": "send the request_id string that /request returned",
}

// lengthHints say how long a field may be in terms of what it is: after the compatibility layer
// trims a value, "minimum string length is 1" would puzzle an app that sent a space.
var lengthHints = map[string]string{
	"number":     "send a phone number of up to 32 characters, e.g. 14155550100",
	"code":       "send the code the user received: 4 to 10 letters or digits",
	"request_id": "send the request_id that /request returned (at most 36 characters)",
}

// validationError turns kin-openapi's verbose error into one line that names the field and the
// problem, in the ErrorBody shape, and counts the refusal.
func (s *Server) validationError(he *echo.HTTPError) error {
	if he.Code != http.StatusBadRequest {
		return he
	}
	code := codeInvalidRequest
	text := fmt.Sprint(he.Message)

	var reqErr *openapi3filter.RequestError
	var schemaErr *openapi3.SchemaError
	var parseErr *openapi3filter.ParseError
	switch {
	case errors.As(he.Internal, &reqErr) && reqErr.Parameter != nil:
		reason := reqErr.Reason
		if errors.As(reqErr.Err, &schemaErr) {
			reason = schemaErr.Reason
			if hint, ok := patternHints[reqErr.Parameter.Name]; ok && schemaErr.SchemaField == "pattern" {
				reason = hint
			}
		}
		text = fmt.Sprintf("%s header: %s", reqErr.Parameter.Name, reason)
	case errors.As(he.Internal, &schemaErr):
		field := strings.Join(schemaErr.JSONPointer(), ".")
		reason := schemaErr.Reason
		switch schemaErr.SchemaField {
		case "pattern":
			if hint, ok := patternHints[field]; ok {
				reason = hint
			}
		case "type", "nullable":
			if hint, ok := typeHints[field]; ok {
				reason = hint
			}
		case "minLength", "maxLength":
			if hint, ok := lengthHints[field]; ok {
				reason = hint
			}
		}
		if field == "" {
			text = "request body: " + reason
		} else {
			text = fmt.Sprintf("%s: %s", field, reason)
		}
		// A missing field is a malformed request; a present but bad number is the user's to fix.
		if field == "number" && schemaErr.SchemaField != "required" {
			code = codeInvalidNumber
		}
	case errors.As(he.Internal, &parseErr):
		text = "request body is not valid JSON"
	case errors.As(he.Internal, &reqErr) && errors.Is(reqErr.Err, openapi3filter.ErrInvalidRequired):
		text = "request body is required"
	case errors.As(he.Internal, &reqErr) && reqErr.Err != nil:
		text = "request body: " + reqErr.Err.Error()
	}
	return s.refuse(code, text)
}
