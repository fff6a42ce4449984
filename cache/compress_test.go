package cache

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

func TestAcceptEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header     string
		zstd, gzip bool // stored codings
		want       coding
	}{
		{"", true, true, identity},
		{"gzip, deflate, br, zstd", true, true, codingZstd},
		{"gzip", true, true, codingGzip},
		{"GZIP", true, true, codingGzip},
		{"x-gzip", true, true, codingGzip},
		{"zstd", true, true, codingZstd},
		{"gzip;q=1, zstd;q=0.5", true, true, codingGzip},
		{"gzip;q=0.5, zstd;q=0.5", true, true, codingZstd},
		{"zstd;q=0, gzip", true, true, codingGzip},
		{"*", true, true, codingZstd},
		{"*;q=0.5, zstd;q=0", true, true, codingGzip},
		{"br", true, true, identity},
		{"identity;q=0, gzip", true, true, codingGzip},
		{"identity, gzip;q=0.5", true, true, identity},
		{"gzip;q=0.8", true, true, codingGzip}, // implicit identity ranks last
		{"zstd", false, true, identity},
		{"gzip", true, false, identity},
		{"gzip;q=abc", true, true, identity},
		{" gzip ; q = 0.9 ", true, true, codingGzip},
		{"gzip;q=1.000", true, true, codingGzip},
		{"gzip;q=1.5", true, true, identity},
	}
	for _, tc := range tests {
		got := parseAcceptEncoding([]string{tc.header}).choose(tc.zstd, tc.gzip)
		if tc.header == "" {
			got = parseAcceptEncoding(nil).choose(tc.zstd, tc.gzip)
		}
		if got != tc.want {
			t.Errorf("%q (zstd %v, gzip %v): %v, want %v", tc.header, tc.zstd, tc.gzip, got, tc.want)
		}
	}
}

func TestCompressedStorage(t *testing.T) {
	t.Parallel()
	for _, size := range []int{8 << 10, 64 << 10} { // raw kept too; compressed only
		t.Run(fmt.Sprint(size), func(t *testing.T) { testCompressedStorage(t, size) })
	}
}

func testCompressedStorage(t *testing.T, size int) {
	body := jsonBody(size)
	e := newEnv(t, "edge")
	o := &origin{fn: text(body, "Content-Type", "application/json", "Etag", `"e1"`)}
	p := &Policy{TTL: time.Minute}
	e.get(p, o, "/pets", "Accept-Encoding", "gzip")

	tests := []struct {
		accept string
		want   string // Content-Encoding
	}{
		{"zstd, gzip", "zstd"},
		{"gzip", "gzip"},
		{"", ""},
		{"identity", ""},
		{"gzip;q=1, zstd;q=0.1", "gzip"},
		{"br", ""},
	}
	for _, tc := range tests {
		var hdr []string
		if tc.accept != "" {
			hdr = []string{"Accept-Encoding", tc.accept}
		}
		w := e.get(p, o, "/pets", hdr...)
		if got := w.Header().Get("Content-Encoding"); got != tc.want {
			t.Errorf("%q: Content-Encoding %q, want %q", tc.accept, got, tc.want)
		}
		expect(t, w, "Hit from edge", body)
		if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("%q: Vary %q", tc.accept, got)
		}
		// A smaller body's length is the server's to send (see
		// TestHitContentLengthOverTheWire); a recorder has none.
		if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) && (cl != "" || w.Body.Len() >= serverCountsBelow) {
			t.Errorf("%q: Content-Length %q for %d bytes", tc.accept, cl, w.Body.Len())
		}
		wantETag := `"e1"`
		if tc.want != "" {
			wantETag = `W/"e1"`
		}
		if got := w.Header().Get("Etag"); got != wantETag {
			t.Errorf("%q: ETag %q, want %q", tc.accept, got, wantETag)
		}
	}
	en := e.entry(p, "/pets")
	// A body this small is kept as it came too (keepRawBytes).
	if en == nil || en.zstd == nil || en.gzip == nil || (len(body) <= keepRawBytes) != (en.raw != nil) {
		t.Fatalf("entry not stored compressed (raw kept: %v): %d bytes", en != nil && en.raw != nil, len(body))
	}
	if len(en.zstd) >= len(body) || len(en.gzip) >= len(body) {
		t.Errorf("compressed sizes zstd %d gzip %d for %d bytes", len(en.zstd), len(en.gzip), len(body))
	}
}

func TestRawStorage(t *testing.T) {
	t.Parallel()
	random := make([]byte, 8<<10)
	_, _ = rand.Read(random)
	tests := []struct {
		name string
		ct   string
		body string
		p    Policy
	}{
		{"small", "application/json", `{"id":1}`, Policy{TTL: time.Minute}},
		{"incompressible", "text/plain", string(random), Policy{TTL: time.Minute}},
		{"binary type", "image/png", jsonBody(8 << 10), Policy{TTL: time.Minute}},
		{"compression off", "application/json", jsonBody(8 << 10), Policy{TTL: time.Minute, CompressMinBytes: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{fn: text(tc.body, "Content-Type", tc.ct)}
			e.get(&tc.p, o, "/")
			w := e.get(&tc.p, o, "/", "Accept-Encoding", "zstd, gzip")
			if ce := w.Header().Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding %q, want none", ce)
			}
			if v := w.Header().Get("Vary"); v != "" {
				t.Errorf("Vary %q, want none", v)
			}
			expect(t, w, "Hit from edge", tc.body)
		})
	}
}

