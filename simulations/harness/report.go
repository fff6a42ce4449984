package harness

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	Go   string `json:"go"` // of the driver
}

// ThisMachine is the machine the driver runs on.
func ThisMachine() Machine {
	return Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
}

// GitDescribe names the working tree's commit (with -dirty), or "".
func GitDescribe() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", ModuleRoot(), "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// WriteJSON stores v, indented, as dir/<name>-<UTC time>.json and returns
// the file's path.
func WriteJSON(dir, name string, at time.Time, v any) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+"-"+at.Format("20060102-150405")+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// Table returns the tabwriter the drivers print their tables with; Flush
// it after the last row.
func Table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// Ms is d in milliseconds with three decimals, for readable JSON.
func Ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}
