package field

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()
	var d Duration
	if err := json.Unmarshal([]byte(`"1m30s"`), &d); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if d.D() != 90*time.Second {
		t.Fatalf("D() = %v, want 1m30s", d.D())
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(b) != `"1m30s"` {
		t.Fatalf("Marshal = %s, want \"1m30s\"", b)
	}
}

func TestDurationEmptyIsZero(t *testing.T) {
	t.Parallel()
	d := Duration(time.Second)
	if err := json.Unmarshal([]byte(`""`), &d); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if d != 0 {
		t.Fatalf("d = %v, want 0", d.D())
	}
}

func TestDurationRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		fragment string
	}{
		{"a number", `5`, `duration must be a string such as "5s" or "5m"`},
		{"a list", `["5s"]`, `duration must be a string such as "5s" or "5m"`},
		{"not a duration", `"soon"`, `invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Duration
			err := json.Unmarshal([]byte(tt.doc), &d)
			if err == nil || !strings.Contains(err.Error(), tt.fragment) {
				t.Fatalf("Unmarshal(%s) = %v, want an error containing %q", tt.doc, err, tt.fragment)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	if got := (Error{Field: "routes[0].key", Message: "is required"}).Error(); got != "routes[0].key: is required" {
		t.Errorf("with a field: %q", got)
	}
	if got := (Error{Message: "is required"}).Error(); got != "is required" {
		t.Errorf("without a field: %q", got)
	}
}

func TestErrorsJoins(t *testing.T) {
	t.Parallel()
	var err error = &Errors{Errors: []Error{
		{Field: "name", Message: "is required"},
		{Message: "the document is empty"},
		{Field: "waf.ip_deny[2]", Message: `invalid CIDR "x"`},
	}}
	want := `name: is required; the document is empty; waf.ip_deny[2]: invalid CIDR "x"`
	if got := err.Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
