package sched

import (
	"sync/atomic"

	"github.com/vsd/vsd/internal/service"
)

// destHash is dh (ipvs-semantics.md §5.11): 256 buckets filled round-robin
// over the list, one per destination per cycle (weight ignored), looked up
// by the packet's destination address. No fallback. Update publishes a new
// table through an atomic pointer; Schedule takes no lock.
type destHash struct {
	table atomic.Pointer[bucketTable]
}

func (s *destHash) Name() string { return "dh" }

func (s *destHash) Update(dests []*service.Dest) {
	t := new(bucketTable)
	if len(dests) > 0 {
		for i := range t {
			t[i] = dests[i%len(dests)]
		}
	}
	s.table.Store(t)
}

func (s *destHash) Schedule(r *service.Request) *service.Dest {
	t := s.table.Load()
	if t == nil {
		return nil
	}
	d := t[hash32(foldAddr(r.V6, &r.Dst), shBits)]
	if d == nil || !d.Available() || d.Weight() <= 0 || d.Overloaded() {
		return nil
	}
	return d
}
