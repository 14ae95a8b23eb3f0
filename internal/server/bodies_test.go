package server_test

import (
	"encoding/json"
	"strings"
)

// The bodies of the three calls as an app's JSON library writes them, so that any value (a quote, a
// backslash) stays one JSON string. Tests about the raw bytes of a body (malformed JSON, legacy
// shapes, camelCase keys, escapes) write those bytes out instead.

// requestBody is a /request body for number.
func requestBody(number string) string {
	return jsonBody(struct {
		Number string `json:"number"`
	}{number})
}

// checkBody is a /check body for the verification id with code.
func checkBody(id, code string) string {
	return jsonBody(struct {
		RequestID string `json:"request_id"`
		Code      string `json:"code"`
	}{id, code})
}

// cancelBody is a /cancel body for the verification id.
func cancelBody(id string) string {
	return jsonBody(struct {
		RequestID string `json:"request_id"`
	}{id})
}

// jsonBody is v as one line of JSON with <, > and & left as they are, as apps send them.
func jsonBody(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // structs of strings always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}
