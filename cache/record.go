package cache

import (
	"bytes"
	"net/http"
	"strconv"
)

// recorder is the ResponseWriter given to the Origin on a fetch. It
// buffers the response up to limit bytes. Past the limit the response
// cannot be stored: with a client to answer (the leader's) it switches to
// streaming the response to that client; without one it discards the rest
// and fails the origin's writes so that it stops early.
type recorder struct {
	header http.Header
	status int // 0 until the origin sends a final status
	body   bytes.Buffer
	limit  int

	over    bool                // the body passed limit
	client  http.ResponseWriter // the leader's client, nil for background fetches
	hold    bool                // never stream error statuses: stale-if-error may replace them
	passing bool                // streaming to client
	onPass  func()              // called when streaming starts
	c       *Cache              // for X-Cache labels
}

func newRecorder(limit int) *recorder {
	return &recorder{header: make(http.Header), limit: limit}
}

// Header returns the response header map.
func (rec *recorder) Header() http.Header { return rec.header }

// WriteHeader records the first final status; informational (1xx)
// responses are ignored. A declared Content-Length over the limit starts
// streaming at once.
func (rec *recorder) WriteHeader(code int) {
	if rec.status != 0 || code < 200 {
		return
	}
	rec.status = code
	if n, err := strconv.ParseInt(rec.header.Get("Content-Length"), 10, 64); err == nil && n > int64(rec.limit) {
		rec.overflow()
	}
}

// Write buffers b, or streams or discards it once over the limit.
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if !rec.over && rec.body.Len()+len(b) > rec.limit {
		rec.overflow()
	}
	switch {
	case rec.passing:
		return rec.client.Write(b)
	case rec.over:
		if rec.client == nil {
			return 0, errTooLarge
		}
		return len(b), nil // a held error response: the stale entry replaces it
	}
	return rec.body.Write(b)
}

// overflow marks the response unstorable and, when a client waits and the
// response is not held, starts streaming to it.
func (rec *recorder) overflow() {
	rec.over = true
	if rec.client == nil || (rec.hold && failed(rec.status)) {
		rec.body = bytes.Buffer{}
		return
	}
	rec.passing = true
	if rec.onPass != nil {
		rec.onPass()
	}
	rec.replay(rec.client)
	rec.body = bytes.Buffer{}
}

// Flush is a no-op while buffering; while streaming it flushes the client.
func (rec *recorder) Flush() {
	if rec.passing {
		_ = http.NewResponseController(rec.client).Flush()
	}
}

// replay sends the response recorded so far to w unchanged but for
// X-Cache, which marks it a Miss at this tier, followed by the origin's.
func (rec *recorder) replay(w http.ResponseWriter) {
	h := w.Header()
	shareHeader(h, rec.header)
	h[HeaderXCache] = rec.c.xcacheValue(Miss, rec.header.Get(HeaderXCache))
	if rec.status == 0 {
		return // the origin wrote nothing; neither do we
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// failed reports whether status is an origin failure that stale-if-error
// may replace (RFC 5861 §4), or no response at all.
func failed(status int) bool {
	switch status {
	case 0, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
