//go:build linux

package endpoints

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

const tcpRTTSupported = true

// tcpRTT reads the kernel's smoothed round-trip time of c (TCP_INFO
// tcpi_rtt, in microseconds; see tcp(7)). The socket stays owned by c;
// Control only borrows the descriptor.
func tcpRTT(c *net.TCPConn) (time.Duration, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil || info == nil {
		return 0, false
	}
	return time.Duration(info.Rtt) * time.Microsecond, info.Rtt > 0
}
