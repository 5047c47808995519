package conntrack

import (
	"time"
	"unsafe"

	"github.com/vsd/vsd/internal/clock"
)

// reapRun is the most buckets the reaper walks under one stripe lock.
// Consecutive buckets share a stripe (stripe = bucket >> stripeShift), so a
// run costs one lock round trip, and the chain heads of a run are loaded
// independently, which lets the CPU overlap their cache misses.
const reapRun = 64

// Reap walks the next `buckets` buckets after the reaper's rover (wrapping
// around) and frees every entry whose time is up, postponing templates that
// still control conns. Call it periodically with ReapBuckets(interval,
// pass) buckets; a full pass over the table visits every entry once.
// Returns the number of entries freed. It allocates nothing, starts nothing
// and may run concurrently with everything else (including another Reap).
func (t *Table) Reap(now clock.Time, buckets int) (freed int) {
	n := uint32(min(max(buckets, 0), len(t.buckets)))
	if n == 0 {
		return 0
	}
	start := t.rover.Add(n) - n
	nowT := ticksFloor(now)
	runMask := uint32(1)<<t.stripeShift - 1
	for i := uint32(0); i < n; {
		b := (start + i) & t.mask
		run := min(n-i, reapRun, runMask+1-b&runMask)
		s := t.stripeOf(b)
		s.mu.Lock()
		for j := uint32(0); j < run; j++ {
			freed += t.reapBucketLocked(s, b+j, nowT, now)
		}
		s.mu.Unlock()
		i += run
	}
	return freed
}

// reapBucketLocked frees the dead entries of bucket b; s is b's stripe,
// locked.
func (t *Table) reapBucketLocked(s *stripe, b, nowT uint32, now clock.Time) (freed int) {
	prev := &t.buckets[b]
	for idx := *prev; idx != 0; idx = *prev {
		e := t.at(idx)
		if t.deadLocked(e, nowT) && t.expireLocked(s, prev, idx, e, now) {
			freed++
			continue
		}
		prev = &e.next
	}
	return freed
}

// ReapBuckets returns how many buckets each Reap call should walk when
// Reap is called every `every` so that a full pass over the table takes
// about `pass` (the kernel expires each conn by its own timer; a pass of
// about 1 s keeps Unbind, and so the destination counters, within about a
// second of the real expiry). At least 1.
func (t *Table) ReapBuckets(every, pass time.Duration) int {
	if pass <= 0 || every >= pass {
		return len(t.buckets)
	}
	n := (int64(len(t.buckets))*int64(every) + int64(pass) - 1) / int64(pass)
	return int(max(n, 1))
}

// Sweep visits n buckets starting at bucket first (wrapping around), with
// one bucket's stripe lock held at a time. Dead entries are freed as by
// Reap. Every other entry that controls no conns is passed to fn; when fn
// returns true the entry is deleted at once. This is the kernel's forced
// delete (flush, random drop, expire_nodest_conn): a template left without
// conns by it and not ASSURED is deleted as well. fn follows the Unbinder
// rules (no Table calls that take stripe locks). Returns how many entries fn
// deleted.
func (t *Table) Sweep(first, n int, now clock.Time, fn func(idx uint32, e *Entry) bool) (deleted int) {
	n = min(max(n, 0), len(t.buckets))
	nowT := ticksFloor(now)
	for i := 0; i < n; i++ {
		b := uint32(first+i) & t.mask
		s := t.stripeOf(b)
		s.mu.Lock()
		prev := &t.buckets[b]
		for idx := *prev; idx != 0; idx = *prev {
			e := t.at(idx)
			if t.deadLocked(e, nowT) && t.expireLocked(s, prev, idx, e, now) {
				continue
			}
			if e.Controls() == 0 && fn(idx, e) {
				*prev = e.next
				s.deleted++
				t.releaseLocked(s, idx, e, true)
				deleted++
				continue
			}
			prev = &e.next
		}
		s.mu.Unlock()
	}
	return deleted
}

// Flush deletes every entry (ipvsadm -C of the connections): conns first,
// then their templates as they become free. Entries inserted meanwhile by
// other goroutines may survive. Returns how many entries were deleted or
// expired.
func (t *Table) Flush(now clock.Time) int {
	before := t.Len()
	all := func(uint32, *Entry) bool { return true }
	for pass := 0; pass < 4 && t.Len() > 0; pass++ {
		t.Sweep(0, len(t.buckets), now, all)
	}
	return int(max(before-t.Len(), 0))
}

