package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
)

// APIKeyHeader is the header API keys arrive in, as in API Gateway.
const APIKeyHeader = "X-Api-Key"

// APIKeyLength is the length of a generated key, as in API Gateway.
const APIKeyLength = 40

// HashKey returns the hex SHA-256 of an API key value. This is what the
// cluster stores instead of the key. A fast hash is right here: keys are
// made by GenerateKey (about 238 bits from crypto/rand), so there is no
// dictionary to search and a slow password hash would only add latency to
// every request. Keys an operator imports must be just as random.
func HashKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GenerateKey returns a new random API key of APIKeyLength letters and
// digits, drawn from crypto/rand without modulo bias.
func GenerateKey() (string, error) {
	out := make([]byte, 0, APIKeyLength)
	var buf [64]byte
	for len(out) < APIKeyLength {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generate api key: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: values at or above it would favour the first
			// letters, so they are dropped.
			if b < 248 && len(out) < APIKeyLength {
				out = append(out, keyAlphabet[int(b)%len(keyAlphabet)])
			}
		}
	}
	return string(out), nil
}

// APIKey is one stored key: its id, the HashKey of its value, the usage
// plan it belongs to and whether it may be used.
type APIKey struct {
	ID      string
	Hash    string // HashKey(value), 64 lowercase or uppercase hex digits
	PlanID  string
	Enabled bool // the zero value is a disabled key
}

// APIKeys looks up API keys by value. It is immutable and safe for
// concurrent use; build a new one when keys change and swap it in.
type APIKeys struct {
	byHash map[[sha256.Size]byte]*storedKey
}

type storedKey struct {
	APIKey
	digest   [sha256.Size]byte
	cacheKey string
}

// NewAPIKeys builds the lookup table. It fails on a malformed hash, an
// empty id, or two keys with the same id or hash.
func NewAPIKeys(keys []APIKey) (*APIKeys, error) {
	t := &APIKeys{byHash: make(map[[sha256.Size]byte]*storedKey, len(keys))}
	ids := make(map[string]bool, len(keys))
	for i := range keys {
		k := keys[i]
		if k.ID == "" {
			return nil, fmt.Errorf("api key %d: empty id", i)
		}
		if ids[k.ID] {
			return nil, fmt.Errorf("api key %q: duplicate id", k.ID)
		}
		ids[k.ID] = true
		var h [sha256.Size]byte
		if len(k.Hash) != 2*len(h) {
			return nil, fmt.Errorf("api key %q: hash is not 64 hex digits", k.ID)
		}
		if _, err := hex.Decode(h[:], []byte(k.Hash)); err != nil {
			return nil, fmt.Errorf("api key %q: hash is not 64 hex digits", k.ID)
		}
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("api key %q: duplicate hash", k.ID)
		}
		t.byHash[h] = &storedKey{APIKey: k, digest: h, cacheKey: "api_key:" + k.ID}
	}
	return t, nil
}

// Len is the number of keys.
func (t *APIKeys) Len() int { return len(t.byHash) }

// Verify authorizes r by its x-api-key header. Exactly one header value is
// accepted.
func (t *APIKeys) Verify(r *http.Request) (Identity, error) {
	vs := r.Header.Values(APIKeyHeader)
	if len(vs) != 1 {
		return Identity{}, fail(KindInvalidAPIKey, fmt.Sprintf("%d x-api-key headers", len(vs)))
	}
	return t.Lookup(vs[0])
}

// Lookup authorizes an API key value. The value is hashed first; the map
// lookup on the digest leaks nothing about stored keys (finding a digest
// that is close to a stored one means finding a SHA-256 preimage), and the
// final comparison of the digests runs in constant time.
func (t *APIKeys) Lookup(value string) (Identity, error) {
	if value == "" {
		return Identity{}, fail(KindInvalidAPIKey, "empty x-api-key")
	}
	sum := sha256.Sum256([]byte(value))
	k := t.byHash[sum]
	if k == nil {
		return Identity{}, fail(KindInvalidAPIKey, "unknown api key")
	}
	if subtle.ConstantTimeCompare(k.digest[:], sum[:]) != 1 {
		return Identity{}, fail(KindInvalidAPIKey, "unknown api key")
	}
	if !k.Enabled {
		return Identity{}, fail(KindInvalidAPIKey, "api key "+k.ID+" is disabled")
	}
	return Identity{
		Method:    MethodAPIKey,
		Principal: k.ID,
		CacheKey:  k.cacheKey,
		KeyID:     k.ID,
		PlanID:    k.PlanID,
	}, nil
}
