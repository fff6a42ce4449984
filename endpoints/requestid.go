package endpoints

import "math/rand/v2"

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newRequestID returns a 20-character id of the same shape as
// configs.NewRequestID. Request ids must be unique, not secret, so it
// draws from math/rand/v2's per-thread ChaCha8 source instead of
// crypto/rand; BenchmarkRequestID compares the two. Each 64-bit draw
// yields 10 base-36 characters (36^10 < 2^64), about 103 bits in all.
func newRequestID() string {
	var b [20]byte
	for half := 0; half < 2; half++ {
		x := rand.Uint64()
		for i := half * 10; i < half*10+10; i++ {
			b[i] = idAlphabet[x%36]
			x /= 36
		}
	}
	return string(b[:])
}

// validRequestID reports whether id has the shape newRequestID makes.
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