// Range calls fn for every entry, one bucket (and its stripe lock) at a
// time, until fn returns false. fn follows the Unbinder rules; it may read
// e, ConnLocked(idx, now) and AddrsLocked(idx). Entries inserted or removed
// during the walk may or may not be seen.
func (t *Table) Range(fn func(idx uint32, e *Entry) bool) {
	t.RangeBuckets(0, len(t.buckets), fn)
}

// RangeBuckets is Range over buckets first..first+n-1 only (clamped to the
// table), so a long walk can be done in pieces with work between them. It
// reports whether fn asked to stop.
func (t *Table) RangeBuckets(first, n int, fn func(idx uint32, e *Entry) bool) (stopped bool) {
	first = max(first, 0)
	end := min(first+max(n, 0), len(t.buckets))
	for b := first; b < end; b++ {
		s := t.stripeOf(uint32(b))
		s.mu.Lock()
		for idx := t.buckets[b]; idx != 0; {
			e := t.at(idx)
			if !fn(idx, e) {
				s.mu.Unlock()
				return true
			}
			idx = e.next
		}
		s.mu.Unlock()
	}
	return false
}

// Stats is a snapshot of the table's counters.
type Stats struct {
	Conns     int64 // live conns (not templates)
	Templates int64 // live persistence templates
	Slots     int64 // slots in use (an IPv6 entry uses two)
	Spare     int64 // slots allocated but unused (stripe free lists and windows)
	Capacity  int64 // slot budget
	Buckets   int
	NoCPort   int64 // NO_CPORT conns

	Inserted  uint64 // successful inserts
	Refused   uint64 // inserts refused: budget exhausted
	Invalid   uint64 // inserts refused: bad protocol or dest id
	Expired   uint64 // entries freed because their time was up (lookups and reaper)
	Deleted   uint64 // entries removed by DeleteLocked, Sweep, Flush or a forced delete
	Postponed uint64 // template expiries postponed while controlling conns

	BytesInUse int64 // see BytesInUse
}

// Stats sums the per-stripe counters (taking each stripe lock briefly).
func (t *Table) Stats() Stats {
	st := Stats{
		Capacity:   t.capSlots.Load(),
		Buckets:    len(t.buckets),
		NoCPort:    t.nocport.Load(),
		BytesInUse: t.BytesInUse(),
	}
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		st.Conns += s.conns
		st.Templates += s.templates
		st.Slots += s.slots
		st.Spare += int64(s.nfree) + int64(s.winHi-s.winLo)
		st.Inserted += s.inserted
		st.Refused += s.refused
		st.Invalid += s.invalid
		st.Expired += s.expired
		st.Deleted += s.deleted
		st.Postponed += s.postpone
		s.mu.Unlock()
	}
	return st
}

// Len returns the number of live entries (conns and templates).
func (t *Table) Len() int64 {
	var n int64
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		n += s.conns + s.templates
		s.mu.Unlock()
	}
	return n
}

// BytesInUse returns the memory the table holds: allocated slot chunks,
// bucket array, chunk directory, lock stripes and the dest address table.
func (t *Table) BytesInUse() int64 {
	return t.chunkSlots.Load()*slotSize +
		int64(len(t.buckets))*4 +
		int64(len(t.dir))*8 +
		int64(len(t.stripes))*int64(unsafe.Sizeof(stripe{})) +
		int64(len(*t.dests.Load()))*16
}

// HeadroomBytes is how much more entry memory the budget allows: the free
// slots (in use ones subtracted, IPv6 entries take two) times the slot
// size, against the current budget (SetBudget); 0 while a lowered budget is
// below what is in use. The defenses count it as the director's available
// memory. It takes no lock.
func (t *Table) HeadroomBytes() int64 {
	return max(t.capSlots.Load()-t.used.Load(), 0) * slotSize
}

// Chains reports how many buckets hold at least one entry and the longest
// chain (a control-plane health figure; walks the whole table).
func (t *Table) Chains() (used, longest int) {
	for b := range t.buckets {
		s := t.stripeOf(uint32(b))
		s.mu.Lock()
		n := 0
		for idx := t.buckets[b]; idx != 0; idx = t.at(idx).next {
			n++
		}
		s.mu.Unlock()
		if n > 0 {
			used++
		}
		longest = max(longest, n)
	}
	return used, longest
}
