//go:build !linux

package dns

import (
	"errors"
	"net"
)

// newPacketBatch: batched datagram I/O (recvmmsg, sendmmsg) is Linux's;
// elsewhere UDP workers read and write one datagram at a time.
func newPacketBatch(*net.UDPConn, int, int) (packetBatch, error) {
	return nil, errors.ErrUnsupported
}
