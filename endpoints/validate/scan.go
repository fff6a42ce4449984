package validate

import "strconv"

// Limits enforced on a body before it is decoded (see the package doc).
const (
	// MaxDepth is the deepest nesting of arrays and objects accepted.
	// encoding/json stops at 10000; real documents stay far below 512.
	MaxDepth = 512
	// MaxNumberLen is the longest number literal accepted, in bytes.
	// A float64 needs at most 24 (strconv.FormatFloat 'g', -1).
	MaxNumberLen = 256
	// MaxExponent bounds the exponent of a number literal. float64 spans
	// 1e-324 to 1e308; big.Rat.SetString costs grow fast beyond that.
	MaxExponent = 400
)

// scanLimits makes one pass over b and reports the first place where b
// breaks a limit. It does not check that b is JSON: bytes outside
// strings that the decoder would reject are skipped, and the decoder
// reports them afterwards.
func scanLimits(b []byte) *Failure {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++ // skip the escaped byte, which may be a quote
				}
			}
		case c == '[' || c == '{':
			depth++
			if depth > MaxDepth {
				return bodyFailure("body:depth", "nesting depth exceeds "+strconv.Itoa(MaxDepth)+" at offset "+strconv.Itoa(i))
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case c == '-' || ('0' <= c && c <= '9'):
			start := i
			for i < len(b) && numberByte(b[i]) {
				i++
			}
			if f := checkNumber(b[start:i], start); f != nil {
				return f
			}
			i-- // the loop steps past the number's last byte
		}
	}
	return nil
}

// numberByte reports whether c can be part of a JSON number literal.
func numberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// checkNumber applies MaxNumberLen and MaxExponent to the literal num
// found at offset off.
func checkNumber(num []byte, off int) *Failure {
	at := " at offset " + strconv.Itoa(off)
	if len(num) > MaxNumberLen {
		return bodyFailure("body:number", "number"+at+" exceeds "+strconv.Itoa(MaxNumberLen)+" bytes")
	}
	for i, c := range num {
		if c != 'e' && c != 'E' {
			continue
		}
		exp := 0
		for _, d := range num[i+1:] {
			if d == '+' || d == '-' {
				continue // a misplaced sign is the decoder's to report
			}
			if d < '0' || d > '9' {
				break
			}
			if exp = exp*10 + int(d-'0'); exp > MaxExponent {
				return bodyFailure("body:number", "number"+at+" has an exponent beyond ±"+strconv.Itoa(MaxExponent))
			}
		}
		break
	}
	return nil
}
