package sched

import (
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// lblc is locality-based least connection (ipvs-semantics.md §5.13): a
// per-service cache maps the packet's destination IP to a real server.
// A cached server is used while it is AVAILABLE, has a weight and is not
// overloaded by lblc's rule (as in the kernel, the OVERLOAD flag is not
// looked at for a cached server); otherwise wlc picks one and the entry is
// created or replaced.
type lblc struct {
	list  destList
	cache localityCache[*service.Dest]
}

func newLBLC() *lblc {
	s := new(lblc)
	s.cache.init()
	return s
}

func (s *lblc) Name() string                 { return "lblc" }
func (s *lblc) Update(dests []*service.Dest) { s.list.store(dests) }

// GC runs one tick of cache expiry; see Cache.
func (s *lblc) GC(now clock.Time) { s.cache.GC(now) }

// SetExpiration sets lblc_expiration; see Cache.
func (s *lblc) SetExpiration(d time.Duration) { s.cache.SetExpiration(d) }

// Len returns the number of cache entries.
func (s *lblc) Len() int { return s.cache.Len() }

func (s *lblc) Schedule(r *service.Request) *service.Dest {
	dests := s.list.load()
	c := &s.cache
	b := bucketOf(r.V6, &r.Dst)
	var cached *service.Dest
	c.mu.Lock()
	if e := c.getLocked(b, &r.Dst); e != nil {
		e.lastuse = r.Now
		cached = e.val
	}
	c.mu.Unlock()
	if cached != nil && cached.Available() && cached.Weight() > 0 && !lblcOverloaded(cached, dests) {
		return cached
	}
	d := weightedLeast(dests)
	if d == nil {
		return nil
	}
	c.mu.Lock()
	switch e := c.getLocked(b, &r.Dst); {
	case e == nil:
		c.addLocked(b, &cacheEntry[*service.Dest]{addr: r.Dst, lastuse: r.Now, val: d})
	case e.val != d:
		// The kernel frees the old entry and hashes a new one.
		c.removeLocked(b, e)
		e.val, e.lastuse = d, r.Now
		c.addLocked(b, e)
	}
	c.mu.Unlock()
	return d
}
