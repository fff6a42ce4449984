package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/portico-gw/portico/configs"
)

// StartNodes runs `bin run --config files[i]` for every config, from dir,
// with each node's output in dir/logs/{name}.log, and waits (at most a
// minute) until every admin API answers /healthz and ready, unless nil,
// returns nil. It returns the nodes' processes, in the order of cfgs. A
// node that exits ends the wait at once with the tail of its log.
func StartNodes(ctx context.Context, procs *Group, bin, dir string, cfgs []configs.Node, files []string, ready func(context.Context) error) ([]*Proc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	logOf := func(name string) string { return filepath.Join(dir, "logs", name+".log") }
	running := make([]*Proc, len(cfgs))
	for i, cfg := range cfgs {
		logf, err := os.Create(logOf(cfg.Name))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "run", "--config", files[i])
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logf, logf
		running[i], err = procs.Start(cfg.Name, cmd)
		logf.Close() // the child holds its own descriptor
		if err != nil {
			return nil, err
		}
	}
	err := Retry(ctx, time.Minute, 50*time.Millisecond, func() error {
		for i, cfg := range cfgs {
			if running[i].Exited() {
				return Permanent(fmt.Errorf("%s exited (%v): %s", cfg.Name, running[i].Err(), ReadTail(logOf(cfg.Name))))
			}
			if err := healthz(ctx, cfg.Admin.Listen); err != nil {
				return fmt.Errorf("%s: %w", cfg.Name, err)
			}
		}
		if ready == nil {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return ready(rctx)
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the cluster: %w", err)
	}
	return running, nil
}

// healthz asks a node's admin API whether it is up. (Plain HTTP: package
// node's own tests use this harness, so it cannot import node.)
func healthz(ctx context.Context, admin string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+admin+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}
