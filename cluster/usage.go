package cluster

import (
	"cmp"
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
	// kept is the latest Keep applied ("" before any): no day before it
	// is held. It is part of the snapshot, so every replica, restored or
	// not, holds the same.
	kept string
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

// apply adds the entry's deltas. Days before the first day to keep (the
// latest Keep so far) are dropped: the held ones once, when Keep moves on
// (once a day; not on every entry), and the entry's own deltas for them
// are skipped.
func (u *Usage) apply(e addUsage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e.Keep > u.kept {
		u.kept = e.Keep
		for k, m := range u.days {
			for day := range m {
				if day < u.kept {
					delete(m, day)
				}
			}
			if len(m) == 0 {
				delete(u.days, k)
			}
		}
	}
	for _, d := range e.Deltas {
		if d.Day < u.kept {
			continue
		}
		k := usageKey{d.Plan, d.Key}
		m := u.days[k]
		if m == nil {
			m = map[string]int64{}
			u.days[k] = m
		}
		m[d.Day] += d.N
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
		for day, c := range m {
			if day >= from && day <= to {
				out = append(out, UsageRow{Key: k.key, Day: day, Count: c})
			}
		}
	}
	slices.SortFunc(out, func(a, b UsageRow) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Day, b.Day))
	})
	return out
}

// usageRecord is the snapshot form.
type usageRecord struct {
	Plan string           `json:"plan"`
	Key  string           `json:"key"`
	Days map[string]int64 `json:"days"`
}

// records returns the snapshot form and the first day kept.
func (u *Usage) records() ([]usageRecord, string) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]usageRecord, 0, len(u.days))
	for k, m := range u.days {
		out = append(out, usageRecord{Plan: k.plan, Key: k.key, Days: maps.Clone(m)})
	}
	return out, u.kept
}

// restore replaces the counts with a snapshot's. kept is "" in snapshots
// from before it was recorded; the next entry's Keep sets it.
func (u *Usage) restore(recs []usageRecord, kept string) {
	days := make(map[usageKey]map[string]int64, len(recs))
	for _, r := range recs {
		days[usageKey{r.Plan, r.Key}] = r.Days
	}
	u.mu.Lock()
	u.days, u.kept = days, kept
	u.mu.Unlock()
}
