package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-gw/portico/simulations/harness"
)

// responderFlag is the hidden mode in which the driver is the minimal
// responder: `dnsbench -serve-responder ADDR`, as the first and only
// argument pair. The driver re-executes itself so that the responder is a
// process of its own, like Portico and CoreDNS, rather than sharing the
// driver's runtime.
const responderFlag = "serve-responder"

// responderAddr is the address the minimal responder answers every A
// question with.
var responderAddr = net.IPv4(127, 0, 0, 1)

// fixedA is the minimal miekg/dns responder: every A question gets one
// fixed A record, anything else an empty NOERROR. No zone, no lookup: the
// floor of what answering a query costs in Go with miekg/dns.
type fixedA struct{}

func (fixedA) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   responderAddr,
		}}
	}
	w.WriteMsg(m)
}

// serveResponder answers on addr over UDP and TCP until ctx ends.
func serveResponder(ctx context.Context, addr string, stderr io.Writer) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen udp: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen tcp: %w", err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: fixedA{}},
		{Listener: ln, Handler: fixedA{}, MaxTCPQueries: -1}, // miekg/dns closes a connection after 128 queries by default
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.ActivateAndServe() }()
	}
	fmt.Fprintf(stderr, "minimal responder on %s (udp, tcp)\n", addr)
	var serveErr error
	returned := 0
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		returned++
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range servers {
		s.ShutdownContext(sctx)
	}
	for ; returned < len(servers); returned++ {
		<-errc
	}
	if serveErr != nil {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// startResponder re-executes the driver as the minimal responder on addr
// and returns once it answers over TCP. Its output goes to
// dir/logs/minimal.log.
func startResponder(ctx context.Context, procs *harness.Group, dir, addr string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	logPath := filepath.Join(dir, "logs", "minimal.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(exe, "-"+responderFlag, addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := procs.Start("minimal", cmd)
	if err != nil {
		return err
	}
	err = harness.Retry(ctx, 15*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("the minimal responder exited (%v): %s", p.Err(), harness.ReadTail(logPath)))
		}
		r, err := ask(ctx, addr, "probe."+zone, dns.TypeA)
		if err != nil {
			return err
		}
		if len(r.Answer) != 1 {
			return harness.Permanent(errors.New("the minimal responder answered no A record"))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wait for the minimal responder: %w", err)
	}
	return nil
}
