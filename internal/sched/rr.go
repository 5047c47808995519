package sched

import (
	"slices"
	"sync"

	"github.com/vsd/vsd/internal/service"
)

// roundRobin is rr (ipvs-semantics.md §5.1).
//
// The cursor is the list position of the last destination picked, or -1
// for the list head. A scan starts after the cursor and wraps, visiting
// every destination once; the first eligible one is picked and becomes the
// cursor. When the remembered destination leaves the list the cursor moves
// to its nearest surviving predecessor (the head if there is none), as the
// kernel's del_dest callback does.
type roundRobin struct {
	mu    sync.Mutex
	dests []*service.Dest // guarded by mu
	pos   int             // guarded by mu; index into dests, -1 = head
}

func (s *roundRobin) Name() string { return "rr" }

func (s *roundRobin) Update(dests []*service.Dest) {
	nd := slices.Clone(dests)
	s.mu.Lock()
	pos := -1
	for i := s.pos; i >= 0; i-- {
		if j := slices.Index(nd, s.dests[i]); j >= 0 {
			pos = j
			break
		}
	}
	s.dests, s.pos = nd, pos
	s.mu.Unlock()
}

func (s *roundRobin) Schedule(*service.Request) *service.Dest {
	s.mu.Lock()
	idx := s.nextLocked()
	if idx < 0 {
		s.mu.Unlock()
		return nil
	}
	s.pos = idx
	d := s.dests[idx]
	s.mu.Unlock()
	return d
}

// nextLocked is the position of the destination the next Schedule picks,
// -1 if none is eligible; it changes nothing. s.mu must be held.
func (s *roundRobin) nextLocked() int {
	n := len(s.dests)
	for i := 1; i <= n; i++ {
		idx := s.pos + i
		if idx >= n {
			idx -= n
		}
		if d := s.dests[idx]; !d.Overloaded() && d.Weight() > 0 {
			return idx
		}
	}
	return -1
}
