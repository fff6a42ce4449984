package endpoints

import (
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// skfNetOff makes a classic BPF load relative to the network header
// (linux/filter.h SKF_NET_OFF), whatever layer the socket sees.
const skfNetOff = -0x100000

// Source address offsets in the IP headers (RFC 791, RFC 8200).
const (
	ipv4SrcOff = 12
	ipv6SrcOff = 8
)

// sourceFilter returns a ListenConfig.Control hook that attaches a socket
// filter admitting only packets whose source lies in allowed. On a
// listening TCP socket the kernel runs the filter on the SYN before a
// connection exists, so a client outside allowed cannot complete a
// handshake at all: its SYN is dropped, not answered with a reset. Only
// prefixes of the socket's family are used; with none, nothing passes.
func sourceFilter(allowed []netip.Prefix) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("source filter: address %q: %w", address, err)
		}
		prog, err := sourceProgram(allowed, ap.Addr().Unmap().Is4())
		if err != nil {
			return err
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("source filter: attach: %w", serr)
		}
		return nil
	}
}

// sourceProgram assembles the filter: one block per prefix comparing the
// source address word by word (masked in the last, partial word); a block
// that matches to its end keeps the packet, a mismatch skips to the next
// block; after the last block the packet is dropped.
func sourceProgram(allowed []netip.Prefix, v4 bool) ([]unix.SockFilter, error) {
	var insns []bpf.Instruction
	for _, p := range allowed {
		p = p.Masked()
		if p.Addr().Is4() != v4 {
			continue
		}
		addr := p.Addr().AsSlice()
		off := ipv6SrcOff
		if v4 {
			off = ipv4SrcOff
		}
		var block []bpf.Instruction
		for w := 0; w*32 < p.Bits(); w++ {
			bits := min(32, p.Bits()-w*32)
			mask := ^uint32(0) << (32 - bits)
			want := uint32(addr[4*w])<<24 | uint32(addr[4*w+1])<<16 | uint32(addr[4*w+2])<<8 | uint32(addr[4*w+3])
			block = append(block, bpf.LoadAbsolute{Off: uint32(int32(skfNetOff + off + 4*w)), Size: 4})
			if bits < 32 {
				block = append(block, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
			}
			block = append(block, bpf.JumpIf{Cond: bpf.JumpEqual, Val: want & mask})
		}
		block = append(block, bpf.RetConstant{Val: 0xffff_ffff})
		// Every mismatch skips to the instruction after this block's
		// return.
		for i, in := range block {
			if j, ok := in.(bpf.JumpIf); ok {
				j.SkipFalse = uint8(len(block) - 1 - i)
				block[i] = j
			}
		}
		insns = append(insns, block...)
	}
	insns = append(insns, bpf.RetConstant{Val: 0})
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("source filter: assemble: %w", err)
	}
	if len(raw) > 4096 { // BPF_MAXINSNS
		return nil, fmt.Errorf("source filter: %d prefixes need %d instructions, more than the kernel's 4096", len(allowed), len(raw))
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}
