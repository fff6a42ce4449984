package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/portico-gw/portico/configs"
)

// usageDays returns u's counts as plain maps, for comparisons.
func usageDays(u *Usage) map[usageKey]map[string]int64 {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := map[usageKey]map[string]int64{}
	for k, m := range u.days {
		out[k] = map[string]int64{}
		for d, n := range m {
			out[k][d] = n
		}
	}
	return out
}

// Old days are dropped once Keep moves past them, and a delta for a day
// before the latest Keep is not counted, whether it comes with that Keep or
// after it.
func TestUsageKeepsDaysFromKeep(t *testing.T) {
	t.Parallel()
	u := newUsage()
	u.apply(addUsage{Keep: "2024-01-01", Deltas: []UsageDelta{
		{Plan: "p", Key: "a", Day: "2024-01-01", N: 1},
		{Plan: "p", Key: "a", Day: "2024-01-02", N: 2},
		{Plan: "p", Key: "b", Day: "2024-01-01", N: 3},
	}})
	u.apply(addUsage{Keep: "2024-01-02", Deltas: []UsageDelta{
		{Plan: "p", Key: "a", Day: "2024-01-01", N: 10}, // before Keep
		{Plan: "p", Key: "a", Day: "2024-01-03", N: 4},
	}})
	u.apply(addUsage{Keep: "2024-01-01", Deltas: []UsageDelta{ // a writer's clock behind
		{Plan: "p", Key: "a", Day: "2024-01-01", N: 20}, // before the latest Keep
		{Plan: "p", Key: "a", Day: "2024-01-02", N: 5},
	}})
	want := map[usageKey]map[string]int64{{"p", "a"}: {"2024-01-02": 7, "2024-01-03": 4}}
	if got := usageDays(u); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage = %v, want %v", got, want)
	}
	if u.kept != "2024-01-02" {
		t.Fatalf("kept = %q, want 2024-01-02", u.kept)
	}
	if rows := u.Report("p", "", "2024-01-01", "2024-01-31"); !reflect.DeepEqual(rows, []UsageRow{
		{Key: "a", Day: "2024-01-02", Count: 7}, {Key: "a", Day: "2024-01-03", Count: 4},
	}) {
		t.Fatalf("report = %+v", rows)
	}
}

// A replica restored from a snapshot taken at any point of the log ends
// with the same usage as one that applied the whole log, even with a Keep
// that goes back, and the state the usage was snapshotted with restores
// beside it.
func TestUsageReplicasAgreeAcrossSnapshots(t *testing.T) {
	t.Parallel()
	log := []addUsage{
		{Keep: "2024-01-01", Deltas: []UsageDelta{{Plan: "p", Key: "a", Day: "2024-01-01", N: 1}, {Plan: "p", Key: "a", Day: "2024-01-03", N: 1}}},
		{Keep: "2024-01-03", Deltas: []UsageDelta{{Plan: "p", Key: "b", Day: "2024-01-03", N: 2}}},
		{Keep: "2024-01-02", Deltas: []UsageDelta{{Plan: "p", Key: "a", Day: "2024-01-02", N: 3}, {Plan: "p", Key: "a", Day: "2024-01-04", N: 3}}},
		{Keep: "2024-01-03", Deltas: []UsageDelta{{Plan: "p", Key: "c", Day: "2024-01-05", N: 4}}},
		{Keep: "2024-01-05", Deltas: []UsageDelta{
			{Plan: "p", Key: "c", Day: "2024-01-04", N: 100}, // before this Keep: dropped
			{Plan: "p", Key: "c", Day: "2024-01-05", N: 5},
			{Plan: "p", Key: "c", Day: "2024-01-06", N: 7},
			{Plan: "q", Key: "a", Day: "2024-01-06", N: 6}, // another plan, another key
		}},
		{Deltas: []UsageDelta{{Plan: "p", Key: "c", Day: "2024-01-01", N: 6}}}, // no Keep
	}
	var data [][]byte
	for _, e := range log {
		b, err := encode(entryAddUsage, e)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b)
	}
	applyFrom := func(f *fsm, from int) {
		for i := from; i < len(data); i++ {
			if r := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data[i]}); r != nil {
				t.Fatalf("entry %d: %v", i+1, r)
			}
		}
	}
	// What the log leaves: Sum counts the days from (inclusive) to to
	// (exclusive) of one plan's key.
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	sums := []struct {
		plan, key string
		from, to  time.Time
		want      int64
	}{
		{"p", "a", day(1), day(31), 0},
		{"p", "c", day(1), day(5), 0},
		{"p", "c", day(1), day(7), 16},
		{"p", "c", day(6), day(7), 7},
		{"p", "b", day(1), day(31), 0},
		{"q", "a", day(1), day(31), 6},
		{"q", "c", day(1), day(31), 0},
	}
	checkSums := func(name string, u *Usage) {
		t.Helper()
		for _, c := range sums {
			if got := u.Sum(c.plan, c.key, c.from, c.to); got != c.want {
				t.Errorf("%s: Sum(%s, %s, %s, %s) = %d, want %d",
					name, c.plan, c.key, c.from.Format(UsageDay), c.to.Format(UsageDay), got, c.want)
			}
		}
	}
	whole := newFSM()
	applyFrom(whole, 0)
	want := usageDays(whole.usage)
	checkSums("the whole log", whole.usage)
	state := configs.NewState()
	state.APIs = map[string]*configs.API{"ffffffffff": testAPI("ffffffffff")}
	state.Index = 1
	for cut := 0; cut <= len(data); cut++ {
		src := newFSMWith(state)
		for i := range cut {
			src.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data[i]})
		}
		f := restoredCopy(t, src)
		if !reflect.DeepEqual(f.State(), src.State()) {
			t.Errorf("restored from a snapshot after entry %d: state %+v, want %+v", cut, f.State(), src.State())
		}
		applyFrom(f, cut)
		if got := usageDays(f.usage); !reflect.DeepEqual(got, want) || f.usage.kept != whole.usage.kept {
			t.Errorf("restored from a snapshot after entry %d: %v (kept %q), want %v (kept %q)", cut, got, f.usage.kept, want, whole.usage.kept)
		}
		checkSums(fmt.Sprintf("restored from a snapshot after entry %d", cut), f.usage)
	}
}

