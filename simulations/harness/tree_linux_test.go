package harness

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestStartTreeStopsGrandchildren starts a program that forks two workers
// and exits never on its own (nginx's shape) and checks that Stop takes
// the workers down too.
func TestStartTreeStopsGrandchildren(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", `sleep 300 & echo $!; sleep 300 & echo $!; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var g Group
	defer g.Stop(5 * time.Second)
	p, err := g.StartTree("forker", cmd)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var workers []int
	for len(workers) < 2 && sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("worker pid %q: %v", sc.Text(), err)
		}
		workers = append(workers, pid)
	}
	if len(workers) < 2 {
		t.Fatalf("got worker pids %v, want 2 (%v)", workers, sc.Err())
	}
	g.Stop(5 * time.Second)
	if !p.Exited() {
		t.Fatal("the supervisor is still running after Stop")
	}
	for _, pid := range workers {
		err := Retry(t.Context(), 5*time.Second, 10*time.Millisecond, func() error {
			if running(pid) {
				return os.ErrExist
			}
			return nil
		})
		if err != nil {
			t.Errorf("worker %d still runs after Stop", pid)
		}
	}
}

// running reports whether pid exists and is not a zombie (an orphan that
// init has not reaped yet has stopped running).
func running(pid int) bool {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	st, err := p.Stat()
	return err == nil && st.State != "Z"
}
