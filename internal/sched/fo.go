package sched

import "github.com/vsd/vsd/internal/service"

// failOver is fo (ipvs-semantics.md §5.7): the non-OVERLOAD destination
// with the highest weight (> 0); ties go to the first.
type failOver struct{ list destList }

func (s *failOver) Name() string                 { return "fo" }
func (s *failOver) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *failOver) Schedule(*service.Request) *service.Dest {
	var best *service.Dest
	var hw int32
	for _, d := range s.list.load() {
		if d.Overloaded() {
			continue
		}
		if w := d.Weight(); w > hw {
			best, hw = d, w
		}
	}
	return best
}
