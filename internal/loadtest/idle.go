package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

// idleLoad is the shape of the idle scenario: many clients that each make one call and then keep
// their connection open, idle, as pooling apps and proxies do, while new clients keep arriving.
type idleLoad struct {
	conns   int           // connections opened, each left idle after its one call
	dialers int           // opened this many at a time
	hold    time.Duration // how long all are held once opened, new clients arriving meanwhile
	probe   time.Duration // a new client every probe, from the first connection to the end of the hold
}

// idleFigures are what the idle scenario measured of verify-proxy.
type idleFigures struct {
	answered, unexpected int   // the held connections' one call: answered as expected, or not (errors included)
	stillOpen            int   // held connections the server had not closed by the end
	baseRSS              int64 // before the first connection
	peakRSS, endRSS      int64 // VmHWM over the whole run; VmRSS at the end
	opening, held        []time.Duration
	probeErrors          int
	metrics              map[string]float64 // the server's Go runtime figures at the end, from /metrics
	settings             string             // the connection limits as the server was started
	fileLimit            string             // the server's own open-file limit (soft), from /proc
}

// runIdle starts verify-proxy against a fake upstream, opens l.conns connections to it, each making
// one wrong-code /check and then staying open, idle, and meanwhile has a new client make the same
// call every l.probe on a connection of its own.
func (b *bench) runIdle(ctx context.Context, l idleLoad) (idleFigures, error) {
	if err := raiseFileLimit(l.conns + 1000); err != nil {
		return idleFigures{}, err
	}
	up, err := startUpstream()
	if err != nil {
		return idleFigures{}, err
	}
	defer up.close()
	adminPort, err := freePort()
	if err != nil {
		return idleFigures{}, err
	}
	env := append(serverEnv(up.url(), adminPort), b.extraEnv...)
	server, err := startProcess(ctx, "verify-proxy", b.server, filepath.Join(b.work, "idle-server.log"), "/healthz", env)
	if err != nil {
		return idleFigures{}, err
	}
	defer server.stop()
	f := idleFigures{settings: setting(env, "MAX_CONNECTIONS") + ", " + setting(env, "MAX_IDLE_CONNECTIONS")}
	f.fileLimit = server.fileLimit()
	if f.baseRSS, err = server.rss(); err != nil {
		return f, err
	}
	sc := scenarios()[0] // the wrong code on /check
	addr := strings.TrimPrefix(server.url, "http://")

	stopProbes := make(chan struct{})
	opened := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		f.opening, f.held, f.probeErrors = probeNewClients(server.url+sc.path, sc, l.probe, opened, stopProbes)
	}()

	fmt.Fprintf(b.progress, "loadtest: opening %d idle connections, %d at a time\n", l.conns, l.dialers)
	conns := make([]net.Conn, l.conns)
	var next atomic.Int64
	var answered, unexpected atomic.Int64
	var wg sync.WaitGroup
	for range l.dialers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < l.conns; i = int(next.Add(1) - 1) {
				c, err := openIdle(addr, sc)
				if err != nil {
					unexpected.Add(1)
					continue
				}
				answered.Add(1)
				conns[i] = c
			}
		})
	}
	wg.Wait()
	close(opened)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	f.answered, f.unexpected = int(answered.Load()), int(unexpected.Load())
	fmt.Fprintf(b.progress, "loadtest: holding them for %s\n", l.hold)
	select {
	case <-time.After(l.hold):
	case <-ctx.Done():
	}
	close(stopProbes)
	<-probed
	if err := ctx.Err(); err != nil {
		return f, err
	}
	f.stillOpen = countOpen(conns)
	f.metrics, err = runtimeMetrics("http://127.0.0.1:" + adminPort + "/metrics")
	if err != nil {
		return f, err
	}
	if f.peakRSS, err = server.peakRSS(); err != nil {
		return f, err
	}
	f.endRSS, err = server.rss()
	return f, err
}

// setting is "NAME=value" as env sets it, or "NAME default" when it does not.
func setting(env []string, name string) string {
	for _, kv := range slices.Backward(env) {
		if strings.HasPrefix(kv, name+"=") {
			return kv
		}
	}
	return name + " default"
}

