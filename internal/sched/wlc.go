package sched

import "github.com/vsd/vsd/internal/service"

// weightedLeastConn is wlc (ipvs-semantics.md §5.4): the smallest
// overhead/weight, compared by 64-bit cross-multiplication; ties go to the
// first.
type weightedLeastConn struct{ list destList }

func (s *weightedLeastConn) Name() string                 { return "wlc" }
func (s *weightedLeastConn) Update(dests []*service.Dest) { s.list.store(dests) }
func (s *weightedLeastConn) Schedule(*service.Request) *service.Dest {
	return weightedLeast(s.list.load())
}
