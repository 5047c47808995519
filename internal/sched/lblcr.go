package sched

import (
	"slices"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// lblcr is locality-based least connection with replication
// (ipvs-semantics.md §5.14): the cache maps a destination IP to a set of
// real servers. The set's weighted-least-loaded member serves while it is
// not overloaded by lblc's rule; otherwise wlc picks a server from the
// whole service and it joins the set. A set with several members that has
// not changed for the expiration time loses its weighted-most-loaded
// member (one per expiration period: removing a member counts as a
// change).
type lblcr struct {
	list  destList
	cache localityCache[destSet]
}

// destSet is the server set of one lblcr entry.
type destSet struct {
	members []*service.Dest // newest first (the kernel adds at the head)
	lastmod clock.Time      // last insertion or removal
}

func newLBLCR() *lblcr {
	s := new(lblcr)
	s.cache.init()
	return s
}

func (s *lblcr) Name() string                 { return "lblcr" }
func (s *lblcr) Update(dests []*service.Dest) { s.list.store(dests) }

// GC runs one tick of cache expiry; see Cache.
func (s *lblcr) GC(now clock.Time) { s.cache.GC(now) }

// SetExpiration sets lblcr_expiration; see Cache.
func (s *lblcr) SetExpiration(d time.Duration) { s.cache.SetExpiration(d) }

// Len returns the number of cache entries.
func (s *lblcr) Len() int { return s.cache.Len() }

// min is the weighted-least-loaded member: the first AVAILABLE member with
// a weight starts, later AVAILABLE ones replace it on a strictly lower
// overhead/weight; OVERLOAD members are skipped.
func (set *destSet) min() *service.Dest {
	var least *service.Dest
	var loh, lw int64
	i := 0
	for ; i < len(set.members); i++ {
		d := set.members[i]
		if d.Overloaded() {
			continue
		}
		if w := d.Weight(); w > 0 && d.Available() {
			least, loh, lw = d, d.Overhead(), int64(w)
			i++
			break
		}
	}
	if least == nil {
		return nil
	}
	for ; i < len(set.members); i++ {
		d := set.members[i]
		if d.Overloaded() {
			continue
		}
		doh, w := d.Overhead(), int64(d.Weight())
		if loh*w > doh*lw && d.Available() {
			least, loh, lw = d, doh, w
		}
	}
	return least
}

// max is the weighted-most-loaded member with a weight.
func (set *destSet) max() *service.Dest {
	var most *service.Dest
	var moh, mw int64
	i := 0
	for ; i < len(set.members); i++ {
		d := set.members[i]
		if w := d.Weight(); w > 0 {
			most, moh, mw = d, d.Overhead(), int64(w)
			i++
			break
		}
	}
	if most == nil {
		return nil
	}
	for ; i < len(set.members); i++ {
		d := set.members[i]
		doh, w := d.Overhead(), int64(d.Weight())
		if moh*w < doh*mw && w > 0 {
			most, moh, mw = d, doh, w
		}
	}
	return most
}

// insert adds d at the head unless it is already a member.
func (set *destSet) insert(d *service.Dest, now clock.Time) {
	if slices.Contains(set.members, d) {
		return
	}
	set.members = slices.Insert(set.members, 0, d)
	set.lastmod = now
}

func (set *destSet) erase(d *service.Dest, now clock.Time) {
	if i := slices.Index(set.members, d); i >= 0 {
		set.members = slices.Delete(set.members, i, i+1)
		set.lastmod = now
	}
}

func (s *lblcr) Schedule(r *service.Request) *service.Dest {
	dests := s.list.load()
	c := &s.cache
	b := bucketOf(r.V6, &r.Dst)
	c.mu.Lock()
	e := c.getLocked(b, &r.Dst)
	if e == nil {
		c.mu.Unlock()
		d := weightedLeast(dests)
		if d == nil {
			return nil
		}
		c.mu.Lock()
		if e = c.getLocked(b, &r.Dst); e == nil {
			e = &cacheEntry[destSet]{addr: r.Dst, lastuse: r.Now}
			c.addLocked(b, e)
		}
		e.val.insert(d, r.Now)
		c.mu.Unlock()
		return d
	}
	e.lastuse = r.Now
	set := &e.val
	d := set.min()
	if len(set.members) > 1 && r.Now.Sub(set.lastmod) > time.Duration(c.expiration.Load()) {
		if m := set.max(); m != nil {
			set.erase(m, r.Now)
		}
	}
	c.mu.Unlock()
	if d != nil && !lblcOverloaded(d, dests) {
		return d
	}
	if d = weightedLeast(dests); d == nil {
		return nil
	}
	c.mu.Lock()
	// The entry may have been collected meanwhile; the kernel's insert
	// into a dying entry is lost too.
	if e = c.getLocked(b, &r.Dst); e != nil {
		e.val.insert(d, r.Now)
	}
	c.mu.Unlock()
	return d
}
