package waf

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keepCRS holds one Firewall with the default Core Rule Set for the whole
// test binary. While it lives, every New with the default CRS settings
// (in either mode) reuses its compiled engine instead of compiling again,
// which keeps the package's -race run short.
var keepCRS = sync.OnceValues(func() (*Firewall, error) {
	return New(Config{CoreRuleSet: &CRS{}}, Options{Logger: slog.New(slog.DiscardHandler)})
})

// sharedCRS returns the binary-wide default-CRS Firewall.
func sharedCRS(t testing.TB) *Firewall {
	t.Helper()
	f, err := keepCRS()
	if err != nil {
		t.Fatalf("compile shared core rule set: %v", err)
	}
	return f
}

// testClock is a settable clock safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// logBuffer keeps what was logged and also sends it to the test's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	return b.out.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{out: t.Output()}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "waf"), lb
}

// matchLog records what OnMatch reports.
type matchLog struct {
	mu   sync.Mutex
	list []Match
}

func (m *matchLog) OnMatch(_ *http.Request, x Match) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, x)
}

func (m *matchLog) all() []Match {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Match(nil), m.list...)
}

// backend answers 200 "ok" and remembers the last body it read whole.
type backend struct {
	mu    sync.Mutex
	calls int
	body  []byte
	err   error
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	b.mu.Lock()
	b.calls++
	b.body, b.err = body, err
	b.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (b *backend) last() (calls int, body []byte, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.body, b.err
}

// newFirewall builds a Firewall with a test logger, failing the test on
// error.
func newFirewall(t testing.TB, cfg Config, opts Options) *Firewall {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	f, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// fromAddr sets the client address the default ClientIP reads.
func fromAddr(r *http.Request, addr string) *http.Request {
	ap := netip.MustParseAddrPort(addr)
	r.RemoteAddr = ap.String()
	return r
}

// serve runs one request through h and returns the recorded response.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// browserish sets the headers an ordinary API client sends, so the Core
// Rule Set's protocol checks have nothing to score.
func browserish(r *http.Request) *http.Request {
	r.Header.Set("User-Agent", "portico-test/1.0")
	r.Header.Set("Accept", "application/json")
	return r
}

func newRequest(method, target, contentType, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := browserish(httptest.NewRequest(method, target, rd))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
