package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/verify-proxy/verify-proxy/api"
)

// newValidator checks every request against the embedded contract before a handler runs, so the
// handlers only ever see bodies the contract allows.
func newValidator(s *Server) (echo.MiddlewareFunc, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded openapi spec: %w", err)
	}
	// The servers list is for documentation; validating the Host header against it would refuse
	// every deployment behind another name.
	spec.Servers = nil
	return oapimiddleware.OapiRequestValidatorWithOptions(spec, &oapimiddleware.Options{
		Options: openapi3filter.Options{
			// Hand the handler the very value that was validated: Echo's binder matches JSON names
			// case-insensitively and would otherwise accept an unvalidated "NUMBER" beside "number".
			KeepValidatedValue:  true,
			ExcludeResponseBody: true,
		},
		ErrorHandler: func(_ echo.Context, err *echo.HTTPError) error {
			return s.validationError(err)
		},
	}), nil
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
// problem, in the Error shape, and counts the refusal.
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
