package sched

import "github.com/vsd/vsd/internal/service"

// leastConn is lc (ipvs-semantics.md §5.3): the eligible destination with
// the smallest overhead (256·active + inactive); ties go to the first.
type leastConn struct{ list destList }

func (s *leastConn) Name() string                 { return "lc" }
func (s *leastConn) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *leastConn) Schedule(*service.Request) *service.Dest {
	var least *service.Dest
	var loh int64
	for _, d := range s.list.load() {
		if d.Overloaded() || d.Weight() <= 0 {
			continue
		}
		if doh := d.Overhead(); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}
