package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// The fraud guard through the real program, as an operator meets it: a pumped prefix is refused,
// its block is listed on the admin listener, and lifting it there lets starts through again.

// fraudEnv is a sandbox program whose fraud guard judges a prefix on 3 settled starts. The starts
// are settled by cancelling them, which counts at once: a start settles by age only once the whole
// minute it was made in is older than FRAUD_SETTLE_AFTER, too slow for a test on the real clock.
func fraudEnv(admin string) map[string]string {
	return map[string]string{
		"VERIFY_BACKEND": "sandbox", "ADMIN_ADDR": admin,
		"FRAUD_MIN_STARTS_PREFIX": "3", "FRAUD_SETTLE_AFTER": "1s",
		"RATE_LIMIT_IP": "1000/1m", // every call of a test comes from one address
	}
}

// adminAnswer is what the admin listener answered.
type adminAnswer struct {
	status      int
	contentType string
	body        string
}

// adminDo sends method to url with no body.
func adminDo(t *testing.T, method, url string) adminAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return adminAnswer{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), body: string(raw)}
}

// listedBlock is one block as GET /fraud/blocks lists it.
type listedBlock struct {
	Scope      string    `json:"scope"`
	Key        string    `json:"key"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Settled    int       `json:"settled"`
	Verified   int       `json:"verified"`
	Conversion float64   `json:"conversion"`
	Repeat     int       `json:"repeat"`
}

// listBlocks reads GET /fraud/blocks from the admin listener at admin, failing t unless it is JSON
// holding exactly the documented members.
func listBlocks(t *testing.T, admin string) []listedBlock {
	t.Helper()
	got := adminDo(t, http.MethodGet, "http://"+admin+"/fraud/blocks")
	if got.status != http.StatusOK || !strings.HasPrefix(got.contentType, "application/json") {
		t.Fatalf("GET /fraud/blocks: %d %q %s", got.status, got.contentType, got.body)
	}
	var raw struct {
		Blocks []map[string]json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(got.body), &raw); err != nil || raw.Blocks == nil {
		t.Fatalf("GET /fraud/blocks is not {\"blocks\":[...]}: %s", got.body)
	}
	want := []string{"conversion", "key", "repeat", "scope", "settled", "since", "until", "verified"}
	blocks := make([]listedBlock, len(raw.Blocks))
	for i, b := range raw.Blocks {
		members := make([]string, 0, len(b))
		for k := range b {
			members = append(members, k)
		}
		slices.Sort(members)
		if !slices.Equal(members, want) {
			t.Fatalf("a listed block has members %v, want %v: %s", members, want, got.body)
		}
		one, _ := json.Marshal(b)
		if err := json.Unmarshal(one, &blocks[i]); err != nil {
			t.Fatalf("a listed block: %v: %s", err, one)
		}
	}
	return blocks
}

// wantAdminError fails t unless got is the API's ErrorBody shape with status and code.
func wantAdminError(t *testing.T, what string, got adminAnswer, status int, code string) {
	t.Helper()
	var e struct {
		Error     string `json:"error"`
		ErrorText string `json:"error_text"`
	}
	if got.status != status || !strings.HasPrefix(got.contentType, "application/json") ||
		json.Unmarshal([]byte(got.body), &e) != nil || e.Error != code || e.ErrorText == "" {
		t.Fatalf("%s: %d %q %s, want %d JSON %s", what, got.status, got.contentType, got.body, status, code)
	}
}

// sandboxStart starts a verification of number at base and answers the HTTP status and its
// request_id (empty when refused) and error code.
func sandboxStart(t *testing.T, base, number string) (status int, requestID, code string) {
	t.Helper()
	status, body := postJSON(t, base, "/request", fmt.Sprintf(`{"number":%q}`, number))
	var got struct {
		RequestID string `json:"request_id"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("start %s: %d %s", number, status, body)
	}
	return status, got.RequestID, got.Error
}

