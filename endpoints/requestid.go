package endpoints

import "math/rand/v2"

// idAlphabet is RFC 4648's base32 alphabet in lower case: a-z and 2-7.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newRequestID returns a 20-character id of the shape configs.NewRequestID
// makes (lower-case letters and digits; this alphabet is a part of its).
// Request ids must be unique, not secret, so it draws from math/rand/v2's
// per-thread ChaCha8 source instead of crypto/rand; BenchmarkRequestID
// compares the two. Each character is 5 bits of one of two 64-bit draws,
// taken with shifts rather than divisions: 100 bits in all.
func newRequestID() string {
	var b [20]byte
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 10 {
		b[i] = idAlphabet[x&31]
		b[10+i] = idAlphabet[y&31]
		x >>= 5
		y >>= 5
	}
	return string(b[:])
}

// validRequestID reports whether id has the shape of a request id: 20
// lower-case letters or digits (configs.NewRequestID and newRequestID).
func validRequestID(id string) bool {
	if len(id) != 20 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
