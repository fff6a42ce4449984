package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// RSA key sizes accepted from a JWKS. Below 2048 bits is too weak (NIST SP
// 800-131A); above 8192 a key only makes every verification slower.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// jwk is the JSON form of one key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// keySet is an immutable, parsed JWKS.
type keySet struct {
	keys    []*verifyKey
	byKID   map[string][]*verifyKey
	fetched time.Time
}

// find returns the key for a token's kid and alg. A token without a kid
// matches only when exactly one key in the set can check its alg, so a
// token can never make Portico try every key.
func (s *keySet) find(kid string, a alg) *verifyKey {
	if s == nil {
		return nil
	}
	if kid != "" {
		for _, k := range s.byKID[kid] {
			if k.usableFor(a) {
				return k
			}
		}
		return nil
	}
	var found *verifyKey
	for _, k := range s.keys {
		if k.usableFor(a) {
			if found != nil {
				return nil
			}
			found = k
		}
	}
	return found
}

// parseJWKS parses a JWK Set document. Keys Portico cannot or must not use
// (symmetric "oct" keys, keys for encryption, weak RSA, unknown curves) are
// skipped and reported in skipped; a set with no usable key is an error.
func parseJWKS(doc []byte, fetched time.Time) (*keySet, []error, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("decode jwks: %w", err)
	}
	s := &keySet{byKID: make(map[string][]*verifyKey), fetched: fetched}
	var skipped []error
	for i, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		s.keys = append(s.keys, k)
		s.byKID[k.kid] = append(s.byKID[k.kid], k)
	}
	if len(s.keys) == 0 {
		return nil, skipped, errors.New("jwks has no usable signing key")
	}
	return s, skipped, nil
}

func parseJWK(raw []byte) (*verifyKey, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("kid %q: use %q is not sig", j.Kid, j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, fmt.Errorf("kid %q: key_ops does not allow verify", j.Kid)
	}
	k := &verifyKey{kid: j.Kid}
	switch j.Kty {
	case "RSA":
		n, err := b64.DecodeString(j.N)
		if err != nil || len(n) == 0 || n[0] == 0 {
			return nil, fmt.Errorf("kid %q: bad modulus", j.Kid)
		}
		e, err := b64.DecodeString(j.E)
		if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return nil, fmt.Errorf("kid %q: bad exponent", j.Kid)
		}
		var exp int64
		for _, b := range e {
			exp = exp<<8 | int64(b)
		}
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, fmt.Errorf("kid %q: exponent %d not allowed", j.Kid, exp)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("kid %q: %d-bit rsa key not allowed", j.Kid, bits)
		}
		k.fam, k.rsa = famRSA, pub
	case "EC":
		var c elliptic.Curve
		switch j.Crv {
		case "P-256":
			c, k.fam = elliptic.P256(), famP256
		case "P-384":
			c, k.fam = elliptic.P384(), famP384
		case "P-521":
			c, k.fam = elliptic.P521(), famP521
		default:
			return nil, fmt.Errorf("kid %q: curve %q not supported", j.Kid, j.Crv)
		}
		size := (c.Params().BitSize + 7) / 8
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, fmt.Errorf("kid %q: bad ec coordinates", j.Kid)
		}
		point := make([]byte, 0, 1+2*size)
		point = append(append(append(point, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c, point) // checks the point is on the curve
		if err != nil {
			return nil, fmt.Errorf("kid %q: %w", j.Kid, err)
		}
		k.ec = pub
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("kid %q: curve %q not supported", j.Kid, j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("kid %q: bad ed25519 key", j.Kid)
		}
		k.fam, k.ed = famEd25519, ed25519.PublicKey(x)
	case "oct":
		return nil, fmt.Errorf("kid %q: symmetric keys are never taken from a jwks", j.Kid)
	default:
		return nil, fmt.Errorf("kid %q: kty %q not supported", j.Kid, j.Kty)
	}
	if j.Alg != "" {
		a := parseAlg(j.Alg)
		if a == algInvalid || a.family() != k.fam {
			return nil, fmt.Errorf("kid %q: alg %q does not fit a %s key", j.Kid, j.Alg, j.Kty)
		}
		k.alg = a
	}
	return k, nil
}
