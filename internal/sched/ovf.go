package sched

import "github.com/vsd/vsd/internal/service"

// overflow is ovf (ipvs-semantics.md §5.8): among destinations that are not
// OVERLOAD, have a weight and have no more active connections than their
// weight, the highest weight; ties go to the first.
type overflow struct{ list destList }

func (s *overflow) Name() string                 { return "ovf" }
func (s *overflow) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *overflow) Schedule(*service.Request) *service.Dest {
	var best *service.Dest
	var hw int32
	for _, d := range s.list.load() {
		w := d.Weight()
		if d.Overloaded() || w == 0 || d.Active.Load() > w {
			continue
		}
		if best == nil || w > hw {
			best, hw = d, w
		}
	}
	return best
}
