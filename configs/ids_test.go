package configs

import (
	"regexp"
	"strings"
	"testing"
)

func TestIDShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() string
		re   string
	}{
		{"api", NewAPIID, `^[a-z0-9]{10}$`},
		{"deployment", NewDeploymentID, `^[a-z0-9]{6}$`},
		{"request", NewRequestID, `^[a-z0-9]{20}$`},
		{"plan", NewPlanID, `^[a-z0-9]{10}$`},
		{"key", NewKeyID, `^[a-z0-9]{10}$`},
		{"credential", NewCredentialID, `^PKIA[A-Z0-9]{16}$`},
	} {
		re := regexp.MustCompile(tc.re)
		for range 100 {
			if id := tc.new(); !re.MatchString(id) {
				t.Fatalf("%s id %q does not match %s", tc.name, id, tc.re)
			}
		}
	}
}

// TestRandomIDUnbiased counts each character over many draws. Taking a
// byte modulo 36 would favour the first 4 characters by 8 to 7 (an
// expected 11250 against 9844 here); the bound is 6 standard deviations.
func TestRandomIDUnbiased(t *testing.T) {
	for _, alphabet := range []string{idAlphabet, upperIDAlphabet} {
		const per = 10000
		s := randomID(per*len(alphabet), alphabet)
		for _, c := range alphabet {
			if n := strings.Count(s, string(c)); n < per-600 || n > per+600 {
				t.Errorf("%q drawn %d times in %d, want about %d", c, n, len(s), per)
			}
		}
	}
}
