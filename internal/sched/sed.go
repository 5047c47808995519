package sched

import "github.com/vsd/vsd/internal/service"

// shortestExpectedDelay is sed (ipvs-semantics.md §5.5): wlc with
// overhead = active + 1 (inactive connections are ignored).
type shortestExpectedDelay struct{ list destList }

func (s *shortestExpectedDelay) Name() string                 { return "sed" }
func (s *shortestExpectedDelay) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *shortestExpectedDelay) Schedule(*service.Request) *service.Dest {
	dests := s.list.load()
	var least *service.Dest
	var loh, lw int64
	i := 0
	for ; i < len(dests); i++ {
		d := dests[i]
		if d.Overloaded() {
			continue
		}
		if w := d.Weight(); w > 0 {
			least, loh, lw = d, int64(d.Active.Load())+1, int64(w)
			i++
			break
		}
	}
	if least == nil {
		return nil
	}
	for ; i < len(dests); i++ {
		d := dests[i]
		if d.Overloaded() {
			continue
		}
		doh, w := int64(d.Active.Load())+1, int64(d.Weight())
		if loh*w > doh*lw {
			least, loh, lw = d, doh, w
		}
	}
	return least
}
