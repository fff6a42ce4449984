package harness

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGroupPinsByName starts two sleeps, one named in Group.CPUs, and
// checks from /proc that the pinned one runs as itself (taskset executed
// it in place: the group's pid is sleep's) with the CPU list it was given,
// and that the other keeps the driver's CPUs.
func TestGroupPinsByName(t *testing.T) {
	t.Parallel()
	g := Group{CPUs: map[string]string{"pinned": "0"}}
	defer g.Stop(5 * time.Second)
	pinned, err := g.Start("pinned", exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	free, err := g.Start("free", exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	own := statusField(t, os.Getpid(), "Cpus_allowed_list")
	// taskset sets the affinity before it executes sleep; wait for the
	// exec to show (bounded).
	var comm string
	for range 100 {
		b, err := os.ReadFile(procPath(pinned.Cmd.Process.Pid, "comm"))
		if err != nil {
			t.Fatal(err)
		}
		if comm = strings.TrimSpace(string(b)); comm == "sleep" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if comm != "sleep" {
		t.Fatalf("pinned process is %q, want sleep executed in place by taskset", comm)
	}
	if got := statusField(t, pinned.Cmd.Process.Pid, "Cpus_allowed_list"); got != "0" {
		t.Errorf("pinned process may run on CPUs %q, want 0", got)
	}
	if got := statusField(t, free.Cmd.Process.Pid, "Cpus_allowed_list"); got != own {
		t.Errorf("unpinned process may run on CPUs %q, want the driver's %q", got, own)
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
	if err := Pin(exec.Command("true"), ""); err == nil {
		t.Fatal("Pin with no CPU list succeeded")
	}
}

func procPath(pid int, name string) string {
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// statusField returns a field of /proc/pid/status.
func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}
