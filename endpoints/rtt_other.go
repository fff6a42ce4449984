//go:build !linux

package endpoints

import (
	"net"
	"time"
)

// tcpRTTSupported is false off Linux: no TCP_INFO, so no samples and no
// ConnState hook (Config.ObserveRTT is never called).
const tcpRTTSupported = false

func tcpRTT(*net.TCPConn) (time.Duration, bool) { return 0, false }
