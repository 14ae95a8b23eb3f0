package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on every Linux
// that Go supports (the kernel's own HZ may differ; this never does).
const clockTicks = 100

// process is a server under load, in a process of its own, so that its CPU time and memory are
// its own and nothing of the load generator's.
type process struct {
	name   string
	cmd    *exec.Cmd
	url    string
	log    *os.File
	exited chan struct{} // closed when the process has ended
}

// startProcess runs binary with env (on top of a clean environment) on a free port, its output in
// logPath, and waits until it answers on healthPath.
func startProcess(ctx context.Context, name, binary, logPath, healthPath string, env []string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PORT=" + port}, env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = os.TempDir() // no .env of the developer's is read
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, url: "http://127.0.0.1:" + port, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(p.url + healthPath)
		if err == nil {
			res.Body.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			log.Close()
			tail, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s stopped while starting: %s", name, bytes.TrimSpace(tail))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("%s did not answer on %s within 30 s (log: %s)", name, healthPath, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpu is the CPU time (user and system) the process has used so far.
func (p *process) cpu() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14 of the line
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// peakRSS is the most resident memory the process has had (VmHWM), in bytes.
func (p *process) peakRSS() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.log.Close()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
