package cluster

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// stdlogBridge returns a standard library *log.Logger whose lines land in
// logger, for serf and memberlist, which take a *log.Logger. Both write
// "[LEVEL] lib: message"; the level becomes the slog level and lib the
// "lib" attribute. This is the one place their logs are bridged.
func stdlogBridge(logger *slog.Logger) *log.Logger {
	return log.New(stdlogWriter{logger: logger}, "", 0)
}

type stdlogWriter struct{ logger *slog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		level, lib, msg := parseStdlogLine(line)
		if !w.logger.Enabled(context.Background(), level) {
			continue
		}
		if lib != "" {
			w.logger.LogAttrs(context.Background(), level, msg, slog.String("lib", lib))
		} else {
			w.logger.LogAttrs(context.Background(), level, msg)
		}
	}
	return len(p), nil
}

// parseStdlogLine splits "[WARN] memberlist: Was able to connect ..." into
// its level, library and message. Lines without the prefix log at info.
func parseStdlogLine(line string) (slog.Level, string, string) {
	level := slog.LevelInfo
	rest := strings.TrimSpace(line)
	if strings.HasPrefix(rest, "[") {
		if tag, after, ok := strings.Cut(rest[1:], "]"); ok {
			switch strings.ToUpper(tag) {
			case "TRACE", "DEBUG":
				level = slog.LevelDebug
			case "INFO":
				level = slog.LevelInfo
			case "WARN", "WARNING":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			rest = strings.TrimSpace(after)
		}
	}
	for _, lib := range []string{"memberlist", "serf"} {
		if after, ok := strings.CutPrefix(rest, lib+": "); ok {
			return level, lib, after
		}
	}
	return level, "", rest
}
