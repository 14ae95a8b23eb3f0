package conformance_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/internal/vonage/conformance"
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
	// v1Creds start every v1 form.
	v1Creds = "api_key=abcd1234&api_secret=Sup3rS3cr3t%21%21"
	// v1Start is a v1 start the specification accepts; cases add to it or take from it.
	v1Start = v1Creds + "&number=4915123456789&brand=Acme"
)

var basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("abcd1234:Sup3rS3cr3t!!"))

// jwt is a token of the form Vonage takes, unsigned in truth: the spec server checks the form only.
func jwt(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return "Bearer " + enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

var bearer = jwt(`{"alg":"RS256","typ":"JWT"}`, `{"application_id":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","iat":1700000000,"exp":1700000300,"jti":"x"}`)

// rawRequest is a request sent as is, with net/http, past the clients' own checks.
type rawRequest struct {
	name        string
	method      string
	path        string
	contentType string
	auth        []string // Authorization headers
	body        string
	// refusal is a part of the reason the validator must give; "" means it must accept the request.
	refusal string
}

// negativeControl proves that the validator the replay trusts refuses real mistakes, each for its
// own reason, and accepts the same requests without them.
func negativeControl(t *testing.T, validator *conformance.Validator) {
	srv := conformance.NewServer(t, validator)
	v1ID := startID(t, srv.URL(), rawRequest{method: http.MethodPost, path: "/verify/json", contentType: formType, body: v1Start})
	v2ID := startID(t, srv.URL(), rawRequest{method: http.MethodPost, path: "/v2/verify", contentType: jsonType, auth: []string{basic},
		body: `{"brand":"Acme","workflow":[{"channel":"sms","to":"4915123456789"}]}`})
	v2 := func(name, body, refusal string) rawRequest {
		return rawRequest{name: name, method: http.MethodPost, path: "/v2/verify", contentType: jsonType, auth: []string{basic}, body: body, refusal: refusal}
	}
	v1 := func(name, path, body, refusal string) rawRequest {
		return rawRequest{name: name, method: http.MethodPost, path: path, contentType: formType, body: body, refusal: refusal}
	}
	sms := func(step string) string { return `{"brand":"Acme","workflow":[` + step + `]}` }

	for _, c := range []rawRequest{
		// The same requests, right: what every refusal below departs from.
		v1("v1 start with every field at its limit", "/verify/json", v1Start+"&country=DE&sender_id=Acme+Co+123&code_length=6&lg=zh-tw&pin_expiry=3600&next_event_wait=900&workflow_id=7", ""),
		v1("v1 check", "/verify/check/json", v1Creds+"&request_id="+v1ID+"&code=123456", ""),
		v1("v1 cancel", "/verify/control/json", v1Creds+"&request_id="+v1ID+"&cmd=cancel", ""),
		v2("v2 start with every field at its limit", `{"brand":"Acme Verify Brand!","locale":"en-gb","channel_timeout":900,"client_ref":"ref1","code_length":10,"fraud_check":false,
			"workflow":[{"channel":"silent_auth","to":"4915123456789","redirect_url":"https://app.example.com/v"},
			{"channel":"sms","to":"4915123456789","from":"447700900123456","app_hash":"FA+9qCX9VSu"},
			{"channel":"whatsapp","to":"4915123456789","from":"447700900001"}]}`, ""),
		{name: "v2 start with an application JWT", method: http.MethodPost, path: "/v2/verify", contentType: jsonType, auth: []string{bearer},
			body: sms(`{"channel":"voice","to":"50051234"}`)},
		{name: "v2 check", method: http.MethodPost, path: "/v2/verify/" + v2ID, contentType: jsonType, auth: []string{basic}, body: `{"code":"a1B2c3D4e5"}`},
		{name: "v2 check by token", method: http.MethodPost, path: "/v2/verify/" + v2ID, contentType: jsonType, auth: []string{bearer}, body: `{"token":"x.y.z"}`},
		{name: "v2 cancel", method: http.MethodDelete, path: "/v2/verify/" + v2ID, auth: []string{basic}},

		// Verify v1.
		v1("v1 start with a sender_id of 12 characters", "/verify/json", v1Start+"&sender_id=AcmeCompany1", "sender_id: maximum string length is 11"),
		v1("v1 start with a brand of 19 characters", "/verify/json", v1Start[:len(v1Start)-len("Acme")]+"Acme+Verify+Brand%21%21", "brand: maximum string length is 18"),
		v1("v1 start with a misspelt field", "/verify/json", v1Start+"&sender-id=Acme", "sender-id: not a field of this operation"),
		v1("v1 start with a field twice", "/verify/json", v1Start+"&brand=Other", "brand: sent 2 times"),
		v1("v1 start without a number", "/verify/json", v1Creds+"&brand=Acme", `"number" is missing`),
		v1("v1 start with a national number and no country", "/verify/json", v1Creds+"&number=07700900000&brand=Acme", "E.164"),
		v1("v1 start with code_length 5", "/verify/json", v1Start+"&code_length=5", "code_length: value is not one of the allowed values"),
		v1("v1 start with code_length not a number", "/verify/json", v1Start+"&code_length=six", "code_length"),
		v1("v1 start with lg in upper case", "/verify/json", v1Start+"&lg=en-GB", "lg: value is not one of the allowed values"),
		v1("v1 start with workflow_id 8", "/verify/json", v1Start+"&workflow_id=8", "workflow_id: value is not one of the allowed values"),
		v1("v1 start with pin_expiry 3601", "/verify/json", v1Start+"&pin_expiry=3601", "pin_expiry: number must be at most 3600"),
		v1("v1 start with next_event_wait 59", "/verify/json", v1Start+"&next_event_wait=59", "next_event_wait: number must be at least 60"),
		v1("v1 start with pin_expiry not a multiple of next_event_wait", "/verify/json", v1Start+"&pin_expiry=300&next_event_wait=120", "not a multiple"),
		v1("v1 start with a country of 3 letters", "/verify/json", v1Start+"&country=DEU", "country: maximum string length is 2"),
		{name: "v1 start with the credentials in the query string", method: http.MethodPost, path: "/verify/json?" + v1Creds, contentType: formType,
			body: "number=4915123456789&brand=Acme", refusal: "query string"},
		{name: "v1 start as JSON", method: http.MethodPost, path: "/verify/json", contentType: jsonType,
			body: `{"api_key":"abcd1234","api_secret":"x","number":"4915123456789","brand":"Acme"}`, refusal: "Content-Type"},
		{name: "v1 start as GET", method: http.MethodGet, path: "/verify/json", refusal: "no operation"},
		{name: "v1 start with an Authorization header", method: http.MethodPost, path: "/verify/json", contentType: formType, auth: []string{basic},
			body: v1Start, refusal: "an Authorization header on v1 verifyRequest, which declares no header authentication"},
		v1("v1 check with a code of 7 characters", "/verify/check/json", v1Creds+"&request_id="+v1ID+"&code=1234567", "code: maximum string length is 6"),
		v1("v1 check with a code of 3 characters", "/verify/check/json", v1Creds+"&request_id="+v1ID+"&code=123", "code: minimum string length is 4"),
		v1("v1 check with a request_id of 33 characters", "/verify/check/json", v1Creds+"&request_id="+v1ID+"0&code=1234", "request_id: maximum string length is 32"),
		v1("v1 check without the api_secret", "/verify/check/json", "api_key=abcd1234&request_id="+v1ID+"&code=1234", `"api_secret" is missing`),
		v1("v1 check of a request_id never issued", "/verify/check/json", v1Creds+"&request_id=abcdef0123456789abcdef0123456789&code=1234", "never issued"),
		v1("v1 control with an unknown command", "/verify/control/json", v1Creds+"&request_id="+v1ID+"&cmd=stop", "cmd: value is not one of the allowed values"),

		// Verify v2.
		v2("v2 start with fraud_check a string", `{"brand":"Acme","fraud_check":"no","workflow":[{"channel":"sms","to":"4915123456789"}]}`, "fraud_check: value must be a boolean"),
		v2("v2 start with silent_auth second", sms(`{"channel":"sms","to":"4915123456789"},{"channel":"silent_auth","to":"4915123456789"}`), "silent_auth must be the first channel"),
		v2("v2 start with a misspelt field", `{"brand":"Acme","code_lenght":6,"workflow":[{"channel":"sms","to":"4915123456789"}]}`, `property "code_lenght" is unsupported`),
		v2("v2 start without a brand", `{"workflow":[{"channel":"sms","to":"4915123456789"}]}`, `"brand" is missing`),
		v2("v2 start with a brand of 19 characters", `{"brand":"Acme Verify Brand!!","workflow":[{"channel":"sms","to":"4915123456789"}]}`, "brand: maximum string length is 18"),
		v2("v2 start with a brand Vonage escapes", `{"brand":"Acme/Verify","workflow":[{"channel":"sms","to":"4915123456789"}]}`, "brand: string doesn't match the regular expression"),
		v2("v2 start with code_length 11", `{"brand":"Acme","code_length":11,"workflow":[{"channel":"sms","to":"4915123456789"}]}`, "code_length: value is not one of the allowed values"),
		v2("v2 start with channel_timeout 14", `{"brand":"Acme","channel_timeout":14,"workflow":[{"channel":"sms","to":"4915123456789"}]}`, "channel_timeout: number must be at least 15"),
		v2("v2 start with no step", `{"brand":"Acme","workflow":[]}`, "workflow: minimum number of items is 1"),
		v2("v2 start with four steps", sms(`{"channel":"sms","to":"4915123456789"},{"channel":"voice","to":"4915123456789"},{"channel":"sms","to":"4915123456789"},{"channel":"voice","to":"4915123456789"}`),
			"workflow: maximum number of items is 3"),
		v2("v2 start to a number with +", sms(`{"channel":"sms","to":"+4915123456789"}`), "to: string doesn't match the regular expression"),
		v2("v2 start to a number with 00", sms(`{"channel":"voice","to":"004915123456789"}`), "to: string doesn't match the regular expression"),
		v2("v2 start to a number of 16 digits", sms(`{"channel":"voice","to":"4915123456789012"}`), "to: string doesn't match the regular expression"),
		v2("v2 start with an sms from of 12 letters", sms(`{"channel":"sms","to":"4915123456789","from":"AcmeCompany1"}`), "at most 11 characters"),
		v2("v2 start with an sms from of 16 digits", sms(`{"channel":"sms","to":"4915123456789","from":"4477009001234567"}`), "from: maximum string length is 15"),
		v2("v2 start with a numeric sms from that is not E.164", sms(`{"channel":"sms","to":"4915123456789","from":"07700900123"}`), "must be an E.164 number"),
		v2("v2 start with an sms from with a space", sms(`{"channel":"sms","to":"4915123456789","from":"Acme Co"}`), "neither numeric nor alphanumeric"),
		v2("v2 start with an app_hash of 10 characters", sms(`{"channel":"sms","to":"4915123456789","app_hash":"FA+9qCX9VS"}`), "app_hash: minimum string length is 11"),
		v2("v2 start with whatsapp without a from", sms(`{"channel":"whatsapp","to":"4915123456789"}`), `"from" is missing`),
		v2("v2 start with a redirect_url on sms", sms(`{"channel":"sms","to":"4915123456789","redirect_url":"https://app.example.com"}`), `property "redirect_url" is unsupported`),
		v2("v2 start with a channel the proxy never sends", sms(`{"channel":"email","to":"a@example.com"}`), `doesn't match any schema from "oneOf"`),
		{name: "v2 start without Authorization", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "no Authorization header"},
		{name: "v2 start with Basic and Bearer", method: http.MethodPost, path: "/v2/verify", contentType: jsonType, auth: []string{basic, bearer},
			body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "2 Authorization headers"},
		{name: "v2 start with Basic credentials that are not key:secret", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("abcd1234"))}, body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "not key:secret"},
		{name: "v2 start with a bearer token of two parts", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			auth: []string{"Bearer abc.def"}, body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "2 dot-separated parts"},
		{name: "v2 start with an unsigned JWT", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			auth: []string{jwt(`{"alg":"none"}`, `{"application_id":"a","iat":1700000000}`)}, body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "no signing algorithm"},
		{name: "v2 start with a JWT that lives 25 hours", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			auth: []string{jwt(`{"alg":"RS256"}`, `{"application_id":"a","iat":1700000000,"exp":1700090000}`)}, body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "more than the 86400 s"},
		{name: "v2 start with a JWT without application_id", method: http.MethodPost, path: "/v2/verify", contentType: jsonType,
			auth: []string{jwt(`{"alg":"RS256"}`, `{"iat":1700000000}`)}, body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "no application_id"},
		{name: "v2 start as a form", method: http.MethodPost, path: "/v2/verify", contentType: formType, auth: []string{basic},
			body: "brand=Acme", refusal: "Content-Type"},
		{name: "v2 start with a query string", method: http.MethodPost, path: "/v2/verify?fraud_check=false", contentType: jsonType, auth: []string{basic},
			body: sms(`{"channel":"sms","to":"4915123456789"}`), refusal: "query string"},
		{name: "v2 check with a code of 11 characters", method: http.MethodPost, path: "/v2/verify/" + v2ID, contentType: jsonType, auth: []string{basic},
			body: `{"code":"a1B2c3D4e5f"}`, refusal: "code: maximum string length is 10"},
		{name: "v2 check with a code and a token", method: http.MethodPost, path: "/v2/verify/" + v2ID, contentType: jsonType, auth: []string{basic},
			body: `{"code":"1234","token":"x.y.z"}`, refusal: `doesn't match any schema from "oneOf"`},
		{name: "v2 check of a request_id never issued", method: http.MethodPost, path: "/v2/verify/c11236f4-00bf-4b89-84ba-88b25df97315", contentType: jsonType,
			auth: []string{basic}, body: `{"code":"1234"}`, refusal: "never issued"},
		{name: "v2 cancel with a body", method: http.MethodDelete, path: "/v2/verify/" + v2ID, contentType: jsonType, auth: []string{basic},
			body: `{"code":"1234"}`, refusal: "an operation that takes none"},
		{name: "v2 cancel without Authorization", method: http.MethodDelete, path: "/v2/verify/" + v2ID, refusal: "no Authorization header"},
	} {
		// In turn, not in parallel: each case finds the exchange it made by its position.
		t.Run(c.name, func(t *testing.T) {
			before := len(srv.Exchanges())
			send(t, srv.URL(), c)
			exchanges := srv.Exchanges()
			if len(exchanges) != before+1 {
				t.Fatalf("the spec server saw %d requests, want 1", len(exchanges)-before)
			}
			got := exchanges[before]
			t.Logf("%s: %s", got.Operation, got.Refusal)
			switch {
			case c.refusal == "" && got.Refusal != "":
				t.Errorf("refused, want accepted: %s\n%s", got.Refusal, got.Request)
			case c.refusal != "" && got.Refusal == "":
				t.Errorf("accepted, want refused for %q\n%s", c.refusal, got.Request)
			case !strings.Contains(got.Refusal, c.refusal):
				t.Errorf("refused for %q, want a refusal for %q\n%s", got.Refusal, c.refusal, got.Request)
			}
			if strings.Contains(got.Request, "Sup3rS3cr3t") || strings.Contains(got.Request, basic[len("Basic "):]) {
				t.Errorf("the recorded request shows a secret:\n%s", got.Request)
			}
		})
	}
}

// send makes c with net/http and drains the answer.
func send(t *testing.T, base string, c rawRequest) *http.Response {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	for _, a := range c.auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// startID sends a start the specification accepts and returns the request_id the spec server issued.
func startID(t *testing.T, base string, c rawRequest) string {
	t.Helper()
	resp := send(t, base, c)
	var answer struct {
		RequestID string `json:"request_id"`
		Status    string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.RequestID == "" {
		t.Fatalf("start %s: HTTP %d, %+v, %v", c.path, resp.StatusCode, answer, err)
	}
	return answer.RequestID
}
