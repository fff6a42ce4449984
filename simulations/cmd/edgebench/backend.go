package main

import (
	"bytes"
	"fmt"
	"net/http"
)

// Backend paths: the stage caches cachedPath at both tiers; a route
// override turns caching off for freshPath, so every request for it goes
// edge → regional → backend.
const (
	cachedPath = "/data"
	freshPath  = "/fresh"
)

// payloadSize is the backend's answer size: a small API response.
const payloadSize = 1024

// payload is the backend's whole answer to both paths.
var payload = jsonPayload(payloadSize)

// jsonPayload builds a JSON document of exactly size bytes (at least 128):
// a list of items, padded.
func jsonPayload(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"source":"edgebench","items":[`)
	for i := 0; b.Len() < size-80; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"sku":"SKU-%05d","price":%d.%02d}`, i+1, 7919*(i+1)%100000, 3+7*i%90, 13*i%100)
	}
	b.WriteString(`],"pad":"`)
	for b.Len() < size-3 {
		b.WriteByte('.')
	}
	b.WriteString("\"}\n")
	return b.Bytes()
}

// backendHandler answers GET cachedPath and freshPath with payload and
// anything else 404; no mux, no sniffing, no Cache-Control (the stage's
// TTL and nginx's proxy_cache_valid decide).
func backendHandler() http.Handler {
	ctype := []string{"application/json"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != cachedPath && r.URL.Path != freshPath {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = ctype
		w.Write(payload)
	})
}
