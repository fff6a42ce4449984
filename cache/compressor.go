package cache

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compressor returns middleware that compresses the responses of next
// with zstd or gzip, as the request's Accept-Encoding prefers (zstd on a
// tie). It is meant for responses the cache does not serve: place it
// outside the cache step, which encodes its own answers.
//
// It buffers up to minBytes (0 means DefaultCompressMinBytes) before
// deciding, then streams. A response is compressed when it has a
// compressible content type (sniffed if unset) and at least minBytes of
// body; it is left alone when the request is HEAD, the status is 1xx, 204
// or 304, it is already encoded, carries Content-Range or Cache-Control:
// no-transform, or is flushed before minBytes were written. Compressed
// responses lose Content-Length, get Vary: Accept-Encoding and a weak ETag.
// The writer passed to next supports Flush and Unwrap.
func Compressor(minBytes int, next http.Handler) http.Handler {
	if minBytes <= 0 {
		minBytes = DefaultCompressMinBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		a := parseAcceptEncoding(r.Header["Accept-Encoding"])
		c := a.choose(true, true)
		if c == identity {
			next.ServeHTTP(w, r)
			return
		}
		cw := &compressWriter{w: w, coding: c, min: minBytes}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// zstdWriters pools streaming zstd encoders: they are expensive to create.
// gzip shares gzipWriters with compressBody.
var zstdWriters = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic("cache: zstd writer: " + err.Error())
	}
	return e
}}

// encoder is a pooled streaming encoder.
type encoder interface {
	io.WriteCloser
	Flush() error
}

// compressWriter buffers the start of a response, decides, then streams
// the rest through an encoder or unchanged.
type compressWriter struct {
	w      http.ResponseWriter
	coding coding
	min    int

	status  int
	buf     []byte
	decided bool
	enc     encoder
}

// Header returns the response header map.
func (cw *compressWriter) Header() http.Header { return cw.w.Header() }

// WriteHeader records a final status; informational ones are sent at once.
// Statuses and headers that rule compression out decide immediately.
func (cw *compressWriter) WriteHeader(code int) {
	if code < 200 {
		cw.w.WriteHeader(code)
		return
	}
	if cw.status != 0 || cw.decided {
		return
	}
	cw.status = code
	if !cw.eligible() {
		cw.decide(false)
	}
}

// Write buffers until the decision, then writes through.
func (cw *compressWriter) Write(b []byte) (int, error) {
	if cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	if !cw.decided {
		cw.buf = append(cw.buf, b...)
		if len(cw.buf) >= cw.min {
			if err := cw.decide(true); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	if cw.enc != nil {
		return cw.enc.Write(b)
	}
	return cw.w.Write(b)
}

// Flush decides, if Write has not (a response flushed before minBytes is
// not compressed), then flushes the encoder and the client.
func (cw *compressWriter) Flush() {
	if !cw.decided {
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		_ = cw.decide(false)
	}
	if cw.enc != nil {
		_ = cw.enc.Flush()
	}
	_ = http.NewResponseController(cw.w).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (cw *compressWriter) Unwrap() http.ResponseWriter { return cw.w }

// eligible reports whether status and headers allow compression.
func (cw *compressWriter) eligible() bool {
	h := cw.w.Header()
	switch {
	case cw.status == http.StatusNoContent, cw.status == http.StatusNotModified,
		h.Get("Content-Encoding") != "", h.Get("Content-Range") != "",
		strings.Contains(strings.ToLower(strings.Join(h["Cache-Control"], ",")), "no-transform"):
		return false
	}
	return true
}

// decide sends the header, compressing when want and the response allows,
// and writes what was buffered.
func (cw *compressWriter) decide(want bool) error {
	cw.decided = true
	h := cw.w.Header()
	if want && cw.eligible() {
		ct := h.Get("Content-Type")
		if _, set := h["Content-Type"]; !set && len(cw.buf) > 0 {
			ct = http.DetectContentType(cw.buf)
			h.Set("Content-Type", ct)
		}
		want = compressible(ct)
	} else {
		want = false
	}
	if want {
		h.Del("Content-Length")
		h.Set("Content-Encoding", cw.coding.String())
		if !strings.Contains(strings.ToLower(strings.Join(h["Vary"], ",")), "accept-encoding") {
			h.Add("Vary", "Accept-Encoding")
		}
		if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
			h.Set("Etag", "W/"+et)
		}
		cw.enc = newEncoder(cw.coding, cw.w)
	}
	cw.w.WriteHeader(cw.status)
	buf := cw.buf
	cw.buf = nil
	if len(buf) == 0 {
		return nil
	}
	var err error
	if cw.enc != nil {
		_, err = cw.enc.Write(buf)
	} else {
		_, err = cw.w.Write(buf)
	}
	return err
}

// finish completes the response after the handler returned.
func (cw *compressWriter) finish() {
	if !cw.decided {
		if cw.status == 0 && len(cw.buf) == 0 {
			return // nothing written: let the server send its default
		}
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		_ = cw.decide(false) // fewer than minBytes: Write decides otherwise
	}
	if cw.enc != nil {
		_ = cw.enc.Close()
		releaseEncoder(cw.coding, cw.enc)
		cw.enc = nil
	}
}

func newEncoder(c coding, w io.Writer) encoder {
	if c == codingZstd {
		e := zstdWriters.Get().(*zstd.Encoder)
		e.Reset(w)
		return e
	}
	g := gzipWriters.Get().(*gzip.Writer)
	g.Reset(w)
	return g
}

func releaseEncoder(c coding, e encoder) {
	switch c {
	case codingZstd:
		z := e.(*zstd.Encoder)
		z.Reset(nil)
		zstdWriters.Put(z)
	default:
		g := e.(*gzip.Writer)
		g.Reset(nil)
		gzipWriters.Put(g)
	}
}
