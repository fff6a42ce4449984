package cache

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestHitContentLengthOverTheWire serves hits through real servers of
// every protocol an endpoint speaks: a hit under serverCountsBelow leaves
// Content-Length to the server, which must still send it; larger bodies
// and HEAD carry the stored one.
func TestHitContentLengthOverTheWire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	p := &Policy{TTL: time.Minute}
	bodies := map[string]string{
		"/small": jsonBody(100),
		"/under": strings.Repeat("u", serverCountsBelow-1),
		"/at":    strings.Repeat("a", serverCountsBelow),
		"/large": jsonBody(8 << 10),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// "/h{1,2,3}/{body}": each server has entries of its own.
		o := &origin{fn: text(bodies[r.URL.Path[3:]], "Content-Type", "application/json")}
		e.s.Serve(w, r, p, r.URL.Path, o.serve)
	})

	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	h3 := startHTTP3(t, h, h2.TLS.Certificates)
	h3client := &http.Client{Transport: &http3.Transport{TLSClientConfig: h2.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}}
	t.Cleanup(func() { h3client.Transport.(*http3.Transport).Close() })

	servers := []struct {
		proto  int
		url    string
		client *http.Client
	}{
		{1, h1.URL, h1.Client()},
		{2, h2.URL, h2.Client()},
		{3, "https://" + h3, h3client},
	}
	for _, srv := range servers {
		for path, body := range bodies {
			// The first GET fills the entry; then hits as stored, with
			// gzip accepted (bodies from DefaultCompressMinBytes are
			// stored compressed too) and HEAD.
			for i, method := range []string{"GET", "GET", "GET", "HEAD"} {
				req, _ := http.NewRequest(method, fmt.Sprintf("%s/h%d%s", srv.url, srv.proto, path), nil)
				coding := "identity" // no transparent gzip from the client
				if i == 2 {
					coding = "gzip"
				}
				req.Header.Set("Accept-Encoding", coding)
				res, err := srv.client.Do(req)
				if err != nil {
					t.Fatalf("HTTP/%d %s %s: %v", srv.proto, method, path, err)
				}
				got, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.ProtoMajor != srv.proto {
					t.Fatalf("%s %s answered over HTTP/%d, want %d", method, path, res.ProtoMajor, srv.proto)
				}
				name := fmt.Sprintf("HTTP/%d %s %s (Accept-Encoding %s)", srv.proto, method, path, coding)
				wantXC := "Hit from edge"
				if i == 0 {
					wantXC = "Miss from edge"
				}
				if xc := res.Header.Get(HeaderXCache); xc != wantXC {
					t.Fatalf("%s: X-Cache %q, want %q", name, xc, wantXC)
				}
				want := body
				if i == 2 && len(body) >= DefaultCompressMinBytes {
					// Stored compressed too: served as stored.
					if res.Header.Get("Content-Encoding") != "gzip" || len(got) >= len(body) {
						t.Fatalf("%s: Content-Encoding %q, %d bytes; want gzip, fewer than %d", name, res.Header.Get("Content-Encoding"), len(got), len(body))
					}
					want = string(got) // what Content-Length must count
				}
				if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
					t.Errorf("%s: Content-Length %q, want %d", name, cl, len(want))
				}
				if method == "GET" && string(got) != want {
					t.Errorf("%s: %d bytes, want %d", name, len(got), len(want))
				}
			}
		}
	}
}

// startHTTP3 serves h over HTTP/3 on a loopback UDP port and returns its
// address.
func startHTTP3(t *testing.T, h http.Handler, certs []tls.Certificate) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: certs})}
	go srv.Serve(pc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		pc.Close()
	})
	return pc.LocalAddr().String()
}
