package cache

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/maypok86/otter/v2"
)

// HeaderEpoch is the request header in which an edge node tells the
// regional node the highest flush sequence it knows for the stage. A
// regional node that knows less bypasses its lookup for that request, so a
// flush the edge has seen is never undone by a regional entry that predates
// it. Only other Portico nodes may send it: the pipeline must remove it
// from client requests at the edge, or clients could force origin fetches.
const HeaderEpoch = "X-Portico-Cache-Epoch"

// Flush is one invalidation of a stage's entries.
type Flush struct {
	// Seq orders flushes within a stage; it is unique per flush, and
	// applying a flush twice is harmless.
	Seq uint64
	// Prefix selects the entries by stage-relative path, on path-segment
	// boundaries: "/pets" matches "/pets", "/pets/" and "/pets/1", not
	// "/petshop"; a prefix ending in "/" matches what starts with it. ""
	// and "/" match the whole stage.
	Prefix string
}

// matches reports whether f covers path.
func (f Flush) matches(path string) bool {
	p := f.Prefix
	if p == "" || p == "/" || p == path {
		return true
	}
	if !strings.HasPrefix(path, p) {
		return false
	}
	return strings.HasSuffix(p, "/") || path[len(p)] == '/'
}

// flushState is what a stage knows of its flushes, swapped atomically.
type flushState struct {
	floor   uint64  // flushes at or below it are forgotten: treated as whole-stage
	epoch   uint64  // highest sequence known: floor or a flush
	flushes []Flush // sorted by Seq, all above floor, no duplicates
}

// invalidates reports whether an entry fetched at epoch for path is
// covered by a known flush.
func (fs *flushState) invalidates(epoch uint64, path string) bool {
	if epoch < fs.floor {
		return true
	}
	i, _ := slices.BinarySearchFunc(fs.flushes, epoch+1, func(f Flush, seq uint64) int {
		return cmp.Compare(f.Seq, seq)
	})
	for _, f := range fs.flushes[i:] {
		if f.matches(path) {
			return true
		}
	}
	return false
}

// with returns a state that also knows floor and flushes, and the flushes
// that were new to it.
func (fs *flushState) with(floor uint64, flushes []Flush) (*flushState, []Flush) {
	next := &flushState{floor: max(fs.floor, floor)}
	var added []Flush
	merged := make([]Flush, 0, len(fs.flushes)+len(flushes))
	merged = append(merged, fs.flushes...)
	for _, f := range flushes {
		if f.Seq <= fs.floor || slices.ContainsFunc(fs.flushes, func(g Flush) bool { return g.Seq == f.Seq }) {
			continue
		}
		merged = append(merged, f)
		added = append(added, f)
	}
	slices.SortFunc(merged, func(a, b Flush) int { return cmp.Compare(a.Seq, b.Seq) })
	merged = slices.CompactFunc(merged, func(a, b Flush) bool { return a.Seq == b.Seq })
	merged = slices.DeleteFunc(merged, func(f Flush) bool { return f.Seq <= next.floor })
	next.flushes = merged
	next.epoch = next.floor
	if n := len(merged); n > 0 {
		next.epoch = max(next.epoch, merged[n-1].Seq)
	}
	return next, added
}

// Epoch returns the highest flush sequence the stage knows: its floor or a
// flush. Entries record it when their fetch starts.
func (s *Stage) Epoch() uint64 { return s.flushes.Load().epoch }

// SetFlushes gives the stage its committed invalidations: every flush at or
// below floor is forgotten and acts as a whole-stage flush; flushes lists
// those above it. Flushes already known (from gossip) are kept. The new
// flushes take effect at lookup; entries are not deleted eagerly, so this is
// cheap enough to call on every state change.
func (s *Stage) SetFlushes(floor uint64, flushes []Flush) {
	s.update(floor, flushes)
}

// flush applies one flush, deleting the entries it covers when it is new.
func (s *Stage) flush(f Flush) {
	added := s.update(0, []Flush{f})
	st := s.store.Load()
	if len(added) == 0 || st == nil {
		return
	}
	for k, e := range st.All() {
		if e.record != nil || e.epoch >= f.Seq || !f.matches(e.path) {
			continue
		}
		// Re-checked atomically: a newer entry may have replaced it.
		st.ComputeIfPresent(k, func(cur *entry) (*entry, otter.ComputeOp) {
			if cur.record == nil && cur.epoch < f.Seq && f.matches(cur.path) {
				return nil, otter.InvalidateOp
			}
			return cur, otter.CancelOp
		})
	}
}

func (s *Stage) update(floor uint64, flushes []Flush) []Flush {
	for {
		cur := s.flushes.Load()
		next, added := cur.with(floor, flushes)
		if s.flushes.CompareAndSwap(cur, next) {
			return added
		}
	}
}

// flushed reports whether a known flush covers e.
func (s *Stage) flushed(e *entry) bool {
	return s.flushes.Load().invalidates(e.epoch, e.path)
}

// behind reports whether the request carries an epoch (HeaderEpoch) above
// the stage's: the caller knows a flush this node does not.
func (s *Stage) behind(h http.Header) bool {
	v := h[HeaderEpoch] // canonical: Get would only check that again
	if len(v) == 0 {
		return false
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	return err == nil && n > s.Epoch()
}
