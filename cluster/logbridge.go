package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogBridge returns an hclog.Logger whose output lands in logger, so the
// raft library logs through the component's slog logger. hclog writes one
// JSON object per line; each becomes one slog record.
func hclogBridge(name string, logger *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Info,
		JSONFormat: true,
		Output:     &slogWriter{logger: logger},
	})
}

type slogWriter struct{ logger *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			w.logger.Info(line)
			continue
		}
		level := slog.LevelInfo
		switch rec["@level"] {
		case "debug", "trace":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		msg, _ := rec["@message"].(string)
		attrs := make([]slog.Attr, 0, len(rec))
		for k, v := range rec {
			if !strings.HasPrefix(k, "@") {
				attrs = append(attrs, slog.Any(k, v))
			}
		}
		w.logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
	return len(p), nil
}
