package harness

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStatTicks(t *testing.T) {
	t.Parallel()
	// comm "a) b (c" as the kernel prints it; utime 250, stime 75.
	stat := "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 1000000 500 18446744073709551615\n"
	if got, err := statTicks(stat); err != nil || got != 325 {
		t.Errorf("statTicks = %d, %v; want 325", got, err)
	}
	if _, err := statTicks("4242 (x) S 1 2 3"); err == nil {
		t.Error("statTicks of a short line: no error")
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
	if limit := elapsed*time.Duration(runtime.NumCPU()) + 2*time.Second/time.Duration(clockHz()); grew <= 0 || grew > limit {
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
