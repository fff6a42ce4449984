package validate

import (
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Message limits for schema failures.
const (
	// MaxCauses is how many leaf causes a message lists.
	MaxCauses = 5
	// maxCauseLen cuts one cause, which may quote a client string.
	maxCauseLen = 200
)

// printer renders the schema library's messages. Printers are safe for
// concurrent use; the library shares one the same way.
var printer = message.NewPrinter(language.English)

// schemaFailure turns the library's error tree into one message listing
// up to MaxCauses leaf causes, ordered by instance location so that the
// message does not depend on map iteration order inside the library.
func schemaFailure(ve *jsonschema.ValidationError) *Failure {
	var (
		first []*jsonschema.ValidationError // sorted by location, stable
		total int
	)
	walkLeaves(ve, func(leaf *jsonschema.ValidationError) {
		total++
		i := len(first)
		for i > 0 && pointerLess(leaf.InstanceLocation, first[i-1].InstanceLocation) {
			i--
		}
		if i == MaxCauses {
			return
		}
		first = slices.Insert(first, i, leaf)
		if len(first) > MaxCauses {
			first = first[:MaxCauses]
		}
	})
	if total == 0 {
		return bodyFailure("body:schema", "")
	}
	var (
		sb   strings.Builder
		rule string
	)
	for i, leaf := range first {
		loc, kw, msg := describe(leaf)
		if i == 0 {
			rule = "body:" + loc + ":" + kw
		} else {
			sb.WriteString("; ")
		}
		if !strings.HasPrefix(msg, kw+":") {
			msg = kw + ": " + msg
		}
		sb.WriteString(truncate(loc+": "+msg, maxCauseLen))
	}
	if total > len(first) {
		sb.WriteString(" (and " + strconv.Itoa(total-len(first)) + " more)")
	}
	return bodyFailure(rule, sb.String())
}

// pointerLess orders instance locations: a parent before its children,
// array indexes numerically, other tokens bytewise.
func pointerLess(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		if digits(a[i]) && digits(b[i]) && len(a[i]) != len(b[i]) {
			return len(a[i]) < len(b[i])
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// walkLeaves calls fn for every error without causes, depth first.
func walkLeaves(e *jsonschema.ValidationError, fn func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		fn(e)
		return
	}
	for _, c := range e.Causes {
		walkLeaves(c, fn)
	}
}

// describe returns a leaf's instance location as a JSON pointer ("(root)"
// for the whole document), the keyword that failed and the library's
// message.
func describe(e *jsonschema.ValidationError) (loc, keyword, msg string) {
	loc = "(root)"
	if len(e.InstanceLocation) > 0 {
		var sb strings.Builder
		for _, tok := range e.InstanceLocation {
			sb.WriteByte('/')
			sb.WriteString(escapeToken(tok))
		}
		loc = sb.String()
	}
	switch k := e.ErrorKind.(type) {
	case nil:
		return loc, "schema", "validation failed"
	case *kind.AdditionalProperties:
		// The library lists the names in map order; sort them so the
		// message is stable. The error value is ours to change.
		slices.Sort(k.Properties)
		keyword = "additionalProperties"
	case *kind.FalseSchema:
		keyword = "false"
	case *kind.Not:
		keyword = "not"
	default:
		if kp := k.KeywordPath(); len(kp) > 0 {
			keyword = kp[0]
		} else {
			keyword = "schema"
		}
	}
	if m, ok := exactMessage(e.ErrorKind); ok {
		return loc, keyword, m
	}
	return loc, keyword, e.ErrorKind.LocalizedString(printer)
}

// exactMessage words the kinds whose library message goes through
// float64 or localized digit grouping ("got 1×10³⁰⁰", "got 5,000") the
// same way, with the numbers written exactly.
func exactMessage(k jsonschema.ErrorKind) (string, bool) {
	switch k := k.(type) {
	case *kind.Minimum:
		return gotWant("minimum", ratString(k.Got), ratString(k.Want)), true
	case *kind.Maximum:
		return gotWant("maximum", ratString(k.Got), ratString(k.Want)), true
	case *kind.ExclusiveMinimum:
		return gotWant("exclusiveMinimum", ratString(k.Got), ratString(k.Want)), true
	case *kind.ExclusiveMaximum:
		return gotWant("exclusiveMaximum", ratString(k.Got), ratString(k.Want)), true
	case *kind.MultipleOf:
		return gotWant("multipleOf", ratString(k.Got), ratString(k.Want)), true
	case *kind.MinLength:
		return gotWant("minLength", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.MaxLength:
		return gotWant("maxLength", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.MinItems:
		return gotWant("minItems", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.MaxItems:
		return gotWant("maxItems", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.MinProperties:
		return gotWant("minProperties", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.MaxProperties:
		return gotWant("maxProperties", strconv.Itoa(k.Got), strconv.Itoa(k.Want)), true
	case *kind.UniqueItems:
		return "items at " + strconv.Itoa(k.Duplicates[0]) + " and " + strconv.Itoa(k.Duplicates[1]) + " are equal", true
	}
	return "", false
}

func gotWant(keyword, got, want string) string {
	return keyword + ": got " + got + ", want " + want
}

// ratString writes r exactly: as a decimal when short, otherwise in
// scientific notation with every significant digit. Numbers from JSON
// text are always finite decimals.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	var s string
	if r.IsInt() {
		s = r.Num().String()
	} else if n, exact := r.FloatPrec(); exact {
		s = r.FloatString(n)
	} else {
		f, _ := r.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if len(s) <= 24 {
		return s
	}
	return scientific(s)
}

// scientific rewrites a decimal string such as "-1000" or "0.00012" as
// "-1e3" or "1.2e-4" without losing digits.
func scientific(s string) string {
	sign := ""
	if s != "" && s[0] == '-' {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	digits := whole + frac
	exp := len(whole) - 1
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
		exp--
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0"
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	return sign + m + "e" + strconv.Itoa(exp)
}

// escapeToken escapes one JSON pointer reference token (RFC 6901).
func escapeToken(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
