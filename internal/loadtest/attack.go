package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario is one call under load, as an app makes it.
type scenario struct {
	slug       string // its name on the command line: check or request
	name       string
	path       string
	wantStatus int           // what verify-proxy answers every call with; anything else is an error
	body       func() []byte // safe for concurrent use
}

// scenarios are the two calls the benchmark measures: a wrong code (every /check Vonage refuses)
// and a start to a new, valid number each time (every /request that costs money).
func scenarios() []scenario {
	var checks, starts atomic.Uint64
	usNumber := usNumbers()
	return []scenario{
		{
			slug: "check", name: "/check (wrong code)", path: "/check", wantStatus: http.StatusBadRequest,
			body: func() []byte {
				// A pool of request_ids, so that the per-request_id limit and hold do their work
				// without two callers ever waiting on one id.
				return fmt.Appendf(nil, `{"request_id":"%032x","code":"0000"}`, checks.Add(1)%100_000)
			},
		},
		{
			slug: "request", name: "/request (valid number)", path: "/request", wantStatus: http.StatusOK,
			body: func() []byte { return fmt.Appendf(nil, `{"number":"%s"}`, usNumber(starts.Add(1))) },
		},
	}
}

// usNumbers returns the n-th of millions of distinct valid US numbers in San Francisco's 415 area:
// every line of the exchanges 200 to 999 but the N11 codes and 555.
func usNumbers() func(n uint64) string {
	var exchanges []int
	for e := 200; e <= 999; e++ {
		if e%100 != 11 && e != 555 {
			exchanges = append(exchanges, e)
		}
	}
	return func(n uint64) string {
		return fmt.Sprintf("1415%03d%04d", exchanges[(n/10_000)%uint64(len(exchanges))], n%10_000)
	}
}

// load is the shape of the load: how many callers, for how long a round.
type load struct {
	connections int
	round       time.Duration
}

// sample is what one round against one target measured.
type sample struct {
	requests   uint64
	unexpected uint64 // answers other than the scenario's status (errors included)
	elapsed    time.Duration
	cpu        time.Duration
	newConns   int64
	latencies  []time.Duration
}

// attack drives target with sc for one round, as fast as l's callers go; every answer should have
// status want.
func attack(target *process, up *upstream, sc scenario, want int, l load) (sample, error) {
	attacker := vegeta.NewAttacker(
		vegeta.Workers(uint64(l.connections)), vegeta.MaxWorkers(uint64(l.connections)),
		vegeta.Connections(l.connections), vegeta.MaxConnections(l.connections),
		vegeta.KeepAlive(true), vegeta.Timeout(15*time.Second),
	)
	url := target.url + sc.path
	header := http.Header{"Content-Type": {"application/json"}}
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header, t.Body = http.MethodPost, url, header, sc.body()
		return nil
	}
	cpuBefore, err := target.cpu()
	if err != nil {
		return sample{}, err
	}
	connsBefore := up.conns.Load()
	began := time.Now()
	var s sample
	for res := range attacker.Attack(targeter, vegeta.Rate{}, l.round, sc.name) {
		s.requests++
		// vegeta calls every 4xx an error; a transport error has no code at all.
		if res.Code != uint16(want) {
			s.unexpected++
		}
		s.latencies = append(s.latencies, res.Latency)
	}
	s.elapsed = time.Since(began)
	s.newConns = up.conns.Load() - connsBefore
	cpuAfter, err := target.cpu()
	s.cpu = cpuAfter - cpuBefore
	return s, err
}
