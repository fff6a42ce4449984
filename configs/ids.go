package configs

import "crypto/rand"

const (
	idAlphabet      = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// NewAPIID returns a fresh API id: 10 lowercase letters and digits, the
// shape API Gateway uses (for example "a1b2c3d4e5").
func NewAPIID() string { return randomID(10, idAlphabet) }

// NewDeploymentID returns a fresh deployment id of 6 characters.
func NewDeploymentID() string { return randomID(6, idAlphabet) }

// NewRequestID returns a request id of 20 characters.
func NewRequestID() string { return randomID(20, idAlphabet) }

// NewPlanID returns a fresh usage plan id, shaped as an API id.
func NewPlanID() string { return randomID(10, idAlphabet) }

// NewKeyID returns a fresh API key id, shaped as an API id.
func NewKeyID() string { return randomID(10, idAlphabet) }

// NewCredentialID returns a fresh SigV4 access key id: "PKIA" and 16
// uppercase letters or digits, the shape of an AWS one ("AKIA…").
func NewCredentialID() string { return "PKIA" + randomID(16, upperIDAlphabet) }

// randomID draws n characters of alphabet from crypto/rand without
// modulo bias: bytes at or above the largest multiple of len(alphabet)
// are dropped.
func randomID(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}
