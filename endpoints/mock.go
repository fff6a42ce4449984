package endpoints

import (
	"net/http"
	"strconv"

	"github.com/portico-gw/portico/configs"
)

// mockRoute answers with the integration's canned status, headers and
// body; nothing leaves the node.
type mockRoute struct {
	status int
	header http.Header // canonical keys; every value slice is full (len == cap)
	body   []byte
	length []string
}

func newMock(in configs.Integration) *mockRoute {
	m := &mockRoute{status: in.StatusCode, header: http.Header{}, body: []byte(in.Body)}
	if m.status == 0 {
		m.status = http.StatusOK
	}
	for k, v := range in.Headers {
		m.header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	m.length = []string{strconv.Itoa(len(m.body))}
	return m
}

func (m *mockRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The value slices are shared by every request; they have no spare
	// capacity, so an Add downstream reallocates instead of writing into
	// them.
	for k, v := range m.header {
		h[k] = v
	}
	if m.status >= 200 && m.status != http.StatusNoContent && m.status != http.StatusNotModified {
		h["Content-Length"] = m.length
	}
	w.WriteHeader(m.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(m.body)
	}
}
