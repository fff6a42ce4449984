package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// NotifyContext is cancelled by the first SIGINT or SIGTERM; stop
// restores the default handling.
func NotifyContext() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// SecondSignalKills restores the default signal handling once ctx ends:
// after the first Ctrl-C the driver cleans up; a second one kills it
// (and, on Linux, its children with it).
func SecondSignalKills(ctx context.Context, stop context.CancelFunc) {
	go func() {
		<-ctx.Done()
		stop()
	}()
}

// Executable returns the absolute path of the -portico binary, or an
// error if it is not an executable file.
func Executable(portico string) (string, error) {
	bin, err := filepath.Abs(portico)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("-portico %s is not an executable file (build it with make build)", portico)
	}
	return bin, nil
}

// ResultsDir is the -results flag, or simulations/results in the module
// root when it is empty.
func ResultsDir(flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(ModuleRoot(), "simulations", "results")
}

// TempDir creates a temporary directory named after pattern (as
// os.MkdirTemp). Call cleanup when the driver returns, with whether it
// failed: it keeps the directory if keep is set and logs where, or
// removes it, first logging hint if the run failed.
func TempDir(pattern string, keep bool, log *slog.Logger, hint string) (dir string, cleanup func(failed bool), err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	return dir, func(failed bool) {
		if keep {
			log.Info("kept the temporary directory", "dir", dir)
			return
		}
		if failed {
			log.Info(hint)
		}
		os.RemoveAll(dir)
	}, nil
}

// ModuleRoot is the nearest directory upward from the working directory
// holding a go.mod, or the working directory.
func ModuleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

// ParseFlags parses a driver's arguments with fs, whose name prefixes the
// message for stray arguments. When ok is false the driver returns code:
// 0 after -h, 2 after a bad flag or stray arguments.
func ParseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// Driver is a bench driver's command line: the flag set its options are
// registered on, the text printed before them, and, for a driver that
// re-executes itself as its own backend (StartBackend), the backend.
type Driver struct {
	Flags   *flag.FlagSet // named after the driver; Main parses it
	Usage   string        // the usage line and a description, printed before the flags
	Backend http.Handler  // nil: the driver has no -serve-backend mode
}

// Main parses args and runs the driver; it returns the exit code. In the
// hidden -serve-backend mode (BackendFlag, with Backend) it serves the
// backend until SIGINT or SIGTERM. Otherwise it checks the options with
// validate (exit 2 on a problem) and calls bench with a context that the
// first SIGINT or SIGTERM cancels (a second one kills the driver) and a
// logger whose component is the driver's name (exit 1 on an error).
// validate and bench run after the flags are parsed: pass closures over
// the options, not method values (which copy them before).
func (d Driver) Main(args []string, stdout, stderr io.Writer, validate func() error, bench func(context.Context, *slog.Logger) error) int {
	fs, name := d.Flags, d.Flags.Name()
	fs.SetOutput(stderr)
	var serve *string
	if d.Backend != nil {
		serve = fs.String(BackendFlag, "", "hidden: run as the backend on PLAIN_ADDR,TLS_ADDR")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", strings.TrimRight(d.Usage, "\n"))
		visible := flag.NewFlagSet("", flag.ContinueOnError)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != BackendFlag {
				visible.Var(f.Value, f.Name, f.Usage)
			}
		})
		visible.SetOutput(fs.Output())
		visible.PrintDefaults()
	}
	if code, ok := ParseFlags(fs, args); !ok {
		return code
	}

	ctx, stop := NotifyContext()
	defer stop()
	if serve != nil && *serve != "" {
		if err := ServeBackend(ctx, *serve, d.Backend, stdout); err != nil {
			fmt.Fprintf(stderr, "%s backend: %v\n", name, err)
			return 1
		}
		return 0
	}
	SecondSignalKills(ctx, stop)
	if err := validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", name)
	if err := bench(ctx, log); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// Session is what a driver holds while one benchmark runs: a temporary
// directory and the group of every process it starts.
type Session struct {
	Dir     string
	Procs   *Group
	cancel  context.CancelFunc
	cleanup func(failed bool)
}

// stopGrace is how long End lets the processes exit after SIGTERM; a
// node's own shutdown grace in Layout is 2 s.
const stopGrace = 5 * time.Second

// Begin bounds ctx by budget (its cause says so) and creates the
// temporary directory name-* (see TempDir for keep and hint). Call End
// when the benchmark returns.
func Begin(ctx context.Context, name string, budget time.Duration, keep bool, log *slog.Logger, hint string) (context.Context, *Session, error) {
	dir, cleanup, err := TempDir(name+"-", keep, log, hint)
	if err != nil {
		return ctx, nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, budget, fmt.Errorf("benchmark took longer than its %v budget", budget))
	return ctx, &Session{Dir: dir, Procs: &Group{}, cancel: cancel, cleanup: cleanup}, nil
}

// End stops every process of the session, then removes (or keeps) the
// temporary directory; failed says whether the benchmark failed.
func (s *Session) End(failed bool) {
	s.Procs.Stop(stopGrace)
	s.cancel()
	s.cleanup(failed)
}

// ChoosePrefix is the loopback /24 of a cluster of n nodes: flag (the
// -ip-prefix option) when it is set and every address is free there, else
// a free one drawn by PickPrefix(first, n).
func ChoosePrefix(flag string, first, n int) (string, error) {
	if flag == "" {
		return PickPrefix(first, n)
	}
	if err := CanBind(flag, n); err != nil {
		return "", fmt.Errorf("-ip-prefix %s: %w", flag, err)
	}
	return flag, nil
}
