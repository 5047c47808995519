package sched

import (
	"math/rand/v2"

	"github.com/vsd/vsd/internal/service"
)

// twoChoices is twos (ipvs-semantics.md §5.9): two weighted random picks
// among the eligible destinations; the second wins only when its overhead
// per weight is strictly lower.
type twoChoices struct{ list destList }

func (s *twoChoices) Name() string                 { return "twos" }
func (s *twoChoices) Update(dests []*service.Dest) { s.list.store(dests) }

func (s *twoChoices) Schedule(*service.Request) *service.Dest {
	dests := s.list.load()
	var total int64
	var fallback *service.Dest
	for _, d := range dests {
		if d.Overloaded() {
			continue
		}
		if w := d.Weight(); w > 0 {
			total += int64(w)
			fallback = d
		}
	}
	if fallback == nil {
		return nil
	}
	// Both draws are uniform in [0, total], inclusive.
	r1, r2 := rand.Int64N(total+1), rand.Int64N(total+1)
	var c1, c2 *service.Dest
	var w1, w2, oh1, oh2 int64
	for _, d := range dests {
		if d.Overloaded() {
			continue
		}
		w := int64(d.Weight())
		if w <= 0 {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && c1 == nil {
			c1, w1, oh1 = d, w, d.Overhead()
		}
		if r2 <= 0 && c2 == nil {
			c2, w2, oh2 = d, w, d.Overhead()
		}
		if c1 != nil && c2 != nil {
			break
		}
	}
	if c1 == nil {
		// Weights or flags changed between the two walks; the kernel
		// then keeps the last eligible destination of the first walk.
		c1, w1, oh1 = fallback, int64(fallback.Weight()), fallback.Overhead()
	}
	if c2 != nil && w2*oh1 > w1*oh2 {
		return c2
	}
	return c1
}
