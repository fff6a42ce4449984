package endpoints

import (
	"testing"

	"github.com/portico-gw/portico/configs"
)

// TestRequestIDShape: ids are 20 characters of a-z and 2-7, accepted by
// validRequestID as configs' ids are, and do not repeat.
func TestRequestIDShape(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	used := map[byte]bool{}
	for range 2000 {
		id := newRequestID()
		if !validRequestID(id) || seen[id] {
			t.Fatalf("id %q: valid %v, seen before %v", id, validRequestID(id), seen[id])
		}
		seen[id] = true
		for i := range len(id) {
			used[id[i]] = true
		}
	}
	for i := range len(idAlphabet) {
		if !used[idAlphabet[i]] {
			t.Errorf("%q never drawn in 40,000 characters", idAlphabet[i])
		}
	}
	if len(used) != len(idAlphabet) {
		t.Errorf("%d distinct characters, want %d", len(used), len(idAlphabet))
	}
	if id := configs.NewRequestID(); !validRequestID(id) {
		t.Errorf("configs.NewRequestID() = %q not valid", id)
	}
}
