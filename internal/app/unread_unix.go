//go:build unix

package app

import (
	"net"
	"syscall"
)

// unread tells whether bytes have come on c that nobody has read yet: a peek, which neither waits
// nor takes them.
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	some := false
	// Control, not Read: Read would wait for the server's own read of c to end. Go's sockets do not
	// block, so the peek answers at once.
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		some = err == nil && n > 0
	})
	return some
}