// openIdle opens a connection to addr, makes sc's call on it, reads the answer and hands the
// connection back open.
func openIdle(addr string, sc scenario) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 15*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	body := sc.body()
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		sc.path, addr, len(body))
	if _, err := c.Write(append([]byte(req), body...)); err != nil {
		_ = c.Close()
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode != sc.wantStatus {
			err = fmt.Errorf("status %d", res.StatusCode)
		}
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// probeNewClients has a new client (a connection of its own, closed after) make sc's call every
// interval until stop, and answers how long each took, those before opened and those after, and how
// many failed (an error, or an answer other than sc's).
func probeNewClients(url string, sc scenario, interval time.Duration,
	opened, stop <-chan struct{}) (before, after []time.Duration, failed int) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		began := time.Now()
		res, err := client.Post(url, "application/json", bytes.NewReader(sc.body()))
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != sc.wantStatus {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		took := time.Since(began)
		if err != nil {
			failed++
		}
		select {
		case <-opened:
			after = append(after, took)
		default:
			before = append(before, took)
		}
		select {
		case <-stop:
			return before, after, failed
		case <-tick.C:
		}
	}
}

// countOpen answers how many of conns the server still holds: a read that times out finds the
// connection open; one the server closed reads EOF (or a reset) at once.
func countOpen(conns []net.Conn) int {
	open := 0
	buf := make([]byte, 1)
	for _, c := range conns {
		if c == nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			open++
		}
	}
	return open
}

// raiseFileLimit raises this process's soft limit on open files to its hard limit (Go does so at
// start-up too, since 1.19, but says nothing when the hard limit is too low), and fails when that
// is below need. verify-proxy, a Go program, raises its own soft limit the same way.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open-file limit to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("the idle scenario needs %d open files and the hard limit is %d: "+
			"raise it (ulimit -Hn, or LimitNOFILE) or pass a smaller -idle", need, lim.Cur)
	}
	return nil
}

// rss is the process's resident memory now (VmRSS), in bytes.
func (p *process) rss() (int64, error) { return p.statusKB("VmRSS:") }

// fileLimit is the process's soft limit on open files, as /proc/<pid>/limits says it.
func (p *process) fileLimit() string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				return fields[0]
			}
		}
	}
	return "?"
}

// runtimeNames are the Go runtime figures the idle scenario reports, as client_golang names them.
var runtimeNames = []string{"go_goroutines", "go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes",
	"go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes"}

// runtimeMetrics reads runtimeNames from a Prometheus text page.
func runtimeMetrics(url string) (map[string]float64, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && slices.Contains(runtimeNames, name) {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				out[name] = v
			}
		}
	}
	return out, sc.Err()
}

func printIdle(w io.Writer, f idleFigures, l idleLoad) {
	fmt.Fprintf(w, "verify-proxy holding idle keep-alive connections (%s; its open-file limit %s):\n"+
		"%d connections opened, %d at a time, each left idle after one /check (wrong code), then held %s;\n"+
		"meanwhile a new client makes the same call every %s on a connection of its own\n\n",
		f.settings, f.fileLimit, l.conns, l.dialers, l.hold, l.probe)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	row := func(measure, value string) { fmt.Fprintf(tw, "%s\t%s\t\n", measure, value) }
	row("measure", "verify-proxy")
	row("held connections' call (unexpected)", fmt.Sprintf("%d (%d)", f.answered+f.unexpected, f.unexpected))
	row("held connections still open at the end", strconv.Itoa(f.stillOpen))
	row("RSS before", mb(f.baseRSS))
	row("peak RSS", mb(f.peakRSS))
	row("RSS at the end", mb(f.endRSS))
	row("goroutines at the end", fmt.Sprintf("%.0f", f.metrics["go_goroutines"]))
	row("stack in use at the end", mb(int64(f.metrics["go_memstats_stack_inuse_bytes"])))
	row("heap in use at the end", mb(int64(f.metrics["go_memstats_heap_inuse_bytes"])))
	row("heap idle, not released", mb(int64(f.metrics["go_memstats_heap_idle_bytes"]-f.metrics["go_memstats_heap_released_bytes"])))
	row("new client while opening: p50, max (n)", latencies(f.opening))
	row("new client while held: p50, max (n)", latencies(f.held))
	row("new clients failed", strconv.Itoa(f.probeErrors))
	_ = tw.Flush()
	fmt.Fprintln(w, "\nRSS is the process's own (VmRSS, and VmHWM for the peak); the runtime figures are from its /metrics.")
}

func latencies(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return fmt.Sprintf("%s, %s (%d)", ms(percentile(d, 0.5)), ms(d[len(d)-1]), len(d))
}

// statusKB reads a field of /proc/<pid>/status given in kB, in bytes.
func (p *process) statusKB(field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
