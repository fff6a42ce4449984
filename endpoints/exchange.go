package endpoints

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// headerRequestID carries the request id to the client and the backend.
const headerRequestID = "X-Portico-Request-Id"

// exchange is the per-request record every step of the pipeline shares:
// what the request resolved to, what was answered and how long it took.
// It is also the ResponseWriter the pipeline writes through, so the status
// and byte count are seen in one place. It lives in the request context.
type exchange struct {
	w     http.ResponseWriter
	id    string
	start time.Time

	api     *apiEntry // nil until the host resolves
	stage   *stage    // nil until the stage resolves
	route   *route    // nil until a route matches
	apiPath string    // decoded path after the stage, without leading "/"
	params  []string  // values for route.params
	buf     [maxParams]string

	proxy      *proxyRoute // set by the HTTP proxy integration
	target     *url.URL    // the backend URL built for this request; read-only
	integStart time.Time
	integDur   time.Duration
	body       limitedBody

	written bool  // the final header went out
	status  int   // the final status, or one set only for the log (499)
	bytes   int64 // body bytes written
}

type exchangeKey struct{}

// exchangeOf returns the request's exchange. Every request that went
// through the front of the pipeline has one; a handler used alone gets a
// fresh throwaway record so it never has to check for nil.
func exchangeOf(r *http.Request) *exchange {
	if ex, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return ex
	}
	return &exchange{}
}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// Header implements http.ResponseWriter.
func (ex *exchange) Header() http.Header { return ex.w.Header() }

// WriteHeader records the final status and stamps the request id on it.
// The id is set here rather than up front because a 1xx response relayed
// by the proxy clears the header map, and because a backend's own
// X-Portico-Request-Id must not reach the client next to ours.
func (ex *exchange) WriteHeader(code int) {
	if ex.written {
		return // superfluous; net/http would only log it
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		ex.written = true
		ex.status = code
		ex.w.Header().Set(headerRequestID, ex.id)
	}
	ex.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (ex *exchange) Write(p []byte) (int, error) {
	if !ex.written {
		ex.WriteHeader(http.StatusOK)
	}
	n, err := ex.w.Write(p)
	ex.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer for
// Flush, Hijack and deadlines.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.w }

// Flush implements http.Flusher for code that asserts it directly.
func (ex *exchange) Flush() {
	if !ex.written {
		ex.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(ex.w).Flush()
}

// limitedBody wraps a request body and fails once more than max bytes
// were read, remembering that it did so the proxy's error handler can
// answer 413 instead of 502. The flag is atomic because the transport
// reads request bodies on its own goroutine.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	overflow atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.overflow.Store(true)
		return n, errBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
