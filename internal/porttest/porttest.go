// Package porttest hands tests loopback ports that nothing listens on.
package porttest

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// handedOut are the ports Free has given this process's tests.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// Free asks the kernel for a loopback port nobody uses. The kernel may offer a port again as soon as
// its listener is closed, before the test that asked first has bound it; parallel tests would then
// start two servers on one port, and one would take the other's answers for its own. So a port is
// handed out once per process, and the ports passed over stay bound until a new one is found.
func Free(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}
