package cache

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
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
		"/edge":  jsonBody(serverCountsBelow - 1),
		"/large": jsonBody(8 << 10),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := &origin{fn: text(bodies[r.URL.Path], "Content-Type", "application/json")}
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
			for _, method := range []string{"GET", "GET", "HEAD"} { // fill, hit, hit
				req, _ := http.NewRequest(method, srv.url+path, nil)
				req.Header.Set("Accept-Encoding", "identity") // no transparent gzip
				res, err := srv.client.Do(req)
				if err != nil {
					t.Fatalf("HTTP/%d %s %s: %v", srv.proto, method, path, err)
				}
				got, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.ProtoMajor != srv.proto {
					t.Fatalf("%s %s answered over HTTP/%d, want %d", method, path, res.ProtoMajor, srv.proto)
				}
				if res.Header.Get(HeaderXCache) == "Hit from edge" {
					if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
						t.Errorf("HTTP/%d %s %s hit: Content-Length %q, want %d", srv.proto, method, path, cl, len(body))
					}
				} else if method == "HEAD" || res.Header.Get(HeaderXCache) != "Miss from edge" {
					t.Errorf("HTTP/%d %s %s: X-Cache %q", srv.proto, method, path, res.Header.Get(HeaderXCache))
				}
				if method == "GET" && string(got) != body {
					t.Errorf("HTTP/%d GET %s: %d bytes, want %d", srv.proto, path, len(got), len(body))
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