// pumpUntilPaused starts and cancels verifications to fresh numbers of +1 415 555 through the
// programs at bases in turn (what one learns, all must), as a pump whose codes are never entered,
// until a start is refused;
// it fails t unless the refusal is the fraud guard's and comes right after the third settled start.
func pumpUntilPaused(t *testing.T, bases ...string) {
	t.Helper()
	for i := range 10 {
		base := bases[i%len(bases)]
		status, id, code := sandboxStart(t, base, fmt.Sprintf("1415555%04d", i))
		if status == http.StatusForbidden {
			if code != "verification_blocked" || i != 3 {
				t.Fatalf("start %d refused with %d %s, want verification_blocked after 3 settled starts", i+1, status, code)
			}
			return
		}
		if status != http.StatusOK {
			t.Fatalf("start %d: %d %s", i+1, status, code)
		}
		// The sandbox keeps its verifications in the program that started them.
		if status, body := postJSON(t, base, "/cancel", fmt.Sprintf(`{"request_id":%q}`, id)); status != http.StatusOK {
			t.Fatalf("cancel %d: %d %s", i+1, status, body)
		}
	}
	t.Fatal("the pumped prefix was never paused")
}

// TestFraudBlocksAreListedAndLiftedOnTheAdminListener: a pumped prefix is paused; an operator
// sees the block and its figures on the admin listener, and lifts it there; the public port serves
// none of it.
func TestFraudBlocksAreListedAndLiftedOnTheAdminListener(t *testing.T) {
	t.Parallel()
	admin := "127.0.0.1:" + porttest.Free(t)
	base, _, _, out := start(t, fraudEnv(admin))
	if got := listBlocks(t, admin); len(got) != 0 {
		t.Fatalf("blocks before any traffic: %+v", got)
	}
	before := time.Now()
	pumpUntilPaused(t, base)
	if status, _, code := sandboxStart(t, base, "14155559000"); status != http.StatusForbidden || code != "verification_blocked" {
		t.Fatalf("a start to the paused prefix: %d %s", status, code)
	}

	blocks := listBlocks(t, admin)
	if len(blocks) != 1 {
		t.Fatalf("listed %+v, want the one block", blocks)
	}
	b := blocks[0]
	if b.Scope != "prefix" || b.Key != "+1415555" || b.Settled != 3 || b.Verified != 0 || b.Conversion != 0 || b.Repeat != 1 ||
		b.Since.Before(before.Add(-time.Second)) || b.Since.After(time.Now()) || b.Until.Sub(b.Since) != time.Hour {
		t.Fatalf("listed %+v, want prefix +1415555 paused for FRAUD_BLOCK_FOR's 1h from now, 3 settled, none verified", b)
	}
	if strings.Contains(out.String(), "14155550001") {
		t.Errorf("the log holds a whole number:\n%s", out)
	}

	for _, path := range []string{"/fraud/blocks", "/fraud/blocks/prefix/+1415555"} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			if got := adminDo(t, method, base+path); got.status != http.StatusNotFound {
				t.Errorf("the API port answers %s %s: %d %s", method, path, got.status, got.body)
			}
		}
	}
	wantAdminError(t, "DELETE of an unknown scope", adminDo(t, http.MethodDelete, "http://"+admin+"/fraud/blocks/area/+1415555"),
		http.StatusNotFound, "unknown_route")
	wantAdminError(t, "DELETE of a country with no block", adminDo(t, http.MethodDelete, "http://"+admin+"/fraud/blocks/country/US"),
		http.StatusNotFound, "not_found")

	if got := adminDo(t, http.MethodDelete, "http://"+admin+"/fraud/blocks/prefix/+1415555"); got.status != http.StatusNoContent || got.body != "" {
		t.Fatalf("DELETE of the block: %d %s, want 204", got.status, got.body)
	}
	wantAdminError(t, "a second DELETE", adminDo(t, http.MethodDelete, "http://"+admin+"/fraud/blocks/prefix/+1415555"),
		http.StatusNotFound, "not_found")
	if !strings.Contains(out.String(), "fraud guard: verifications resumed by an operator") {
		t.Errorf("the lift is not logged:\n%s", out)
	}
	if got := listBlocks(t, admin); len(got) != 0 {
		t.Fatalf("blocks after the lift: %+v", got)
	}

	for i := range 2 {
		if status, _, code := sandboxStart(t, base, fmt.Sprintf("141555590%02d", i)); status != http.StatusOK {
			t.Errorf("start %d to the prefix after its block was lifted: %d %s, want 200 (blocks now: %+v)",
				i+1, status, code, listBlocks(t, admin))
		}
	}
}

