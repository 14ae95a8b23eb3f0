package app_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
	"github.com/verify-proxy/verify-proxy/internal/token/tokentest"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2/v2test"
)

// TestRunServesVerifyV2 starts the program as a user would, with VONAGE_VERIFY_API=v2, once with
// HTTP Basic and once with an application JWT whose key is in a file.
func TestRunServesVerifyV2(t *testing.T) {
	t.Parallel()
	app := v2test.NewApplication(t)
	keyPath := filepath.Join(t.TempDir(), "private.key")
	if err := os.WriteFile(keyPath, app.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantAuth string
	}{
		{"basic", map[string]string{"VONAGE_API_KEY": v2test.APIKey, "VONAGE_API_SECRET": v2test.APISecret}, "basic"},
		{"application jwt from a key file", map[string]string{"VONAGE_APPLICATION_ID": app.ID, "VONAGE_PRIVATE_KEY_PATH": keyPath}, "bearer"},
		{"application jwt from an inline key with \\n escapes",
			map[string]string{"VONAGE_APPLICATION_ID": app.ID, "VONAGE_PRIVATE_KEY": strings.ReplaceAll(string(app.PrivateKeyPEM), "\n", `\n`)}, "bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := v2test.NewServer(t)
			fake.AcceptApplication(app)
			env := map[string]string{
				"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_BASE_URL": fake.URL(),
				"VERIFY_WORKFLOW": "sms,voice", "VERIFY_CODE_LENGTH": "8",
			}
			for k, v := range tt.env {
				env[k] = v
			}
			base, _, _, out := start(t, env)
			res, err := http.Post(base+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), `"status":"0"`) {
				t.Fatalf("request: %d %s", res.StatusCode, body)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 || reqs[0].Auth != tt.wantAuth {
				t.Fatalf("upstream requests %+v, want one with %s auth", reqs, tt.wantAuth)
			}
			if !strings.Contains(string(reqs[0].Body), `"channel":"voice"`) || !strings.Contains(string(reqs[0].Body), `"code_length":8`) {
				t.Errorf("the configured workflow did not reach Vonage: %s", reqs[0].Body)
			}
			if !strings.Contains(out.String(), `"verify_api":"v2"`) {
				t.Errorf("start-up log should say which Verify API is in use:\n%s", out)
			}
		})
	}
}

func TestRunRefusesBadV2Keys(t *testing.T) {
	t.Parallel()
	app := v2test.NewApplication(t)
	keyLine := strings.Split(string(app.PrivateKeyPEM), "\n")[1]
	garbled := strings.Replace(string(app.PrivateKeyPEM), keyLine, keyLine[:20], 1)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a key file that does not exist", map[string]string{"VONAGE_PRIVATE_KEY_PATH": filepath.Join(t.TempDir(), "missing.key")}, "VONAGE_PRIVATE_KEY_PATH"},
		{"an inline key that is damaged", map[string]string{"VONAGE_PRIVATE_KEY": garbled}, "VONAGE_PRIVATE_KEY"},
		{"an inline public key", map[string]string{"VONAGE_PRIVATE_KEY": "-----BEGIN PUBLIC KEY-----\n" + keyLine + "\n-----END PUBLIC KEY-----\n"}, "VONAGE_PRIVATE_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_APPLICATION_ID": app.ID}
			for k, v := range tt.env {
				env[k] = v
			}
			err := program(nil).Run(context.Background(), nil, lookupOf(env), io.Discard)
			if err == nil {
				t.Fatal("run started with a bad key")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), keyLine[:20]) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

