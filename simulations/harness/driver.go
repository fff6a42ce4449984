package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
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
