package cluster

import (
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// walStore is raft-wal with one fix: raft-wal v0.4 still returns entries
// below FirstIndex after a head truncation while they sit in the open
// tail segment (it checks the tail before the index range). Raft treats
// FirstIndex as the start of the log, so a follower that is far behind
// must get the snapshot, not entries the log claims to have dropped.
type walStore struct {
	*wal.WAL
}

// GetLog implements raft.LogStore.
func (w walStore) GetLog(index uint64, log *raft.Log) error {
	first, err := w.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return w.WAL.GetLog(index, log)
}
