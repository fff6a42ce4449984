package auth

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// This file builds the SigV4 canonical request exactly as AWS defines it
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)
// and as aws-sdk-go-v2's signer computes it for services other than S3:
//
//	METHOD \n
//	path, escaped once more (so "%20" becomes "%2520"; only S3 escapes once) \n
//	query pairs, each key and value decoded then AWS-escaped, sorted by key then value \n
//	"name:value\n" for each signed header (spaces trimmed and collapsed, repeats joined by ",") \n
//	signed header names \n
//	payload hash
//
// The path is not normalized (no dot-segment removal): the Go SDK signs the
// path as it sends it, and Portico refuses ambiguous paths before this step.

// requestTarget returns the raw path and query as the client sent them.
func requestTarget(r *http.Request) (path, query string) {
	u := r.RequestURI
	if u != "" && u[0] == '/' {
		path, query, _ = strings.Cut(u, "?")
		return path, query
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// queryParams are decoded query pairs in the order they came.
type queryParams []queryPair

type queryPair struct{ key, value string }

// parseQuery decodes a raw query the way url.ParseQuery does (which is what
// the Go SDK signs): pairs split at "&", then at the first "=", with "+"
// meaning a space; empty pairs, pairs with ";" and pairs that do not
// decode are dropped.
func parseQuery(raw string) queryParams {
	var q queryParams
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		q = append(q, queryPair{k, v})
	}
	return q
}

func (q queryParams) has(key string) bool {
	for _, p := range q {
		if p.key == key {
			return true
		}
	}
	return false
}

// single returns the value of key when it appears exactly once.
func (q queryParams) single(key string) (string, bool) {
	val, n := "", 0
	for _, p := range q {
		if p.key == key {
			val, n = p.value, n+1
		}
	}
	return val, n == 1
}

// awsEscape appends s with every byte but A-Z a-z 0-9 - . _ ~ (and "/" when
// keepSlash) percent-encoded in upper-case hex.
func awsEscape(dst []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keepSlash) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

// canonicalRequest appends the canonical request to dst. With presigned
// set, the X-Amz-Signature query parameter is left out.
func canonicalRequest(dst []byte, r *http.Request, rawPath string, q queryParams, presigned bool,
	headers []string, signedHeaders, payloadHash string) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	if rawPath == "" {
		rawPath = "/"
	}
	dst = awsEscape(dst, rawPath, true)
	dst = append(dst, '\n')
	dst = canonicalQuery(dst, q, presigned)
	dst = append(dst, '\n')
	for _, name := range headers {
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch {
		case name == "host":
			dst = appendTrimmed(dst, r.Host)
		default:
			vals := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
			if len(vals) == 0 && name == "content-length" && r.ContentLength > 0 {
				dst = strconv.AppendInt(dst, r.ContentLength, 10)
			}
			for i, v := range vals {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendTrimmed(dst, v)
			}
		}
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, signedHeaders...)
	dst = append(dst, '\n')
	return append(dst, payloadHash...)
}

// canonicalQuery appends the query pairs, escaped and sorted.
func canonicalQuery(dst []byte, q queryParams, presigned bool) []byte {
	if len(q) == 0 {
		return dst
	}
	var small [8]queryPair
	enc := small[:0]
	var buf []byte
	for _, p := range q {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		buf = awsEscape(buf[:0], p.key, false)
		k := string(buf)
		buf = awsEscape(buf[:0], p.value, false)
		enc = append(enc, queryPair{k, string(buf)})
	}
	slices.SortFunc(enc, func(a, b queryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range enc {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// appendTrimmed appends v without leading and trailing whitespace and with
// runs of spaces collapsed to one, as the AWS signers do.
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}
