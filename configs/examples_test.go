package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// The documented examples must stay valid.
func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	nodes, err := filepath.Glob("examples/cluster/*.yaml")
	if err != nil || len(nodes) == 0 {
		t.Fatalf("no cluster examples: %v", err)
	}
	for _, f := range nodes {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LoadNode(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "node.yaml" {
			if _, err := LoadNode(data); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		a, _, err := LoadAPI(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		a.ApplyDefaults("us-east-1")
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
