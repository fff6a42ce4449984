package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"net/url"
	"strings"
)

// key identifies an item in a stage's store: a SHA-256 over everything the
// request is keyed on, so key memory is fixed whatever the request carries.
type key [sha256.Size]byte

// keyBuf is the stack buffer keys are built in; longer inputs spill to the
// heap.
const keyBuf = 512

// Field tags keep the hashed encoding unambiguous: every variable-length
// field is length-prefixed, and every list ends with tagEnd.
const (
	tagEnd   = 0
	tagValue = 1
	tagGet   = 'G' // GET and HEAD share entries; nothing else is cached
)

// baseKey returns the key of r before Vary: method class, path, the
// policy's query parameters and headers, and the caller's identity. The
// identity part hashes the names and values of the identity headers the
// request carries, so requests with different credentials never share an
// entry, and requests with none share the anonymous one.
//
// p must be prepared (Policy.WithDefaults): its name lists are sorted and
// canonical.
func baseKey(r *http.Request, p *Policy, path string) key {
	var arr [keyBuf]byte
	b := append(arr[:0], tagGet)
	b = appendField(b, path)
	b = appendQuery(b, r.URL.RawQuery, p.KeyQuery)
	b = appendHeaders(b, r.Header, p.KeyHeaders)
	b = appendHeaders(b, r.Header, p.IdentityHeaders)
	return sha256.Sum256(b)
}

// variantKey returns the key of the variant of base selected by the values
// of the Vary header names in h.
func variantKey(base key, names []string, h http.Header) key {
	var arr [keyBuf]byte
	b := append(arr[:0], base[:]...)
	for _, n := range names {
		b = appendField(b, n)
		b = appendField(b, headerValue(h, n))
	}
	return sha256.Sum256(b)
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendQuery appends, for each name, the values of that query parameter
// in request order. Names and values are compared and hashed unescaped.
func appendQuery(b []byte, raw string, names []string) []byte {
	for _, name := range names {
		b = appendField(b, name)
		for q := raw; q != ""; {
			var pair string
			pair, q, _ = strings.Cut(q, "&")
			k, v, _ := strings.Cut(pair, "=")
			if unescapeQuery(k) != name {
				continue
			}
			b = append(b, tagValue)
			b = appendField(b, unescapeQuery(v))
		}
		b = append(b, tagEnd)
	}
	return b
}

func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// appendHeaders appends, for each canonical name present in h, the name
// and its values in order. Absent headers add nothing, so an absent header
// and an empty one differ.
func appendHeaders(b []byte, h http.Header, names []string) []byte {
	for _, name := range names {
		vs, ok := h[name]
		if !ok {
			continue
		}
		b = appendField(b, name)
		for _, v := range vs {
			b = append(b, tagValue)
			b = appendField(b, v)
		}
		b = append(b, tagEnd)
	}
	return append(b, tagEnd)
}

// headerValue returns the values of the canonical header name in h joined
// by commas, the form Vary compares.
func headerValue(h http.Header, name string) string {
	vs := h[name]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ",")
}
