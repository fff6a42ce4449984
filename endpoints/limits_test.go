package endpoints

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/endpoints/limit"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const elevenMB = 11 * 1024 * 1024
	tests := []struct {
		name    string
		body    func() io.Reader
		status  int
		reached bool // whether the backend is contacted at all
	}{
		// A declared length over the limit is refused before the backend.
		{"content-length", func() io.Reader { return bytes.NewReader(make([]byte, elevenMB)) }, 413, false},
		// A chunked body is cut off once it passes the limit.
		{"chunked", func() io.Reader { return io.LimitReader(zeros{}, elevenMB) }, 413, true},
		{"chunked at the limit", func() io.Reader { return io.LimitReader(zeros{}, maxBodyBytes) }, 200, true},
		{"content-length at the limit", func() io.Reader { return bytes.NewReader(make([]byte, maxBodyBytes)) }, 200, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			h := proxyRegional(t, b)
			w := call(t, h, "POST", "proxyapi01", "/prod/upload", nil, tc.body())
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %.200q", w.Code, tc.status, w.Body.String())
			}
			if tc.status == 413 {
				errBody(t, w)
			}
			if got := b.hits.Load() > 0; got != tc.reached {
				t.Errorf("backend contacted: %v, want %v", got, tc.reached)
			}
			if w.Code == 200 {
				if s := decodeSeen(t, w); s.BodyLen != maxBodyBytes || s.BodyErr != "" {
					t.Errorf("backend read %d bytes (err %q), want %d", s.BodyLen, s.BodyErr, maxBodyBytes)
				}
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	h := proxyRegional(t, b)
	tests := []struct {
		name   string
		hdr    http.Header
		status int
	}{
		{"small", http.Header{"X-A": {"b"}}, 200},
		{"one big header", http.Header{"X-Big": {strings.Repeat("a", 10300)}}, 431},
		{"many headers", func() http.Header {
			h := http.Header{}
			for i := range 200 {
				h.Add("X-Many", strings.Repeat("b", 50+i%2))
			}
			return h
		}(), 431},
		{"just under", http.Header{"X-Big": {strings.Repeat("a", 9900)}}, 200},
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				w := call(t, h, "GET", "proxyapi01", "/prod/h", tc.hdr, nil)
				if w.Code != tc.status {
					t.Fatalf("status %d, want %d; body %.200q", w.Code, tc.status, w.Body.String())
				}
				if tc.status == 431 {
					errBody(t, w)
				}
			})
		}
	})
	if n := b.hits.Load(); n != 2 {
		t.Errorf("backend saw %d requests, want the 2 small ones", n)
	}
}

// TestRetryAfter: whole seconds rounded up, at least 1, and at most 31
// days (a wait that never ends, limit.Never, too).
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{limit.Never, "2678400"},
		{0, "1"},
		{-time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{42 * time.Second, "42"},
		{40 * 24 * time.Hour, "2678400"},
	} {
		if got := retryAfter(tc.d); got != tc.want {
			t.Errorf("retryAfter(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
