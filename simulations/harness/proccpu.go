package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoProcCPU is what the process CPU functions return off Linux: they
// read /proc.
var ErrNoProcCPU = errors.New("process CPU times are read from /proc, which needs Linux")

// ProcCPU returns the user+system CPU time process pid, all its threads,
// has used so far: utime and stime of /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, ErrNoProcCPU
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := statTicks(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks * int64(time.Second) / clockHz()), nil
}

// statTicks returns utime+stime, in clock ticks, from the text of a
// /proc/<pid>/stat: "pid (comm) state ppid ..." where comm may hold
// spaces and parentheses, so the fields are counted after the last ')'.
// utime and stime are fields 14 and 15, the 12th and 13th after it.
func statTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %.100q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad CPU time %q", v)
		}
		ticks += n
	}
	return ticks, nil
}

// clockHz is the unit of /proc/<pid>/stat's times, ticks per second:
// sysconf(_SC_CLK_TCK), which the C library takes from the AT_CLKTCK
// entry of the auxiliary vector the kernel hands every process (here read
// from /proc/self/auxv, native words). If that cannot be read, 100: the
// USER_HZ of every architecture Go runs Linux on.
var clockHz = sync.OnceValue(func() int64 {
	const atClkTck = 17
	b, _ := os.ReadFile("/proc/self/auxv")
	w := strconv.IntSize / 8
	word := func(b []byte) uint64 {
		if w == 8 {
			return binary.NativeEndian.Uint64(b)
		}
		return uint64(binary.NativeEndian.Uint32(b))
	}
	for ; len(b) >= 2*w; b = b[2*w:] {
		if word(b) == atClkTck {
			if hz := word(b[w:]); hz > 0 && hz <= 1e6 {
				return int64(hz)
			}
		}
	}
	return 100
})

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
