package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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

// Median of xs; the mean of the middle two for an even count, 0 if empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianDuration is Median for durations.
func MedianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(Median(xs))
}

// Ratio is a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Round keeps n decimals, for readable JSON.
func Round(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}

// Micros is d in microseconds with two decimals, for readable JSON.
func Micros(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)*100) / 100
}

// FmtMicros prints microseconds to a tenth: "23.4µs".
func FmtMicros(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "µs" }

// FromMs is the inverse of Ms.
func FromMs(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// FmtLatency rounds to 10 µs, the precision wrk prints.
func FmtLatency(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

// Commas formats a rate as a whole number with thousands separators.
func Commas(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Header is what the drivers' JSON reports start with: when and where
// they ran, and what they measured. Embedded, its fields are the report's.
type Header struct {
	Time    time.Time `json:"time"`
	Machine Machine   `json:"machine"`
	Portico string    `json:"portico"`
	// Tree is `git describe --dirty` of the working tree the driver ran
	// in; the -portico binary may have been built from another.
	Tree string `json:"working_tree,omitempty"`
}

// NewHeader is the header of a report made now about the binary bin.
func NewHeader(bin string) Header {
	return Header{Time: time.Now().UTC(), Machine: ThisMachine(), Portico: bin, Tree: GitDescribe()}
}

// Publish prints rep's tables to w, stores rep as dir/<name>-<time>.json
// (WriteJSON) and prints where.
func Publish(w io.Writer, dir, name string, at time.Time, rep interface{ Print(io.Writer) }) error {
	rep.Print(w)
	path, err := WriteJSON(dir, name, at, rep)
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(w, "\nresults: %s\n", path)
	return nil
}