// TestFraudBlocksHoldAcrossProgramsSharingRedis: two programs on one Redis learn together; a
// block made through one is refused by the other, listed by both, and lifted for both through
// either admin listener. Not parallel: it sets REDIS_URL.
func TestFraudBlocksHoldAcrossProgramsSharingRedis(t *testing.T) {
	redis := redistest.Start(t)
	adminA, adminB := "127.0.0.1:"+porttest.Free(t), "127.0.0.1:"+porttest.Free(t)
	envA, envB := fraudEnv(adminA), fraudEnv(adminB)
	envA["REDIS_URL"], envB["REDIS_URL"] = redis.URL(), redis.URL()
	a, _, _, _ := start(t, envA)
	b, _, _, _ := start(t, envB)

	pumpUntilPaused(t, a, b)
	for name, base := range map[string]string{"a": a, "b": b} {
		if status, _, code := sandboxStart(t, base, "14155559000"); status != http.StatusForbidden || code != "verification_blocked" {
			t.Fatalf("program %s let a start to the paused prefix through: %d %s", name, status, code)
		}
	}
	for name, admin := range map[string]string{"a": adminA, "b": adminB} {
		if got := listBlocks(t, admin); len(got) != 1 || got[0].Key != "+1415555" {
			t.Fatalf("program %s lists %+v, want the prefix's block", name, got)
		}
	}

	// The key may name the prefix with or without its '+'.
	if got := adminDo(t, http.MethodDelete, "http://"+adminB+"/fraud/blocks/prefix/1415555"); got.status != http.StatusNoContent {
		t.Fatalf("DELETE through b: %d %s", got.status, got.body)
	}
	wantAdminError(t, "DELETE through a after b lifted it", adminDo(t, http.MethodDelete, "http://"+adminA+"/fraud/blocks/prefix/+1415555"),
		http.StatusNotFound, "not_found")
	for name, admin := range map[string]string{"a": adminA, "b": adminB} {
		if got := listBlocks(t, admin); len(got) != 0 {
			t.Fatalf("program %s still lists %+v", name, got)
		}
	}
	for i, base := range []string{a, b} {
		if status, _, code := sandboxStart(t, base, fmt.Sprintf("141555590%02d", i)); status != http.StatusOK {
			t.Errorf("start through program %d after the lift: %d %s, want 200", i+1, status, code)
		}
	}
}

// TestRunRefusesBadFraudSettings: an operator's mistake in FRAUD_* stops the program at start-up,
// naming the variable, instead of running a guard that pauses nothing or everything.
func TestRunRefusesBadFraudSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, variable, value string
	}{
		{"an unknown mode", "FRAUD_GUARD", "sometimes"},
		{"a conversion over 100%", "FRAUD_MIN_CONVERSION", "20"},
		{"no starts to judge on", "FRAUD_MIN_STARTS_PREFIX", "0"},
		{"a settle time of 0", "FRAUD_SETTLE_AFTER", "0s"},
		{"a settle time under the documented 1s", "FRAUD_SETTLE_AFTER", "500ms"},
		{"a block over a day", "FRAUD_BLOCK_FOR", "48h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VERIFY_BACKEND": "sandbox", "PORT": porttest.Free(t), "ADMIN_ADDR": "off", tt.variable: tt.value}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := program(nil).Run(ctx, nil, lookupOf(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("%s=%s: run answered %v, want an error naming %s", tt.variable, tt.value, err, tt.variable)
			}
		})
	}
}