func TestPrecompressedOrigin(t *testing.T) {
	t.Parallel()
	body := jsonBody(4 << 10)
	tests := []struct {
		name   string
		ce     string
		data   func(t testing.TB) []byte
		stored bool
	}{
		{"gzip", "gzip", func(t testing.TB) []byte { return gzipped(t, body) }, true},
		{"zstd", "zstd", func(t testing.TB) []byte { return zstded(t, body) }, true},
		{"corrupt gzip", "gzip", func(testing.TB) []byte { return []byte("not gzip") }, false},
		{"brotli", "br", func(testing.TB) []byte { return []byte("opaque") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			data := tc.data(t)
			o := &origin{fn: func(w http.ResponseWriter, r *http.Request, _ bool) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", tc.ce)
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				_, _ = w.Write(data)
			}}
			p := &Policy{TTL: time.Minute}
			w := e.get(p, o, "/", "Accept-Encoding", "gzip, zstd, br")
			if !tc.stored {
				if w.Body.String() != string(data) || w.Header().Get("Content-Encoding") != tc.ce {
					t.Errorf("unstorable response not passed as is")
				}
				if e.s.Len() != 0 {
					t.Errorf("stored %d entries", e.s.Len())
				}
				return
			}
			for _, accept := range []string{"", "gzip", "zstd"} {
				var hdr []string
				if accept != "" {
					hdr = []string{"Accept-Encoding", accept}
				}
				expect(t, e.get(p, o, "/", hdr...), "Hit from edge", body)
			}
		})
	}
}

func TestDecodeBomb(t *testing.T) {
	t.Parallel()
	bomb := gzipped(t, strings.Repeat("a", 1<<20))
	if _, err := decodeBody(codingGzip, bomb, 1000); err != errTooLarge {
		t.Errorf("err = %v, want errTooLarge", err)
	}
	zbomb := zstded(t, strings.Repeat("a", 1<<20))
	if _, err := decodeBody(codingZstd, zbomb, 1000); err != errTooLarge {
		t.Errorf("zstd err = %v, want errTooLarge", err)
	}
}

func TestCompressor(t *testing.T) {
	t.Parallel()
	big := jsonBody(4 << 10)
	write := func(status int, hdr []string, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			if status != 0 {
				w.WriteHeader(status)
			}
			// In pieces, to cross the buffering threshold mid-write.
			for b := body; len(b) > 0; {
				n := min(len(b), 300)
				_, _ = io.WriteString(w, b[:n])
				b = b[n:]
			}
		}
	}
	tests := []struct {
		name    string
		method  string
		accept  string
		handler http.HandlerFunc
		want    string // Content-Encoding
	}{
		{"gzip", "GET", "gzip", write(0, []string{"Content-Type", "application/json"}, big), "gzip"},
		{"zstd preferred", "GET", "gzip, zstd", write(0, []string{"Content-Type", "application/json"}, big), "zstd"},
		{"sniffed", "GET", "gzip", write(0, nil, "<html>"+big), "gzip"},
		{"no accept", "GET", "", write(0, []string{"Content-Type", "application/json"}, big), ""},
		{"small", "GET", "gzip", write(0, []string{"Content-Type", "application/json"}, `{"a":1}`), ""},
		{"binary", "GET", "gzip", write(0, []string{"Content-Type", "image/png"}, big), ""},
		{"encoded", "GET", "gzip", write(0, []string{"Content-Type", "application/json", "Content-Encoding", "br"}, big), "br"},
		{"range", "GET", "gzip", write(206, []string{"Content-Type", "text/plain", "Content-Range", "bytes 0-99/200"}, big), ""},
		{"no-transform", "GET", "gzip", write(0, []string{"Content-Type", "text/plain", "Cache-Control", "no-transform"}, big), ""},
		{"head", "HEAD", "gzip", write(0, []string{"Content-Type", "text/plain"}, ""), ""},
		{"204", "GET", "gzip", write(204, nil, ""), ""},
		{"error page", "GET", "gzip", write(500, []string{"Content-Type", "text/html"}, big), "gzip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest(tc.method, "/")
			if tc.accept != "" {
				r.Header.Set("Accept-Encoding", tc.accept)
			}
			w := httptest.NewRecorder()
			Compressor(0, tc.handler).ServeHTTP(w, r)
			if got := w.Header().Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.want)
			}
			if tc.want == "gzip" || tc.want == "zstd" {
				if w.Header().Get("Content-Length") != "" || !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") {
					t.Errorf("headers %v", w.Header())
				}
				got := decodeResponse(t, w)
				if !strings.HasSuffix(got, big) {
					t.Errorf("decoded body differs: %d bytes", len(got))
				}
			} else {
				// Not compressed: as the handler alone answers.
				direct := httptest.NewRecorder()
				tc.handler(direct, newRequest(tc.method, "/"))
				if w.Code != direct.Code || w.Body.String() != direct.Body.String() {
					t.Errorf("got %d, %d bytes; want %d, %d bytes", w.Code, w.Body.Len(), direct.Code, direct.Body.Len())
				}
			}
		})
	}
}

// TestCompressorStreams checks over a real connection that a flushed part
// of a compressed response reaches the client before the handler ends.
func TestCompressorStreams(t *testing.T) {
	t.Parallel()
	first := jsonBody(2 << 10)
	more := make(chan struct{})
	srv := httptest.NewServer(Compressor(1024, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, first)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through Compressor: %v", err)
		}
		within(t, more, "client")
		_, _ = io.WriteString(w, "tail")
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bufio.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(first))
	if _, err := io.ReadFull(zr, got); err != nil || string(got) != first {
		t.Fatalf("first part: %v", err)
	}
	close(more)
	rest, err := io.ReadAll(zr)
	if err != nil || string(rest) != "tail" {
		t.Errorf("rest %q, %v", rest, err)
	}
}
