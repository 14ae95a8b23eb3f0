package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/porttest"
	"github.com/verify-proxy/verify-proxy/internal/state/redisstore/redistest"
)

// These tests start the program with a REDIS_URL that is wrong in a way only go-redis or Redis
// itself can tell. None runs in parallel: each sets REDIS_URL (see start).

// runToError runs the program on env, which must fail to start, and answers its error.
func runToError(t *testing.T, env map[string]string) error {
	t.Helper()
	env["VERIFY_BACKEND"], env["PORT"], env["ADMIN_ADDR"] = "sandbox", porttest.Free(t), "off"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := program(nil).Run(ctx, nil, lookupOf(env), io.Discard)
	if err == nil {
		t.Fatal("the program started and stopped without an error")
	}
	return err
}

// TestRedisPoolOutOfRangeFailsAtStart: a pool_size go-redis would panic on (makechan: size out of
// range) stops the start with a message naming the option and its range, in every mode, before
// any Redis is dialled.
func TestRedisPoolOutOfRangeFailsAtStart(t *testing.T) {
	for _, tt := range []struct {
		mode string
		env  map[string]string
	}{
		{"single", map[string]string{"REDIS_URL": "redis://u:secretpw@127.0.0.1:6379/0?pool_size=-5"}},
		{"cluster", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://u:secretpw@127.0.0.1:7000?addr=127.0.0.1:7001&pool_size=-5"}},
		{"sentinel", map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "mymaster",
			"REDIS_URL": "redis://u:secretpw@127.0.0.1:26379/0?pool_size=-5"}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			err := runToError(t, tt.env)
			if want := "REDIS_URL: pool_size must be 0 to 10000, got -5"; !strings.Contains(err.Error(), want) {
				t.Errorf("run: %v, want %q", err, want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
}

// TestRedisUnknownOptionIsNamed: an option go-redis does not read is named, and the URL is not
// said to be of the wrong kind; a password given as password= is told where it goes.
func TestRedisUnknownOptionIsNamed(t *testing.T) {
	for _, tt := range []struct{ query, want string }{
		{"foo=bar", "REDIS_URL: unknown option foo= in the query"},
		{"password=secretpw", "REDIS_URL: password= is not an option: the user and password go before the host"},
	} {
		err := runToError(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0?" + tt.query})
		if got := err.Error(); !strings.Contains(got, tt.want) || strings.Contains(got, "not a redis://") ||
			strings.Contains(got, "secretpw") {
			t.Errorf("%s: %v, want %q", tt.query, err, tt.want)
		}
	}
}

// TestRedisThatRefusesTheURLFailsAtStart: a Redis that answers, but refuses the URL's password or
// database, stops the start at once with what it refused, rather than a start that answers 503 to
// every /request for ever.
func TestRedisThatRefusesTheURLFailsAtStart(t *testing.T) {
	redis := redistest.Start(t)
	if _, err := redistest.Do(redis.Addr(), "CONFIG", "SET", "requirepass", "secretpw"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, url, want string }{
		{"a wrong password", "redis://:wrongpw@" + redis.Addr() + "/0",
			"REDIS_URL: redis refused the user or password in the URL (WRONGPASS)"},
		{"no password", "redis://" + redis.Addr() + "/0",
			"REDIS_URL: redis asks for a password the URL does not give (NOAUTH)"},
		{"a database out of range", "redis://:secretpw@" + redis.Addr() + "/99",
			"REDIS_URL: redis has no database 99 (ERR DB index is out of range): the server's databases setting (16 by default) bounds it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			err := runToError(t, map[string]string{"REDIS_URL": tt.url})
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run: %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), "wrongpw") {
				t.Errorf("the error repeats the password: %v", err)
			}
			if took := time.Since(began); took > 3*time.Second {
				t.Errorf("the mistake took %s to find", took)
			}
		})
	}
}

// TestUnreachableRedisDoesNotStopTheStart: a Redis that does not answer at all is an outage, not a
// mistake: the replica starts, says so once, and refuses /request until Redis answers.
func TestUnreachableRedisDoesNotStopTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	base, _, _, out := start(t, map[string]string{"VERIFY_BACKEND": "sandbox", "REDIS_URL": "redis://:secretpw@" + closed + "/0"})
	if status, body := postJSON(t, base, "/request", `{"number":"14155550100"}`); status != http.StatusServiceUnavailable {
		t.Errorf("/request with Redis unreachable: %d %s, want 503", status, body)
	}
	if !strings.Contains(out.String(), "redis does not answer yet") || strings.Contains(out.String(), "secretpw") {
		t.Errorf("the start-up log should say Redis does not answer, without the password:\n%s", out)
	}
}
