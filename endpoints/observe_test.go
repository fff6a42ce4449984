package endpoints

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/portico-gw/portico/cache"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	reg := prometheus.NewRegistry()
	src := newSource(buildState(t, apiDef{id: "proxyapi01", def: proxyAPI, stages: prod(map[string]string{
		"backend": strings.TrimPrefix(b.URL, "http://"),
	})}))
	h := newRegional(t, src, func(c *Config) { c.Registerer = reg }).Handler()

	call(t, h, "GET", "proxyapi01", "/prod/items/1", nil, nil)     // 200 via backend
	call(t, h, "GET", "proxyapi01", "/prod/items/2", nil, nil)     // 200 via backend
	call(t, h, "GET", "proxyapi01", "/prod/missing-var", nil, nil) // 500
	call(t, h, "GET", "proxyapi01", "/prod//x", nil, nil)          // 400, before the stage resolves
	call(t, h, "GET", "nosuchapi1", "/prod/items/1", nil, nil)     // 404, unknown host

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	get := func(name, apiID, stage string) *dto.Metric {
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["api_id"] == apiID && labels["stage"] == stage {
					return m
				}
			}
		}
		t.Fatalf("no %s{api_id=%q,stage=%q}", name, apiID, stage)
		return nil
	}
	tests := []struct {
		name, api, stage string
		want             float64
	}{
		{"portico_Count", "proxyapi01", "prod", 3},
		{"portico_5XXError", "proxyapi01", "prod", 1},
		{"portico_4XXError", "proxyapi01", "prod", 0},
		{"portico_Count", "", "", 2},
		{"portico_4XXError", "", "", 2},
		{"portico_5XXError", "", "", 0},
	}
	for _, tc := range tests {
		if got := get(tc.name, tc.api, tc.stage).GetCounter().GetValue(); got != tc.want {
			t.Errorf("%s{api_id=%q,stage=%q} = %v, want %v", tc.name, tc.api, tc.stage, got, tc.want)
		}
	}
	if n := get("portico_Latency", "proxyapi01", "prod").GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("Latency samples %d, want 3", n)
	}
	if n := get("portico_IntegrationLatency", "proxyapi01", "prod").GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("IntegrationLatency samples %d, want 2 (only backend calls)", n)
	}
	m := get("portico_Count", "proxyapi01", "prod")
	for _, l := range m.GetLabel() {
		if l.GetName() == "api_name" && l.GetValue() != "proxied" {
			t.Errorf("api_name %q", l.GetValue())
		}
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	var buf syncBuffer
	src := newSource(buildState(t, apiDef{id: "proxyapi01", def: proxyAPI, stages: prod(map[string]string{
		"backend": strings.TrimPrefix(b.URL, "http://"),
	})}))
	h := newRegional(t, src, func(c *Config) { c.AccessLog = slog.New(slog.NewJSONHandler(&buf, nil)) }).Handler()

	w := call(t, h, "PUT", "proxyapi01", "/prod/items/9?q=1", nil, strings.NewReader("x"))
	call(t, h, "GET", "nosuchapi1", "/prod/items/9", nil, nil)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"msg":        "request",
		"request_id": w.Header().Get(headerRequestID),
		"api":        "proxyapi01",
		"stage":      "prod",
		"route":      "ANY /items/{id}",
		"method":     "PUT",
		"path":       "/prod/items/9",
		"status":     float64(200),
		"client":     "192.0.2.7",
		"bytes":      float64(w.Body.Len()),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, rec[k], rec[k], v)
		}
	}
	for _, k := range []string{"latency_ms", "integration_latency_ms"} {
		if v, ok := rec[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, rec[k])
		}
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["status"] != float64(404) || rec["api"] != "" || rec["request_id"] == "" {
		t.Errorf("unknown host record: %v", rec)
	}
}

// TestPanicBecomes500 checks the recover step: a panicking route answers
// 500 JSON, is logged, and the endpoint keeps serving.
func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	src := newSource(buildState(t, apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)}))
	g := newRegional(t, src)
	// Swap a panicking handler into the compiled route, as a bug in a
	// later pipeline step would behave.
	st := g.table.Load().apis["helloapi01"].stages["prod"]
	st.router.root.literal["hello"].methods[mGET].handler = panicky{}
	w := call(t, g.Handler(), "GET", "helloapi01", "/prod/hello", nil, nil)
	if w.Code != 500 || errBody(t, w).Message != errInternal.message {
		t.Fatalf("status %d body %q", w.Code, w.Body.String())
	}
	if w := call(t, g.Handler(), "GET", "helloapi01", "/prod/admin", nil, nil); w.Code != 200 {
		t.Errorf("after a panic: status %d", w.Code)
	}
}

// TestCacheCountersSurviveSeriesDeletion: a stage's cache counters are
// resolved once, yet counts still reach /metrics after retain deleted the
// stage's cache series (an API rename replaces its label set while the
// cache keeps the stage).
func TestCacheCountersSurviveSeriesDeletion(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	hits := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "portico_CacheHitCount" {
				for _, mm := range f.GetMetric() {
					return mm.GetCounter().GetValue()
				}
			}
		}
		return -1 // no series
	}
	m.stage("api0000001", "old-name", "prod")
	obs := m.cacheObserver("edge").Stage("api0000001", "prod")
	obs.Lookup(cache.Hit)
	obs.Lookup(cache.Hit)
	if got := hits(); got != 2 {
		t.Fatalf("hits before the rename = %v, want 2", got)
	}
	m.stage("api0000001", "new-name", "prod")
	m.retain(map[[3]string]bool{{"api0000001", "new-name", "prod"}: true})
	if got := hits(); got != -1 {
		t.Fatalf("hits right after retain = %v, want the series deleted", got)
	}
	obs.Lookup(cache.Hit)
	if got := hits(); got != 1 {
		t.Fatalf("hits after the rename = %v, want 1 (counted on a live series)", got)
	}
}
