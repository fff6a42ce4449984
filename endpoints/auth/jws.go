package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
)

// alg is a JWS signature algorithm (RFC 7518 §3.1, RFC 8037 for EdDSA).
// "none" has no value here, so it can never be allowed.
type alg uint8

const (
	algInvalid alg = iota
	algRS256
	algRS384
	algRS512
	algPS256
	algPS384
	algPS512
	algES256
	algES384
	algES512
	algEdDSA
	algHS256
	algHS384
	algHS512
	algCount
)

var algNames = [algCount]string{
	algRS256: "RS256", algRS384: "RS384", algRS512: "RS512",
	algPS256: "PS256", algPS384: "PS384", algPS512: "PS512",
	algES256: "ES256", algES384: "ES384", algES512: "ES512",
	algEdDSA: "EdDSA",
	algHS256: "HS256", algHS384: "HS384", algHS512: "HS512",
}

// parseAlg maps a header "alg" to an alg. It is case-sensitive, as RFC 7515
// §4.1.1 says; "none", "None" and anything unknown are algInvalid.
func parseAlg(s string) alg {
	for a := algRS256; a < algCount; a++ {
		if algNames[a] == s {
			return a
		}
	}
	return algInvalid
}

func (a alg) String() string {
	if a <= algInvalid || a >= algCount {
		return "invalid"
	}
	return algNames[a]
}

// hash is the digest the algorithm signs; EdDSA signs the message itself.
func (a alg) hash() crypto.Hash {
	switch a {
	case algRS256, algPS256, algES256, algHS256:
		return crypto.SHA256
	case algRS384, algPS384, algES384, algHS384:
		return crypto.SHA384
	case algRS512, algPS512, algES512, algHS512:
		return crypto.SHA512
	}
	return 0
}

func (a alg) isHMAC() bool { return a == algHS256 || a == algHS384 || a == algHS512 }

// family is the kind of key an algorithm needs. Binding each algorithm to
// exactly one family is what rules out key confusion: an RSA key is never
// an HMAC secret, and a P-256 key never checks an ES384 signature.
type family uint8

const (
	famNone family = iota
	famRSA
	famP256
	famP384
	famP521
	famEd25519
	famHMAC
)

func (a alg) family() family {
	switch a {
	case algRS256, algRS384, algRS512, algPS256, algPS384, algPS512:
		return famRSA
	case algES256:
		return famP256
	case algES384:
		return famP384
	case algES512:
		return famP521
	case algEdDSA:
		return famEd25519
	case algHS256, algHS384, algHS512:
		return famHMAC
	}
	return famNone
}

// verifyKey is one parsed key, ready to check signatures. Exactly one of
// the key fields is set, matching fam.
type verifyKey struct {
	kid    string
	alg    alg // the JWK's "alg" when it named one; the token must use it
	fam    family
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	secret []byte
}

// usableFor reports whether k may check a signature made with a.
func (k *verifyKey) usableFor(a alg) bool {
	return a.family() == k.fam && (k.alg == algInvalid || k.alg == a)
}

// jwsHeader is the protected header. Only the fields Portico acts on are
// read; "jku", "x5u", "jwk" and "x5c" are ignored on purpose (keys come
// only from the configured JWKS or secret, never from the token).
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// token is a compact JWS split into its parts. It is not yet verified.
type token struct {
	alg          alg
	kid          string
	signingInput string // header "." payload, as received
	payload      string // base64url, decoded only after verification
	sig          []byte
}

var (
	errSegments  = errors.New("token is not three dot-separated segments")
	errEncoding  = errors.New("token segment is not unpadded base64url")
	errHeader    = errors.New("token header is not a JSON object")
	errCrit      = errors.New("token header has a crit parameter")
	errAlg       = errors.New("token alg is not supported")
	errSignature = errors.New("signature does not verify")
)

// b64 is strict: no padding, no stray bits in the last character, so every
// token has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// parseToken splits and decodes a compact JWS (RFC 7515 §7.1) without
// checking the signature. It never panics on any input.
func parseToken(raw string) (token, error) {
	var t token
	i := strings.IndexByte(raw, '.')
	if i < 0 {
		return t, errSegments
	}
	j := strings.IndexByte(raw[i+1:], '.')
	if j < 0 {
		return t, errSegments
	}
	j += i + 1
	if strings.IndexByte(raw[j+1:], '.') >= 0 {
		return t, errSegments // five parts: a JWE, or junk
	}
	hdrB64, payB64, sigB64 := raw[:i], raw[i+1:j], raw[j+1:]
	if hdrB64 == "" || payB64 == "" || sigB64 == "" {
		return t, errSegments
	}
	var hbuf [256]byte
	hdr := hbuf[:0]
	if n := b64.DecodedLen(len(hdrB64)); n > len(hbuf) {
		hdr = make([]byte, 0, n)
	}
	hdr, err := b64.AppendDecode(hdr, []byte(hdrB64))
	if err != nil {
		return t, errEncoding
	}
	hdr = bytes.TrimSpace(hdr)
	if len(hdr) == 0 || hdr[0] != '{' {
		return t, errHeader
	}
	var h jwsHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return t, errHeader
	}
	if len(h.Crit) > 0 {
		return t, errCrit // RFC 7515 §4.1.11: no extension is understood
	}
	t.alg = parseAlg(h.Alg)
	if t.alg == algInvalid {
		return t, errAlg
	}
	t.sig, err = b64.DecodeString(sigB64)
	if err != nil {
		return t, errEncoding
	}
	t.kid = h.Kid
	t.signingInput = raw[:j]
	t.payload = payB64
	return t, nil
}

// verify checks t's signature with k. The caller has already checked that
// k.usableFor(t.alg).
func (t *token) verify(k *verifyKey) error {
	if !k.usableFor(t.alg) {
		return errAlg
	}
	if t.alg == algEdDSA {
		if len(t.sig) != ed25519.SignatureSize || !ed25519.Verify(k.ed, []byte(t.signingInput), t.sig) {
			return errSignature
		}
		return nil
	}
	var sum [sha512.Size]byte
	h := t.alg.hash()
	digest := sum[:h.Size()]
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256([]byte(t.signingInput))
		copy(digest, s[:])
	case crypto.SHA384:
		s := sha512.Sum384([]byte(t.signingInput))
		copy(digest, s[:])
	default:
		s := sha512.Sum512([]byte(t.signingInput))
		copy(digest, s[:])
	}
	switch k.fam {
	case famRSA:
		var err error
		if t.alg >= algPS256 && t.alg <= algPS512 {
			err = rsa.VerifyPSS(k.rsa, h, digest, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		} else {
			err = rsa.VerifyPKCS1v15(k.rsa, h, digest, t.sig)
		}
		if err != nil {
			return errSignature
		}
		return nil
	case famP256, famP384, famP521:
		// RFC 7518 §3.4: R || S, each exactly the curve's byte length.
		n := (k.ec.Curve.Params().BitSize + 7) / 8
		if len(t.sig) != 2*n {
			return errSignature
		}
		r := new(big.Int).SetBytes(t.sig[:n])
		s := new(big.Int).SetBytes(t.sig[n:])
		if !ecdsa.Verify(k.ec, digest, r, s) {
			return errSignature
		}
		return nil
	case famHMAC:
		m := hmac.New(h.New, k.secret)
		m.Write([]byte(t.signingInput))
		var mb [sha512.Size]byte
		if !hmac.Equal(m.Sum(mb[:0]), t.sig) {
			return errSignature
		}
		return nil
	}
	return errAlg
}
