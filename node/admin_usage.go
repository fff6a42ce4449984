package node

import (
	"fmt"
	"net/http"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
)

// stageSettings is the part of a stage PATCH .../settings changes.
type stageSettings struct {
	Throttle       *configs.Throttle           `json:"throttle,omitempty"`
	RouteThrottles map[string]configs.Throttle `json:"route_throttles,omitempty"`
	WAF            *configs.WAF                `json:"waf,omitempty"`
}

// usageReport answers GET /v1/usage: the daily request counts of a
// plan's keys (one key's with ?key=), from..to inclusive, sorted by key
// then day. Days without requests are left out.
type usageReport struct {
	Plan  string             `json:"plan"`
	Key   string             `json:"key,omitempty"`
	From  string             `json:"from"`
	To    string             `json:"to"`
	Items []cluster.UsageRow `json:"items"`
	Total int64              `json:"total"`
	Index uint64             `json:"index"`
}

// Report ranges.
const (
	// defaultUsageDays is the report range without from (the last week).
	defaultUsageDays = 7
	// maxUsageDays is the longest report: what the cluster keeps.
	maxUsageDays = int(cluster.UsageRetention / (24 * time.Hour))
)

// --- usage ---

// usage reports a plan's daily counts (get-usage). Without from and to
// it covers the last 7 days, today (UTC) included; a range spans at most
// 90 days. Only voters hold the counts: elsewhere it answers 503 (the
// CLI adds ?consistent, which forwards the request to the leader).
func (ad *Admin) usage(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var problems []configs.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, configs.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	day := func(field string) (time.Time, bool) {
		v := q.Get(field)
		if v == "" {
			return time.Time{}, false
		}
		t, err := time.Parse(cluster.UsageDay, v)
		if err != nil {
			bad(field, "%q is not a date such as 2006-01-02", v)
		}
		return t, err == nil
	}
	plan := q.Get("plan")
	if plan == "" {
		bad("plan", "is required (a usage plan id)")
	}
	to, ok := day("to")
	if !ok {
		to = ad.now().UTC().Truncate(24 * time.Hour)
	}
	from, ok := day("from")
	if !ok {
		from = to.AddDate(0, 0, 1-defaultUsageDays)
	}
	if len(problems) == 0 {
		switch days := int(to.Sub(from)/(24*time.Hour)) + 1; {
		case to.Before(from):
			bad("to", "must not be before from (%s)", from.Format(cluster.UsageDay))
		case days > maxUsageDays:
			bad("from", "the range spans %d days; at most %d (usage is kept %d days)", days, maxUsageDays, maxUsageDays)
		}
	}
	if len(problems) > 0 {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid usage report request", fields: problems}
	}
	st := ad.store.State()
	if st.Plans[plan] == nil {
		return 0, nil, fieldError(http.StatusNotFound, "plan", "no usage plan has the id %q", plan)
	}
	u := ad.store.Usage()
	if u == nil {
		return 0, nil, errorf(http.StatusServiceUnavailable, "usage counts are held by control nodes only: ask a control node, or add ?consistent to have this node forward the request")
	}
	rep := usageReport{Plan: plan, Key: q.Get("key"), From: from.Format(cluster.UsageDay), To: to.Format(cluster.UsageDay), Index: st.Index}
	rep.Items = u.Report(plan, rep.Key, rep.From, rep.To)
	for _, row := range rep.Items {
		rep.Total += row.Count
	}
	return http.StatusOK, rep, nil
}

// --- stage throttle and WAF ---

// patchStageSettings changes a stage's throttle, route throttles and WAF
// by a JSON merge patch over {throttle, route_throttles, waf}; null
// removes one (a route's throttle too: {"route_throttles": {"GET /x": null}}).
func (ad *Admin) patchStageSettings(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	return ad.updateStage(r, func(st *configs.State, s *configs.Stage) error {
		var next stageSettings
		if err := applyPatch(stageSettings{Throttle: s.Throttle, RouteThrottles: s.RouteThrottles, WAF: s.WAF}, patch, &next); err != nil {
			return err
		}
		if len(next.RouteThrottles) == 0 {
			next.RouteThrottles = nil
		}
		if next.WAF != nil {
			next.WAF.ApplyDefaults() // stored and shown as in force
		}
		s.Throttle, s.RouteThrottles, s.WAF = next.Throttle, next.RouteThrottles, next.WAF
		return invalid("stage settings", configs.ValidateStageAccess(s, deployedRoutes(st, s)))
	})
}
