package endpoints

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// logAccess writes the request's access log record: one line per request
// with a JSON handler. The keys are stable; log pipelines parse them.
func (g *Gateway) logAccess(r *http.Request, ex *exchange, elapsed time.Duration) {
	l := g.accessLog
	if l == nil || !l.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	var apiID, stage string
	if ex.api != nil {
		apiID = ex.api.id
	}
	if ex.stage != nil {
		stage = ex.stage.name
	}
	path, _ := requestPath(r)
	client := r.RemoteAddr
	if host, _, err := net.SplitHostPort(client); err == nil {
		client = host
	}
	l.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", ex.id),
		slog.String("api", apiID),
		slog.String("stage", stage),
		slog.String("route", routeKey(ex)),
		slog.String("method", r.Method),
		slog.String("path", path),
		slog.Int("status", ex.status),
		slog.Float64("latency_ms", ms(elapsed)),
		slog.Float64("integration_latency_ms", ms(ex.integDur)),
		slog.String("client", client),
		slog.Int64("bytes", ex.bytes),
	)
}
