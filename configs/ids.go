package configs

import "crypto/rand"

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewAPIID returns a fresh API id: 10 lowercase letters and digits, the
// shape API Gateway uses (for example "a1b2c3d4e5").
func NewAPIID() string { return randomID(10) }

// NewDeploymentID returns a fresh deployment id of 6 characters.
func NewDeploymentID() string { return randomID(6) }

// NewRequestID returns a request id of 20 characters.
func NewRequestID() string { return randomID(20) }

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("configs: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
