package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// coding is a content coding this package produces or reads.
type coding uint8

const (
	identity coding = iota
	codingGzip
	codingZstd
)

// String returns the coding's Content-Encoding token.
func (c coding) String() string {
	switch c {
	case codingGzip:
		return "gzip"
	case codingZstd:
		return "zstd"
	}
	return "identity"
}

// errTooLarge reports a body over its size bound.
var errTooLarge = errors.New("body exceeds size bound")

// compressible reports whether a response of media type ct is worth
// compressing: text and the structured-syntax types APIs return.
func compressible(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript",
		"application/x-javascript", "application/ecmascript", "image/svg+xml":
		return true
	}
	return false
}

// acceptance holds the q-values (in thousandths) a request's
// Accept-Encoding gives the codings this package serves (RFC 9110 §12.5.3).
type acceptance struct {
	zstd, gzip, identity int
}

// parseAcceptEncoding reads Accept-Encoding values. Without the header only
// identity is acceptable (what clients expect in practice). Identity is
// acceptable unless refused with identity;q=0 or *;q=0; when not listed it
// ranks below every listed coding (q=0.001).
func parseAcceptEncoding(values []string) acceptance {
	a := acceptance{identity: 1}
	star, zset, gset, iset := -1, false, false, false
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			q := qValue(params)
			switch {
			case strings.EqualFold(name, "zstd"):
				a.zstd, zset = q, true
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				a.gzip, gset = q, true
			case strings.EqualFold(name, "identity"):
				a.identity, iset = q, true
			case name == "*":
				star = q
			}
		}
	}
	if star >= 0 {
		if !zset {
			a.zstd = star
		}
		if !gset {
			a.gzip = star
		}
		if !iset {
			a.identity = star
		}
	}
	return a
}

// qValue returns the q parameter of an Accept-Encoding item in thousandths:
// 1000 when absent, 0 when malformed.
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(v))
	}
	return 1000
}

// parseQ parses a qvalue (RFC 9110 §12.4.2): 0, 1 or a decimal of up to
// three digits, at most 1. Malformed values count as 0.
func parseQ(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for i := 2; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || (q == 1000 && v[i] != '0') {
			return 0
		}
		q += int(v[i]-'0') * scale
		scale /= 10
	}
	return q
}

// choose picks the coding to send among identity and the stored ones:
// highest q first, then zstd, gzip, identity. When nothing acceptable is
// available it falls back to identity (RFC 9110 §12.5.3 allows ignoring
// the header rather than answering 406).
func (a acceptance) choose(haveZstd, haveGzip bool) coding {
	best, bestQ := identity, a.identity
	if haveGzip && a.gzip > 0 && a.gzip >= bestQ {
		best, bestQ = codingGzip, a.gzip
	}
	if haveZstd && a.zstd > 0 && a.zstd >= bestQ {
		best = codingZstd
	}
	return best
}

// Shared codecs. EncodeAll and DecodeAll are safe for concurrent use; the
// encoder and decoder bound how many run at once.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		if err != nil {
			panic(fmt.Sprintf("cache: zstd encoder: %v", err))
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
		if err != nil {
			panic(fmt.Sprintf("cache: zstd decoder: %v", err))
		}
		return d
	})
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
		return w
	}}
	gzipReaders  sync.Pool // *gzip.Reader
	zstdReaders  sync.Pool // *zstd.Decoder, streaming, without goroutines
	bufferPool   = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	errNoEncoder = errors.New("unsupported content coding")
)

// compressBody returns the zstd and gzip encodings of raw, each only when
// it is smaller than raw.
func compressBody(raw []byte) (z, g []byte) {
	z = zstdEncoder().EncodeAll(raw, make([]byte, 0, len(raw)/2))
	if len(z) >= len(raw) {
		z = nil
	} else {
		z = bytes.Clone(z)
	}
	buf := bufferPool.Get().(*bytes.Buffer)
	defer bufferPool.Put(buf)
	buf.Reset()
	gw := gzipWriters.Get().(*gzip.Writer)
	gw.Reset(buf)
	_, _ = gw.Write(raw) // writes to a bytes.Buffer do not fail
	_ = gw.Close()
	gzipWriters.Put(gw)
	if buf.Len() < len(raw) {
		g = bytes.Clone(buf.Bytes())
	}
	return z, g
}

// decodeBody decodes an origin body in coding c, failing with errTooLarge
// past limit decoded bytes so that compression bombs cost at most limit.
func decodeBody(c coding, body []byte, limit int) ([]byte, error) {
	var r io.Reader
	switch c {
	case identity:
		return body, nil
	case codingGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		if err := zr.Reset(bytes.NewReader(body)); err != nil {
			return nil, fmt.Errorf("read gzip header: %w", err)
		}
		defer gzipReaders.Put(zr)
		r = zr
	case codingZstd:
		zr, _ := zstdReaders.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			if zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err != nil {
				return nil, fmt.Errorf("new zstd reader: %w", err)
			}
		}
		if err := zr.Reset(bytes.NewReader(body)); err != nil {
			return nil, fmt.Errorf("reset zstd reader: %w", err)
		}
		defer func() {
			_ = zr.Reset(nil)
			zstdReaders.Put(zr)
		}()
		r = zr
	default:
		return nil, errNoEncoder
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("decode %s body: %w", c, err)
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// originCoding maps a response's Content-Encoding to a coding this package
// can read; ok is false for anything else, including stacked codings.
func originCoding(values []string) (c coding, ok bool) {
	if len(values) > 1 {
		return identity, false
	}
	if len(values) == 0 {
		return identity, true
	}
	switch v := strings.ToLower(strings.TrimSpace(values[0])); v {
	case "", "identity":
		return identity, true
	case "gzip", "x-gzip":
		return codingGzip, true
	case "zstd":
		return codingZstd, true
	}
	return identity, false
}