// TestRunServesTheSandboxAsVerifyV2: the sandbox stands in for v2 too, with v2's code lengths and
// request_ids (UUIDs).
func TestRunServesTheSandboxAsVerifyV2(t *testing.T) {
	t.Parallel()
	base, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "VONAGE_VERIFY_API": "v2", "VERIFY_CODE_LENGTH": "8"})
	res, err := http.Post(base+"/request", "application/json", strings.NewReader(`{"number":"14155550100"}`))
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		RequestID string `json:"request_id"`
	}
	err = json.NewDecoder(res.Body).Decode(&started)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("request: %d %v", res.StatusCode, err)
	}
	if _, err := uuid.Parse(started.RequestID); err != nil || len(started.RequestID) != 36 {
		t.Errorf("request_id %q is not a UUID, as Verify v2 gives", started.RequestID)
	}
	if !regexp.MustCompile(`"code":"[0-9]{8}"`).MatchString(out.String()) {
		t.Errorf("the sandbox must send 8-digit codes:\n%s", out)
	}
}

// TestTestNumbersLiveAsLongAsVonagesCodes: a test number's verification lives as long as a real
// one would with the same settings. On v2 that is Vonage's channel_timeout of 180 s per channel, not
// v1's 300 s (as it was before they shared one rule); the session's expiry is read from Redis. Not
// parallel: it sets REDIS_URL.
func TestTestNumbersLiveAsLongAsVonagesCodes(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"v1", map[string]string{}, 300 * time.Second},
		{"v2 with one channel", map[string]string{"VONAGE_VERIFY_API": "v2"}, 180 * time.Second},
		{"v2 with two channels", map[string]string{"VONAGE_VERIFY_API": "v2", "VERIFY_WORKFLOW": "sms,voice"}, 360 * time.Second},
	}
	redis := redistest.Start(t)
	client := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": redis.URL(), "TEST_NUMBERS": "15555550100:123456"}
			maps.Copy(env, tt.env)
			base, _, _, _ := start(t, env)
			status, body := postJSON(t, base, "/request", `{"number":"15555550100"}`)
			var started struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &started); status != http.StatusOK || err != nil {
				t.Fatalf("start: %d %s", status, body)
			}
			ttl, err := client.PTTL(context.Background(), "verify-proxy:session:"+started.RequestID).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl > tt.want || ttl < tt.want-10*time.Second {
				t.Errorf("the test verification lives %s, want %s", ttl, tt.want)
			}
		})
	}
}

// TestV2TokenAndWithheldRequestID: with Verify v2 the token names the number and Vonage's UUID, and
// a second start learns nothing of the running one, though Vonage's 409 names it.
func TestV2TokenAndWithheldRequestID(t *testing.T) {
	t.Parallel()
	fake := v2test.NewServer(t)
	base, _, _, out := start(t, map[string]string{
		"VONAGE_VERIFY_API": "v2", "VERIFY_BRAND": "Acme", "VONAGE_BASE_URL": fake.URL(),
		"VONAGE_API_KEY": v2test.APIKey, "VONAGE_API_SECRET": v2test.APISecret,
		"VERIFICATION_TOKEN_KEY": pkcs8PEM(t, newEd25519(t)), "VERIFICATION_TOKEN_AUDIENCE": "backend",
	})
	id := startVerification(t, base)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("request_id %q is not Vonage v2's UUID", id)
	}
	status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "concurrent_verification") || strings.Contains(body, id) {
		t.Fatalf("second start: %d %s, want concurrent_verification without %s", status, body, id)
	}
	var tok string
	if err := json.Unmarshal(checkRightCode(t, base, id, fake.CodeFor(id))["verification_token"], &tok); err != nil {
		t.Fatalf("verification_token: %v", err)
	}
	c, err := tokentest.Verify(keySet(t, base), tok, tokentest.Expect{Issuer: "verify-proxy", Audience: "backend"})
	if err != nil {
		t.Fatalf("the v2 token does not verify: %v", err)
	}
	if c.PhoneNumber != "+14155550100" || c.RequestID != id {
		t.Fatalf("claims %+v", c)
	}
	if strings.Contains(out.String(), tok) {
		t.Fatal("the log holds the token")
	}
}
