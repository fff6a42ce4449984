package node

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// openAccessLog returns the access logger for "stdout", "stderr", a file
// path, or "off" (nil logger). Lines are buffered and flushed every 200 ms
// and at close, so logging does not cost a write(2) per request.
func openAccessLog(target string) (*slog.Logger, func(), error) {
	var out io.Writer
	var file *os.File
	switch target {
	case "off":
		return nil, func() {}, nil
	case "stdout", "":
		out = os.Stdout
	case "stderr":
		out = os.Stderr
	default:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open access log: %w", err)
		}
		out, file = f, f
	}
	bw := &bufferedWriter{w: bufio.NewWriterSize(out, 64<<10), done: make(chan struct{}), stopped: make(chan struct{})}
	go bw.flushLoop(200 * time.Millisecond)
	closeFn := func() {
		close(bw.done)
		<-bw.stopped
		bw.flush()
		if file != nil {
			file.Close()
		}
	}
	return slog.New(slog.NewJSONHandler(bw, nil)).With("component", "access"), closeFn, nil
}

type bufferedWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	done    chan struct{}
	stopped chan struct{}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedWriter) flush() {
	b.mu.Lock()
	b.w.Flush()
	b.mu.Unlock()
}

func (b *bufferedWriter) flushLoop(every time.Duration) {
	defer close(b.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.flush()
		}
	}
}
