package service

import (
	"sync"
	"sync/atomic"
)

// StatShards is how many independent copies of each counter a Stats
// keeps. Worker i writes shard i mod StatShards, so workers on different
// CPUs do not share the cache line they write per packet (the kernel keeps
// per-CPU counters for the same reason).
const StatShards = 16

// Shard says which copy of the counters a writer uses. A writer that is
// the only one of its shard (Shared false) adds with a plain load and
// store, no locked instruction; writers that share a shard add atomically.
type Shard struct {
	Index  int
	Shared bool
}

func add(c *atomic.Uint64, n uint64, shared bool) {
	if shared {
		c.Add(n)
		return
	}
	c.Store(c.Load() + n)
}

// statShard is one worker's copy of the counters, padded to a cache line.
type statShard struct {
	conns, inPkts, outPkts, inBytes, outBytes atomic.Uint64
	_                                         [64 - 5*8]byte
}

// Counters are plain totals of a Stats.
type Counters struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

func (c Counters) sub(o Counters) Counters {
	return Counters{c.Conns - o.Conns, c.InPkts - o.InPkts, c.OutPkts - o.OutPkts, c.InBytes - o.InBytes, c.OutBytes - o.OutBytes}
}

// Stats are 64-bit traffic counters of a service, a destination or the
// whole director (kernel: struct ip_vs_stats). Workers add to their own
// shard without locks; readers sum the shards. Zero does not write the
// workers' counters: it remembers the current totals as an offset that
// Sum subtracts, as the kernel does.
type Stats struct {
	shards [StatShards]statShard

	mu   sync.Mutex // guards zero (control plane only)
	zero Counters
}

// AddConn counts a scheduled connection.
func (s *Stats) AddConn(w Shard) { add(&s.shards[w.Index%StatShards].conns, 1, w.Shared) }

// AddIn counts one client-to-server packet of ipLen bytes.
func (s *Stats) AddIn(w Shard, ipLen int) {
	sh := &s.shards[w.Index%StatShards]
	add(&sh.inPkts, 1, w.Shared)
	add(&sh.inBytes, uint64(ipLen), w.Shared)
}

// AddOut counts one server-to-client packet of ipLen bytes.
func (s *Stats) AddOut(w Shard, ipLen int) {
	sh := &s.shards[w.Index%StatShards]
	add(&sh.outPkts, 1, w.Shared)
	add(&sh.outBytes, uint64(ipLen), w.Shared)
}

// AddCounters adds a worker's accumulated counts (a batch's worth) in one
// go: at most five additions, none for a zero count.
func (s *Stats) AddCounters(w Shard, c *Counters) {
	sh := &s.shards[w.Index%StatShards]
	if c.Conns != 0 {
		add(&sh.conns, c.Conns, w.Shared)
	}
	if c.InPkts != 0 {
		add(&sh.inPkts, c.InPkts, w.Shared)
		add(&sh.inBytes, c.InBytes, w.Shared)
	}
	if c.OutPkts != 0 {
		add(&sh.outPkts, c.OutPkts, w.Shared)
		add(&sh.outBytes, c.OutBytes, w.Shared)
	}
}

// Raw returns the totals since the Stats was made (zeroing ignored): what
// a rate estimator samples.
func (s *Stats) Raw() Counters {
	var c Counters
	for i := range s.shards {
		sh := &s.shards[i]
		c.Conns += sh.conns.Load()
		c.InPkts += sh.inPkts.Load()
		c.OutPkts += sh.outPkts.Load()
		c.InBytes += sh.inBytes.Load()
		c.OutBytes += sh.outBytes.Load()
	}
	return c
}

// Shard returns the totals of one shard since the Stats was made.
func (s *Stats) Shard(i int) Counters {
	sh := &s.shards[i%StatShards]
	return Counters{sh.conns.Load(), sh.inPkts.Load(), sh.outPkts.Load(), sh.inBytes.Load(), sh.outBytes.Load()}
}

// Sum returns the totals since the last Zero.
func (s *Stats) Sum() Counters {
	raw := s.Raw()
	s.mu.Lock()
	z := s.zero
	s.mu.Unlock()
	return raw.sub(z)
}

// Zero makes Sum start again from 0 (ipvsadm -Z).
func (s *Stats) Zero() {
	raw := s.Raw()
	s.mu.Lock()
	s.zero = raw
	s.mu.Unlock()
}
