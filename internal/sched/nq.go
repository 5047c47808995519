package sched

import "github.com/vsd/vsd/internal/service"

// neverQueue is nq (ipvs-semantics.md §5.6): the first eligible
// destination with no active connection wins at once; otherwise sed's rule
// (active + 1 over weight), ties to the first.
type neverQueue struct{ list destList }

func (s *neverQueue) Name() string                 { return "nq" }
func (s *neverQueue) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *neverQueue) Schedule(*service.Request) *service.Dest {
	var least *service.Dest
	var loh, lw int64
	for _, d := range s.list.load() {
		if d.Overloaded() {
			continue
		}
		w := int64(d.Weight())
		if w <= 0 {
			continue
		}
		active := d.Active.Load()
		if active == 0 {
			return d
		}
		doh := int64(active) + 1
		if least == nil || loh*w > doh*lw {
			least, loh, lw = d, doh, w
		}
	}
	return least
}