// Snapshots from before the first day kept was recorded still restore,
// and pruning goes on from the restored counts: the first Keep after the
// restore is taken whatever it is, so one earlier than the counts keeps
// them (and counts its own days from it), and a later one drops the days
// before it.
func TestUsageRestoresSnapshotWithoutKept(t *testing.T) {
	t.Parallel()
	doc, err := json.Marshal(snapshotDoc{State: configs.NewState(), Usage: []usageRecord{{Plan: "p", Key: "a", Days: map[string]int64{"2024-01-02": 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("usage_kept")) {
		t.Fatalf("the old snapshot has usage_kept: %s", doc)
	}
	f := newFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(doc))); err != nil {
		t.Fatal(err)
	}
	if f.usage.kept != "" {
		t.Fatalf("kept = %q, want empty", f.usage.kept)
	}
	if got, want := usageDays(f.usage), (map[usageKey]map[string]int64{{"p", "a"}: {"2024-01-02": 3}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored usage = %v, want %v", got, want)
	}
	f.usage.apply(addUsage{Keep: "2024-01-01", Deltas: []UsageDelta{
		{Plan: "p", Key: "a", Day: "2023-12-31", N: 10}, // before Keep: dropped
		{Plan: "p", Key: "a", Day: "2024-01-01", N: 1},
		{Plan: "p", Key: "a", Day: "2024-01-02", N: 2},
	}})
	want := map[usageKey]map[string]int64{{"p", "a"}: {"2024-01-01": 1, "2024-01-02": 5}}
	if got := usageDays(f.usage); !reflect.DeepEqual(got, want) || f.usage.kept != "2024-01-01" {
		t.Fatalf("after an earlier Keep: %v (kept %q), want %v (kept 2024-01-01)", got, f.usage.kept, want)
	}
	f.usage.apply(addUsage{Keep: "2024-01-03"})
	if got := usageDays(f.usage); len(got) != 0 || f.usage.kept != "2024-01-03" {
		t.Fatalf("after a later Keep: %v (kept %q), want nothing kept from 2024-01-03", got, f.usage.kept)
	}
}

// The log refuses an API key whose value another key already has (a
// create retried after its first outcome was unknown lands a second key),
// on every replica: the key table could not be built with both.
func TestFSMKeyValuesUnique(t *testing.T) {
	t.Parallel()
	h1, h2 := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	key := func(id, hash string) putKey {
		return putKey{Key: &configs.APIKey{ID: id, Name: id, Hash: hash, Enabled: true}}
	}
	log := []logEntry{
		{entryPutKey, key("k1", h1)},
		{entryPutKey, key("k2", h1)},                  // 2: k1's value
		{entryPutKey, key("k2", strings.ToUpper(h1))}, // 3: the same, in other case
		{entryPutKey, key("k1", h1)},                  // an update of k1 itself
		{entryPutKey, key("k2", h2)},
		{entryPutKey, key("k1", h2)}, // 6: k2's value
		{entryDeleteKey, deleteByID{ID: "k1"}},
		{entryPutKey, key("k3", h1)}, // free again
	}
	s1, _, r1, _ := twoReplicas(t, log)
	for i, want := range []bool{false, true, true, false, false, true, false, false} {
		if failed := r1[i] != nil; failed != want {
			t.Errorf("entry %d (%s): result %v, want failure %v", i+1, log[i].t, r1[i], want)
		}
	}
	if len(s1.Keys) != 2 || s1.Keys["k2"] == nil || s1.Keys["k2"].Hash != h2 || s1.Keys["k3"] == nil || s1.Keys["k3"].Hash != h1 {
		j, _ := json.Marshal(s1.Keys)
		t.Fatalf("keys after the log: %s", j)
	}
	if s1.Index != uint64(len(log)) {
		t.Fatalf("index = %d, want %d", s1.Index, len(log))
	}
}
