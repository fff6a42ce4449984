package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// ErrNoProcCPU is what the process CPU functions return off Linux: they
// read /proc.
var ErrNoProcCPU = errors.New("process CPU times are read from /proc, which needs Linux")

// ProcCPU returns the user+system CPU time process pid, all its threads,
// has used so far: utime and stime of /proc/<pid>/stat, read with procfs
// (ProcStat.CPUTime, in the 100 Hz ticks the node's own
// process_cpu_seconds_total assumes).
func ProcCPU(pid int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, ErrNoProcCPU
	}
	proc, err := defaultProcFS()
	if err != nil {
		return 0, err
	}
	return procCPU(proc, pid)
}

// defaultProcFS is /proc, opened once.
var defaultProcFS = sync.OnceValues(procfs.NewDefaultFS)

// procCPU is ProcCPU of process pid in proc, a proc file system (a fake
// one in tests).
func procCPU(proc procfs.FS, pid int) (time.Duration, error) {
	p, err := proc.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat of process %d: %w", pid, err)
	}
	return time.Duration(math.Round(st.CPUTime() * float64(time.Second))), nil
}

// Descendants returns the pids of process pid's living descendants,
// children before grandchildren, from /proc/<pid>/task/<tid>/children (a
// child is listed under the thread that forked it). A descendant that
// exits meanwhile may be left out, with its own children.
func Descendants(pid int) ([]int, error) {
	if runtime.GOOS != "linux" {
		return nil, ErrNoProcCPU
	}
	var found []int
	seen := map[int]bool{pid: true}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		kids, err := children(queue[0])
		if err != nil {
			if queue[0] != pid && gone(err) {
				continue
			}
			return nil, err
		}
		for _, k := range kids {
			if !seen[k] {
				seen[k] = true
				found = append(found, k)
				queue = append(queue, k)
			}
		}
	}
	return found, nil
}

// children lists the children of every thread of process pid.
func children(pid int) ([]int, error) {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(taskDir + "/" + t.Name() + "/children")
		if gone(err) {
			if _, serr := os.Stat(taskDir + "/" + t.Name()); serr == nil {
				return nil, fmt.Errorf("%w (the kernel lacks CONFIG_PROC_CHILDREN)", err)
			}
			continue // the thread has exited
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			k, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%s/%s/children: bad pid %q", taskDir, t.Name(), f)
			}
			kids = append(kids, k)
		}
	}
	return kids, nil
}

// TreeCPU returns the CPU time process pid and its living descendants
// (Descendants) have used so far: ProcCPU summed. What a descendant used
// is lost from the sum once it exits, so two readings compare well only
// while the tree keeps its processes, as a server's does under load.
func TreeCPU(pid int) (time.Duration, error) {
	kids, err := Descendants(pid)
	if err != nil {
		return 0, err
	}
	total, err := ProcCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, k := range kids {
		cpu, err := ProcCPU(k)
		if gone(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += cpu
	}
	return total, nil
}

// gone reports whether err says a process or thread no longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
