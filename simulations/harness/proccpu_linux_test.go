package harness

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestProcCPUStat checks ProcCPU's reading of a /proc/<pid>/stat, in a
// fake proc directory: the command name may hold spaces and parentheses.
func TestProcCPUStat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(pid int, stat string) {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// comm "a) b (c" as the kernel prints it; utime 250, stime 75.
	write(4242, "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 1000000 500 18446744073709551615"+
		" 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	write(4243, "4243 (x) S 1 2 3\n")
	proc, err := procfs.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := procCPU(proc, 4242); err != nil || got != 3250*time.Millisecond {
		t.Errorf("procCPU = %v, %v; want 3.25s (325 ticks of 100 Hz)", got, err)
	}
	if _, err := procCPU(proc, 4243); err == nil {
		t.Error("procCPU of a short stat line: no error")
	}
	if _, err := procCPU(proc, 4244); !gone(err) {
		t.Errorf("procCPU of a missing process: %v, want one that tells it is gone", err)
	}
}

// TestProcCPUGrows checks that the test process's own CPU time, read
// through its pid, grows over a busy loop of 50 ms, and by no more than
// every CPU could have given it meanwhile.
func TestProcCPUGrows(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	before, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	x := 0
	for time.Since(start) < 50*time.Millisecond {
		for i := range 10000 {
			x += i
		}
	}
	after, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	grew := after - before
	const tick = time.Second / 100 // the unit of /proc/<pid>/stat's times, as procfs takes them
	if limit := elapsed*time.Duration(runtime.NumCPU()) + 2*tick; grew <= 0 || grew > limit {
		t.Errorf("CPU time grew by %v over a %v busy loop, want more than 0 and at most %v (%d)", grew, elapsed, limit, x)
	}
	tree, err := TreeCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if tree < after {
		t.Errorf("TreeCPU = %v, less than the process's own %v", tree, after)
	}
}

// TestDescendants checks that the tree walk finds a child and a
// grandchild (a shell's background job, nginx's shape under StartTree).
func TestDescendants(t *testing.T) {
	t.Parallel()
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	sh := exec.Command("sh", "-c", `sleep 5 & echo $!; wait`)
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	grandchild := -1
	defer func() {
		if grandchild > 0 {
			syscall.Kill(grandchild, syscall.SIGKILL)
		}
		sh.Process.Kill()
		sh.Wait()
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("no grandchild pid from sh: %v", sc.Err())
	}
	if grandchild, err = strconv.Atoi(strings.TrimSpace(sc.Text())); err != nil {
		t.Fatalf("grandchild pid %q: %v", sc.Text(), err)
	}

	got, err := Descendants(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{child.Process.Pid, sh.Process.Pid, grandchild} {
		if !slices.Contains(got, pid) {
			t.Errorf("Descendants = %v, missing %d", got, pid)
		}
	}
	if _, err := TreeCPU(sh.Process.Pid); err != nil {
		t.Errorf("TreeCPU of the shell: %v", err)
	}
}
