package sched

import (
	"slices"
	"sync"

	"github.com/vsd/vsd/internal/service"
)

// weightedRoundRobin is wrr (ipvs-semantics.md §5.2).
//
// State, all guarded by mu: cl is the list position of the current
// destination (-1 = list head), cw the current weight, mw the maximum
// weight less (di−1), di the gcd of the positive weights. Update recomputes
// di and mw from the weights, puts cl back to the head and adjusts cw;
// Schedule walks from cl for a non-OVERLOAD destination with weight ≥ cw,
// lowering cw by di at each end of the list:
//
//	cw = mw ──end of list──► cw −= di ──…──► cw ≤ 0 ──► cw = mw (new cycle)
type weightedRoundRobin struct {
	mu    sync.Mutex
	dests []*service.Dest // guarded by mu
	cl    int             // guarded by mu
	cw    int             // guarded by mu
	mw    int             // guarded by mu
	di    int             // guarded by mu
}

func (s *weightedRoundRobin) Name() string { return "wrr" }

func (s *weightedRoundRobin) Update(dests []*service.Dest) {
	nd := slices.Clone(dests)
	g, maxW := 0, 0
	for _, d := range nd {
		w := int(d.Weight())
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		maxW = max(maxW, w)
	}
	if g == 0 {
		g = 1
	}
	s.mu.Lock()
	s.dests, s.cl, s.di = nd, -1, g
	s.mw = maxW - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
	s.mu.Unlock()
}

func (s *weightedRoundRobin) Schedule(*service.Request) *service.Dest {
	s.mu.Lock()
	d := s.scheduleLocked()
	s.mu.Unlock()
	return d
}

// scheduleLocked is the kernel's wrr walk; s.mu must be held.
func (s *weightedRoundRobin) scheduleLocked() *service.Dest {
	if s.mw == 0 {
		return nil
	}
	const none = -2
	last, stop := s.cl, none
	lastPass, restarted := false, false
	i := s.cl
	for {
		for i++; i < len(s.dests); i++ {
			d := s.dests[i]
			if !d.Overloaded() && int(d.Weight()) >= s.cw {
				s.cl = i
				return d
			}
			if i == stop {
				s.cl = i
				return nil // all overloaded
			}
		}
		i = -1 // back at the list head
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// A pass over all destinations for weight ≥ 1 already
			// failed: either the previous pass was the last one, or
			// the scan started at the head.
			if lastPass || last == -1 {
				s.cl = -1
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			// The first pass for weight ≥ 1 covered only the
			// destinations after last; finish with those up to it.
			stop = last
		}
	}
}
