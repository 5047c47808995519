package sched

import "github.com/vsd/vsd/internal/service"

// Peeker is implemented by every scheduler New makes. Peek returns the
// destination Schedule would return for r at this moment, and changes
// nothing: no cursor or current weight moves (rr, wrr), no cache entry is
// added, replaced or touched (lblc, lblcr). So, as long as no other
// connection is scheduled and no destination changes in between, the next
// Schedule for r returns the same destination. It is for explaining
// decisions (vsadm --explain), not for the packet path.
//
// twos draws at random: its Peek is one draw, and Schedule makes a new
// one, so the two may differ.
type Peeker interface {
	Peek(r *service.Request) *service.Dest
}

// Every scheduler is a Peeker.
var (
	_ Peeker = (*roundRobin)(nil)
	_ Peeker = (*weightedRoundRobin)(nil)
	_ Peeker = (*leastConn)(nil)
	_ Peeker = (*weightedLeastConn)(nil)
	_ Peeker = (*shortestExpectedDelay)(nil)
	_ Peeker = (*neverQueue)(nil)
	_ Peeker = (*failOver)(nil)
	_ Peeker = (*overflow)(nil)
	_ Peeker = (*twoChoices)(nil)
	_ Peeker = (*sourceHash)(nil)
	_ Peeker = (*destHash)(nil)
	_ Peeker = (*maglev)(nil)
	_ Peeker = (*lblc)(nil)
	_ Peeker = (*lblcr)(nil)
	_ Peeker = noScheduler{}
)

// Peek: rr's cursor is read, not moved.
func (s *roundRobin) Peek(*service.Request) *service.Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.nextLocked(); idx >= 0 {
		return s.dests[idx]
	}
	return nil
}

// Peek runs wrr's own walk and puts the cursor and the current weight
// back, all under the scheduler's lock: no worker ever sees the moved
// state, and the answer is by construction what Schedule would give.
// (The walk writes nothing else: the gcd and maximum weight only change
// in Update.)
func (s *weightedRoundRobin) Peek(*service.Request) *service.Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, cw := s.cl, s.cw
	d := s.scheduleLocked()
	s.cl, s.cw = cl, cw
	return d
}

// The schedulers below keep no state that Schedule changes: they read an
// immutable destination list or table and the destinations' counters, so
// Schedule itself is the peek.

func (s *leastConn) Peek(r *service.Request) *service.Dest             { return s.Schedule(r) }
func (s *weightedLeastConn) Peek(r *service.Request) *service.Dest     { return s.Schedule(r) }
func (s *shortestExpectedDelay) Peek(r *service.Request) *service.Dest { return s.Schedule(r) }
func (s *neverQueue) Peek(r *service.Request) *service.Dest            { return s.Schedule(r) }
func (s *failOver) Peek(r *service.Request) *service.Dest              { return s.Schedule(r) }
func (s *overflow) Peek(r *service.Request) *service.Dest              { return s.Schedule(r) }
func (s *sourceHash) Peek(r *service.Request) *service.Dest            { return s.Schedule(r) }
func (s *destHash) Peek(r *service.Request) *service.Dest              { return s.Schedule(r) }
func (s *maglev) Peek(r *service.Request) *service.Dest                { return s.Schedule(r) }
func (noScheduler) Peek(*service.Request) *service.Dest                { return nil }

// Peek of twos is one random draw (the global generator advances, the
// scheduler has no state of its own).
func (s *twoChoices) Peek(r *service.Request) *service.Dest { return s.Schedule(r) }

// Peek is lblc's Schedule without its writes: the cached server if it
// still qualifies (its last use is not refreshed), else wlc's choice (which
// Schedule would cache).
func (s *lblc) Peek(r *service.Request) *service.Dest {
	dests := s.list.load()
	c := &s.cache
	var cached *service.Dest
	c.mu.Lock()
	if e := c.getLocked(bucketOf(r.V6, &r.Dst), &r.Dst); e != nil {
		cached = e.val
	}
	c.mu.Unlock()
	if cached != nil && cached.Available() && cached.Weight() > 0 && !lblcOverloaded(cached, dests) {
		return cached
	}
	return weightedLeast(dests)
}

// Peek is lblcr's Schedule without its writes: the set's least loaded
// member if it is not overloaded, else wlc's choice (which Schedule would
// add to the set). Schedule's pruning of an old set's most loaded member
// happens after its pick, so it does not change the answer.
func (s *lblcr) Peek(r *service.Request) *service.Dest {
	dests := s.list.load()
	c := &s.cache
	var d *service.Dest
	found := false
	c.mu.Lock()
	if e := c.getLocked(bucketOf(r.V6, &r.Dst), &r.Dst); e != nil {
		found = true
		d = e.val.min()
	}
	c.mu.Unlock()
	if found && d != nil && !lblcOverloaded(d, dests) {
		return d
	}
	return weightedLeast(dests)
}
