package host

import "sort"

// ShardInfo is what the lineage logic needs to know about a shard.
type ShardInfo struct {
	ID             string
	Parent         string // "" when none
	AdjacentParent string // the second parent of a merge, "" otherwise
	Closed         bool   // the listing showed an ending sequence number
}

// Lineage decides when a shard may start: only after every parent that is
// still in the stream has been read to its end. It is plain logic with no
// I/O, driven by the stream runner:
//
//	Observe(shards)  after each ListShards (or ChildShards from GetRecords)
//	Started(id)      when a worker for id is launched
//	Finished(id)     when id has been read to its end (and SHARD_END stored)
//	Ready()          the shards to launch now
//
// A parent that is no longer listed (trimmed past retention) does not block
// its children: nothing of it can be read any more. A parent that is
// listed but not finished does, which keeps per-key order across splits
// and merges.
type Lineage struct {
	shards   map[string]ShardInfo
	started  map[string]bool
	finished map[string]bool
	// unconfirmed holds children seen in ChildShards that name a parent
	// this lineage has never seen listed. Such a parent may be a fresh
	// shard (a split and a merge in quick succession), not a trimmed one, so
	// the child waits until a listing taken after it was seen says which.
	unconfirmed map[string]bool
}

// NewLineage returns empty lineage state.
func NewLineage() *Lineage {
	return &Lineage{shards: map[string]ShardInfo{}, started: map[string]bool{}, finished: map[string]bool{}, unconfirmed: map[string]bool{}}
}

// Observe records shards seen in a complete listing. Shards already known
// keep their state. Shards missing from a later listing are kept (a
// listing filtered or paged differently must not forget a running shard).
// A listing settles every unconfirmed child: a parent it does not contain
// is gone (trimmed) and no longer blocks.
func (l *Lineage) Observe(shards []ShardInfo) {
	l.add(shards)
	clear(l.unconfirmed)
}

// ObserveChildren records the ChildShards a closed shard reported. It
// returns true when a child names a parent never seen listed: the caller
// should list the stream again (Observe) before that child can start.
func (l *Lineage) ObserveChildren(kids []ShardInfo) (needListing bool) {
	l.add(kids)
	for _, k := range kids {
		for _, p := range []string{k.Parent, k.AdjacentParent} {
			if _, known := l.shards[p]; p != "" && !known {
				l.unconfirmed[k.ID] = true
				needListing = true
			}
		}
	}
	return needListing
}

func (l *Lineage) add(shards []ShardInfo) {
	for _, s := range shards {
		if _, ok := l.shards[s.ID]; !ok {
			l.shards[s.ID] = s
		}
	}
}

// Forget drops a shard that was trimmed from the stream; its children no
// longer wait for it.
func (l *Lineage) Forget(id string) { delete(l.shards, id) }

// Started marks id as launched.
func (l *Lineage) Started(id string) { l.started[id] = true }

// Stopped marks a started shard as no longer running without having
// finished (its lease was handed off or lost): it is Ready again.
func (l *Lineage) Stopped(id string) { delete(l.started, id) }

// IsStarted reports whether id is running here.
func (l *Lineage) IsStarted(id string) bool { return l.started[id] }

// Finished marks id as read to its end.
func (l *Lineage) Finished(id string) { l.finished[id] = true }

// IsFinished reports whether id was read to its end.
func (l *Lineage) IsFinished(id string) bool { return l.finished[id] }

// Ready returns, sorted, the shards that are known, not started and whose
// known parents have all finished.
func (l *Lineage) Ready() []string {
	var out []string
	for id, s := range l.shards {
		if l.started[id] || l.finished[id] || l.unconfirmed[id] {
			continue
		}
		if l.blocks(s.Parent) || l.blocks(s.AdjacentParent) {
			continue
		}
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (l *Lineage) blocks(parent string) bool {
	if parent == "" {
		return false
	}
	_, known := l.shards[parent]
	return known && !l.finished[parent]
}

// Pending returns the number of known shards not yet finished.
func (l *Lineage) Pending() int {
	n := 0
	for id := range l.shards {
		if !l.finished[id] {
			n++
		}
	}
	return n
}
