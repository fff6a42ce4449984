package cluster

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Usage counts the requests of API keys per usage plan and UTC day. It is
// FSM state outside configs.State: followers do not need it (they do not
// serve usage reports, and the quota coordinator runs on the leader), so
// a usage write ships nothing to them and rebuilds no routing table. It is
// part of every snapshot.
//
// Quota windows (DAY, WEEK, MONTH, with offsets) all start at a UTC
// midnight, so the days are the one source of truth both for the usage
// report and for what a quota has used.
type Usage struct {
	mu   sync.RWMutex
	days map[usageKey]map[string]int64 // (plan, key) → "2006-01-02" → count
}

type usageKey struct{ plan, key string }

// UsageDay formats a day as the usage records name it.
const UsageDay = "2006-01-02"

// UsageRetention is how long daily counts are kept (API Gateway keeps 90
// days of usage).
const UsageRetention = 90 * 24 * time.Hour

// UsageDelta adds N requests of a key under a plan on a day.
type UsageDelta struct {
	Plan string `json:"plan"`
	Key  string `json:"key"`
	Day  string `json:"day"` // UsageDay
	N    int64  `json:"n"`
}

// addUsage is the log entry: deltas, and the first day to keep (older
// days are dropped; computed by the writer, never inside Apply).
type addUsage struct {
	Deltas []UsageDelta `json:"deltas"`
	Keep   string       `json:"keep,omitempty"`
}

func newUsage() *Usage { return &Usage{days: map[usageKey]map[string]int64{}} }

func (u *Usage) apply(e addUsage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range e.Deltas {
		k := usageKey{d.Plan, d.Key}
		m := u.days[k]
		if m == nil {
			m = map[string]int64{}
			u.days[k] = m
		}
		m[d.Day] += d.N
	}
	if e.Keep != "" {
		for k, m := range u.days {
			for day := range m {
				if day < e.Keep {
					delete(m, day)
				}
			}
			if len(m) == 0 {
				delete(u.days, k)
			}
		}
	}
}

// Sum returns the requests of a key under a plan on the days from (inclusive)
// to to (exclusive), both UTC midnights.
func (u *Usage) Sum(plan, key string, from, to time.Time) int64 {
	u.mu.RLock()
	defer u.mu.RUnlock()
	m := u.days[usageKey{plan, key}]
	var n int64
	lo, hi := from.UTC().Format(UsageDay), to.UTC().Format(UsageDay)
	for day, c := range m {
		if day >= lo && day < hi {
			n += c
		}
	}
	return n
}

// UsageRow is one key's requests on one day.
type UsageRow struct {
	Key   string `json:"key"`
	Day   string `json:"day"`
	Count int64  `json:"count"`
}

// Report lists the daily counts of a plan's keys (one key when key is not
// empty) on the days from..to inclusive ("2006-01-02"), sorted by key
// then day.
func (u *Usage) Report(plan, key, from, to string) []UsageRow {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := []UsageRow{}
	for k, m := range u.days {
		if k.plan != plan || (key != "" && k.key != key) {
			continue
		}
		for _, day := range slices.Sorted(maps.Keys(m)) {
			if day >= from && day <= to {
				out = append(out, UsageRow{Key: k.key, Day: day, Count: m[day]})
			}
		}
	}
	slices.SortFunc(out, func(a, b UsageRow) int {
		if a.Key != b.Key {
			if a.Key < b.Key {
				return -1
			}
			return 1
		}
		if a.Day < b.Day {
			return -1
		}
		if a.Day > b.Day {
			return 1
		}
		return 0
	})
	return out
}

// usageRecord is the snapshot form.
type usageRecord struct {
	Plan string           `json:"plan"`
	Key  string           `json:"key"`
	Days map[string]int64 `json:"days"`
}

func (u *Usage) records() []usageRecord {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]usageRecord, 0, len(u.days))
	for k, m := range u.days {
		out = append(out, usageRecord{Plan: k.plan, Key: k.key, Days: maps.Clone(m)})
	}
	return out
}

func (u *Usage) restore(recs []usageRecord) {
	days := make(map[usageKey]map[string]int64, len(recs))
	for _, r := range recs {
		days[usageKey{r.Plan, r.Key}] = r.Days
	}
	u.mu.Lock()
	u.days = days
	u.mu.Unlock()
}
