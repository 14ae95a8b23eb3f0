//go:build !unix

package app

import "net"

// unread cannot peek here: connLimit relies on a connection's quiet time alone.
func unread(net.Conn) bool { return false }
