package validate

import (
	"math/big"
	"testing"
)

// TestRatString: numeric bounds are written exactly, in scientific
// notation once they get long, never through float64.
func TestRatString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-1", "-1"},
		{"34.99", "34.99"},
		{"-0.5", "-0.5"},
		{"9007199254740993", "9007199254740993"},
		{"18446744073709551617", "18446744073709551617"},
		{"1e300", "1e300"},
		{"-1.8000000000000000000000001e308", "-1.8000000000000000000000001e308"},
		{"1e-300", "1e-300"},
		{"0.000000000000000000000000123", "1.23e-25"},
		{"123456789012345678901234567.5", "1.234567890123456789012345675e26"},
	}
	for _, tt := range tests {
		r, ok := new(big.Rat).SetString(tt.in)
		if !ok {
			t.Fatalf("bad test input %q", tt.in)
		}
		if got := ratString(r); got != tt.want {
			t.Errorf("ratString(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg..."},
		{"ééééé", 8, "éé..."}, // never splits a rune
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
