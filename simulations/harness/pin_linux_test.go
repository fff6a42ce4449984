package harness

import (
	"bufio"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// pinTarget is a CPU the test can pin to that differs from the driver's
// own set (own); the test is skipped where the driver has only one CPU,
// since a pinned process could not be told from an unpinned one there.
func pinTarget(t *testing.T) (cpu int, own []uint64) {
	t.Helper()
	cpus, err := AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skipf("the driver may use only CPU %v: a pinned process would look unpinned", cpus)
	}
	for _, c := range cpus {
		own = append(own, uint64(c))
	}
	return cpus[len(cpus)-1], own
}

// allowedCPUs is the CPU list of pid's affinity, from /proc.
func allowedCPUs(t *testing.T, pid int) []uint64 {
	t.Helper()
	p, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.NewStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st.CpusAllowedList
}

// TestGroupPlacesByName starts two sleeps, one placed on a CPU, and
// checks from /proc that the placed one runs as itself (taskset executed
// it in place: the group's pid is sleep's) on that CPU alone, and that the
// other keeps the driver's CPUs.
func TestGroupPlacesByName(t *testing.T) {
	t.Parallel()
	cpu, own := pinTarget(t)
	var g Group
	defer g.Stop(5 * time.Second)
	g.Place(strconv.Itoa(cpu), "pinned")
	g.Place("", "free") // no list: any CPU
	pinned, err := g.Start("pinned", exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	free, err := g.Start("free", exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	// taskset sets the affinity before it executes sleep; wait for the
	// exec to show (bounded).
	proc, err := procfs.NewProc(pinned.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var comm string
	for range 100 {
		if comm, err = proc.Comm(); err != nil {
			t.Fatal(err)
		}
		if comm == "sleep" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if comm != "sleep" {
		t.Fatalf("pinned process is %q, want sleep executed in place by taskset", comm)
	}
	if got := allowedCPUs(t, pinned.Cmd.Process.Pid); !slices.Equal(got, []uint64{uint64(cpu)}) {
		t.Errorf("pinned process may run on CPUs %v, want [%d]", got, cpu)
	}
	if got := allowedCPUs(t, free.Cmd.Process.Pid); !slices.Equal(got, own) {
		t.Errorf("unpinned process may run on CPUs %v, want the driver's %v", got, own)
	}
}

// TestStartTreePlacesWorkers checks that a placed program that forks
// workers (nginx's shape, under StartTree's supervisor) has its workers
// on the CPU too.
func TestStartTreePlacesWorkers(t *testing.T) {
	t.Parallel()
	cpu, _ := pinTarget(t)
	cmd := exec.Command("sh", "-c", `sleep 30 & echo $!; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var g Group
	defer g.Stop(5 * time.Second)
	g.Place(strconv.Itoa(cpu), "forker")
	if _, err := g.StartTree("forker", cmd); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the worker's pid: %v", err)
	}
	worker, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("worker pid %q: %v", line, err)
	}
	if got := allowedCPUs(t, worker); !slices.Equal(got, []uint64{uint64(cpu)}) {
		t.Errorf("worker may run on CPUs %v, want [%d]", got, cpu)
	}
}

func TestPinRefusesAStartedCommand(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := Pin(cmd, "0"); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("Pin of a started command: %v, want an error saying so", err)
	}
	fresh := exec.Command("true")
	if err := Pin(fresh, ""); err != nil || len(fresh.Args) != 1 {
		t.Fatalf("Pin with no CPU list: %v, args %q; want the command unchanged", err, fresh.Args)
	}
}
