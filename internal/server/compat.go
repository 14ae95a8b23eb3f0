package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
)

// legacyBodies is the thin compatibility layer for the apps written for the original Node proxy.
// It rewrites their bodies into the contract's shape before validation, so the contract stays clean:
//
//   - {"number": 14155550100}: the guide sends the number as a JSON number; it becomes the string of
//     its literal digits (never via float64, which would give 1.41555501e+10).
//   - {"code": 1234}: likewise for the code.
//   - A number or code as people paste or type it outside ASCII: digits of any script (Arabic-Indic,
//     Persian, Devanagari, full-width: what an iPhone set to Arabic types), no-break and other
//     spaces, typographic dashes and the minus sign, full-width '+', '(', ')' and '.', and the
//     invisible direction marks a contact card copies along. They become the ASCII forms the
//     contract allows; anything else is left for the validator to refuse.
//   - {"requestId": "..."}: the guide's /check reads camelCase; it becomes request_id.
//   - {"request_id": "<code>", "requestId": "<id>"} with no code: the Android demo's final commit put
//     the request_id annotation on the code field; the two are put back where they belong.
//
// It also refuses a body that is not JSON with 415 before the validator reads it.
func (s *Server) legacyBodies(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		// A compressed body would be refused below as "not valid JSON", which misleads: it may well be
		// JSON. Bodies here are a few dozen bytes; compression buys nothing and risks a zip bomb.
		if enc := req.Header.Get(echo.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
			return s.refuse(codeUnsupportedMediaType,
				"request bodies must not be compressed; send the JSON without Content-Encoding")
		}
		body, err := readBody(req.Body, req.ContentLength)
		if err != nil {
			if _, tooLarge := errors.AsType[*echo.HTTPError](err); tooLarge {
				return err // the body limit's 413
			}
			// The client sent less than its Content-Length, or stopped sending until the read timed
			// out: a fault of the request, not of this server.
			return s.refuse(codeInvalidRequest, "request body ended before its declared length or stalled")
		}
		if len(bytes.TrimSpace(body)) > 0 && !isJSON(req.Header.Get(echo.HeaderContentType)) {
			return s.refuse(codeUnsupportedMediaType,
				"request body must be JSON; send Content-Type: application/json")
		}
		// Some HTTP stacks on Windows prefix a byte-order mark; it is not part of the JSON.
		body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		blank := len(bytes.TrimSpace(body)) == 0
		// The validator decodes only the first JSON value; anything after it would slip through.
		if !blank && !json.Valid(body) {
			return s.refuse(codeInvalidRequest, "request body is not valid JSON")
		}
		value, decoded := decodeBody(body, blank, req.Header)
		if fields, ok := value.(map[string]any); ok && upgradeLegacyBody(c.Path(), fields) {
			rewritten, err := json.Marshal(fields)
			if err != nil { // nothing decoded fails to encode; if it did, the validator reads the bytes
				decoded = false
			} else {
				body = rewritten
				req.Header.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
			}
		}
		req.ContentLength = int64(len(body))
		if decoded {
			req.Body = &decodedBody{Reader: bytes.NewReader(body), value: value}
		} else {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		return next(c)
	}
}

func isJSON(contentType string) bool {
	if contentType == echo.MIMEApplicationJSON {
		return true // what apps send; ParseMediaType would make a map of its parameters
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == echo.MIMEApplicationJSON
}

// readBody reads a body of the size its Content-Length declares (-1: unknown) into a buffer of that
// size: io.ReadAll starts at 512 bytes, and a body here is a few dozen.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 || size > MaxBodyBytes {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1) // +1: the read that meets the end needs room to be made
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case len(b) == cap(b): // more than declared: read the rest as any body
			rest, err := io.ReadAll(r)
			return append(b, rest...), err
		}
	}
}

// decodedBody is a body read and decoded once, here, with the validator's own JSON decoder; the
// validator validates its value instead of reading and decoding the bytes again (decoding a body
// twice was a tenth of what a call allocated). It is not a validated value: only the validator
// makes one of it.
type decodedBody struct {
	*bytes.Reader
	value any
}

func (*decodedBody) Close() error { return nil }

// decodeBody decodes a body of valid JSON as the validator does (openapi3filter.JSONBodyDecoder:
// numbers kept as their literals). decoded is false for a blank body, or one that decoder refuses
// (a duplicate member, when built with encoding/json/v2): the validator then reads the bytes and
// says why itself.
func decodeBody(body []byte, blank bool, header http.Header) (value any, decoded bool) {
	if blank {
		return nil, false
	}
	value, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(body), header, nil, nil)
	return value, err == nil
}

// upgradeLegacyBody puts the members of a body that is a JSON object, as decodeBody decoded them,
// into the contract's shape, and reports whether it changed anything.
func upgradeLegacyBody(path string, fields map[string]any) (changed bool) {
	quote := func(key string) {
		if n, ok := fields[key].(json.Number); ok && isDigits([]byte(n)) {
			fields[key] = string(n)
			changed = true
		}
	}
	rewrite := func(key string, f func(string) string) {
		text, ok := fields[key].(string)
		if !ok {
			return
		}
		if plain := f(text); plain != text {
			fields[key] = plain
			changed = true
		}
	}
	toASCII := func(key string) { rewrite(key, asciiForms) }
	switch path {
	case "/request":
		quote("number")
		toASCII("number")
	case "/check":
		_, hasCode := fields["code"]
		legacyID, hasLegacyID := fields["requestId"]
		if _, hasID := fields["request_id"]; !hasCode && hasLegacyID && hasID {
			fields["code"], fields["request_id"] = fields["request_id"], legacyID
			delete(fields, "requestId")
			changed = true
		}
		fallthrough
	case "/cancel":
		if legacyID, ok := fields["requestId"]; ok {
			if _, has := fields["request_id"]; !has {
				fields["request_id"] = legacyID
			}
			delete(fields, "requestId")
			changed = true
		}
		quote("code")
		toASCII("code")
		// An id is copied, not typed: only what a copy drags along around it goes.
		rewrite("request_id", trimBlank)
	}
	return changed
}

// isDigits reports whether raw is a JSON number literal made only of digits: a phone number or a
// code. Negative, fractional or exponent literals are not, and are left for the validator to refuse.
func isDigits(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	for _, b := range raw {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// asciiForms rewrites the non-ASCII forms of the characters a number or a code may hold into ASCII,
// and trims white space and invisible format characters from both ends. Every other character is
// kept, so that the validator refuses it and names the field.
func asciiForms(s string) string {
	s = trimBlank(s)
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case unicode.IsDigit(r):
			b.WriteByte('0' + digitValue(r))
		case unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case unicode.Is(unicode.Pd, r), r == '\u2212': // dashes, and the minus sign
			b.WriteByte('-')
		case unicode.Is(unicode.Cf, r): // direction marks, zero-width spaces: nothing to see
		case r == '\uff0b':
			b.WriteByte('+')
		case r == '\uff08':
			b.WriteByte('(')
		case r == '\uff09':
			b.WriteByte(')')
		case r == '\uff0e':
			b.WriteByte('.')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// trimBlank drops white space and invisible format characters (direction marks, zero-width spaces)
// from both ends.
func trimBlank(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) })
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// digitValue is the value of a decimal digit of any script. Unicode encodes every such script's
// digits as one run from zero to nine (a stability guarantee), and adjacent runs (the mathematical
// digits) are whole sets of ten, so the value is the distance from the start of the run, modulo 10.
func digitValue(r rune) byte {
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return byte((r - start) % 10)
}
