package auth

import (
	"sync"
	"time"
)

const replayShards = 16

// replaySet remembers the signatures of accepted requests until their
// time window closes, so a second use of one is refused. It is bounded:
// when a shard is full its oldest entry is dropped, which under a flood
// shortens the effective replay window instead of failing requests. It
// is per process; across nodes the time window is the bound.
type replaySet struct {
	perShard int
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu    sync.Mutex
	seen  map[[16]byte]int64 // key → expiry in Unix nanoseconds
	queue []replayEntry      // insertion order, which is nearly expiry order
	head  int
}

type replayEntry struct {
	key [16]byte
	exp int64
}

func newReplaySet(size int) *replaySet {
	per := max(size/replayShards, 1)
	s := &replaySet{perShard: per}
	for i := range s.shards {
		s.shards[i].seen = make(map[[16]byte]int64)
	}
	return s
}

// add records key until exp and reports whether it was new. Keys are the
// first 16 bytes of an HMAC-SHA256 signature: uniformly random to anyone
// without the secret, so they spread evenly and cannot be made to collide.
func (s *replaySet) add(key [16]byte, exp, now time.Time) bool {
	sh := &s.shards[key[0]%replayShards]
	n, e := now.UnixNano(), exp.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.expire(n)
	if old, ok := sh.seen[key]; ok && old > n {
		return false
	}
	for len(sh.seen) >= s.perShard && sh.head < len(sh.queue) {
		sh.drop()
	}
	sh.seen[key] = e
	sh.queue = append(sh.queue, replayEntry{key, e})
	return true
}

// expire drops entries from the front of the queue that have expired.
// Entries are appended in the order requests arrive, and expiry is the
// request's date plus the window, so the front is close to the oldest; an
// entry stuck behind a later one is dropped a little late, never early.
func (sh *replayShard) expire(now int64) {
	for sh.head < len(sh.queue) && sh.queue[sh.head].exp <= now {
		sh.drop()
	}
	if sh.head > 1024 && sh.head > len(sh.queue)/2 {
		n := copy(sh.queue, sh.queue[sh.head:])
		clear(sh.queue[n:])
		sh.queue = sh.queue[:n]
		sh.head = 0
	}
}

func (sh *replayShard) drop() {
	e := sh.queue[sh.head]
	if sh.seen[e.key] == e.exp {
		delete(sh.seen, e.key)
	}
	sh.head++
}

// len is the number of remembered keys, for tests.
func (s *replaySet) len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].seen)
		s.shards[i].mu.Unlock()
	}
	return n
}
