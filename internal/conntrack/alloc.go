package conntrack

// Slot allocation.
//
// Slots come from, in order:
//  1. the stripe's free list (slots freed by entries of this stripe);
//  2. the stripe's window of fresh slots;
//  3. the free lists of a few other stripes (probed with TryLock only,
//     never blocking, so no lock-order cycle is possible);
//  4. a new window of windowSlots fresh slots taken from the shared bump
//     counter (one CAS per windowSlots inserts), allocating the 2 MiB chunk
//     behind it when it is the first to reach it;
//  5. free slots and window slots of other stripes (TryLock again): a few
//     probes, then a full scan unless the last full scan found nothing and
//     nothing was freed since.
// When all fail the budget is exhausted and the insert is refused. Freed
// slots go to the free list of the stripe that frees them. The hash spreads
// conns evenly over stripes, so frees and inserts are spread evenly too;
// step 3 absorbs the random imbalance (without it the table would creep
// towards its budget under churn), step 5 matters only near the budget.
//
// All of this runs under the stripe lock of the inserting bucket, so the
// free lists need no atomics.

// allocLocked returns a free slot index, or 0 when the budget is exhausted.
// s's lock is held.
func (t *Table) allocLocked(s *stripe) uint32 {
	if idx := s.free; idx != 0 {
		s.free = t.at(idx).next
		s.nfree--
		return idx
	}
	if s.winLo < s.winHi {
		idx := s.winLo
		s.winLo++
		return idx
	}
	return t.allocSlowLocked(s)
}

func (t *Table) allocSlowLocked(s *stripe) uint32 {
	if t.probeLocked(s, false) || t.refillLocked(s) || t.stealLocked(s) {
		return t.allocLocked(s)
	}
	return 0
}

// freeSlotLocked puts slot idx on s's free list. s's lock is held.
func (t *Table) freeSlotLocked(s *stripe, idx uint32) {
	t.at(idx).next = s.free
	s.free = idx
	s.nfree++
}

// refillLocked gives s a new window of fresh slots. s's lock is held.
func (t *Table) refillLocked(s *stripe) bool {
	for {
		lo, limit := t.bump.Load(), t.limit.Load()
		if lo >= limit {
			return false
		}
		hi := min(lo+windowSlots, limit)
		if t.bump.CompareAndSwap(lo, hi) {
			t.ensureChunks(lo, hi)
			s.winLo, s.winHi = lo, hi
			return true
		}
	}
}

// ensureChunks allocates the chunks that hold slots [lo, hi).
func (t *Table) ensureChunks(lo, hi uint32) {
	for c := lo >> chunkShift; c <= (hi-1)>>chunkShift; c++ {
		if t.dir[c].Load() != nil {
			continue
		}
		t.growMu.Lock()
		if t.dir[c].Load() == nil {
			// Whole chunks, so that a raised budget can use the rest;
			// only the directory's last chunk may be partial.
			n := min(int64(chunkSlots), int64(t.maxLimit)-int64(c)<<chunkShift)
			chunk := hugeSlice[Entry](t, int(n))
			t.dir[c].Store(&chunk[0])
			t.chunkSlots.Add(n)
		}
		t.growMu.Unlock()
	}
}

// stealLocked moves free slots from another stripe to s. s's lock is held;
// other stripes' locks are only tried. It probes a few stripes first; if
// they have nothing it scans all stripes, unless a previous full scan found
// nothing and no entry has been freed since (t.dry), so that inserts
// refused at a full table stay cheap.
func (t *Table) stealLocked(s *stripe) bool {
	if t.probeLocked(s, true) {
		return true
	}
	if t.dry.Load() {
		return false
	}
	n := uint32(len(t.stripes))
	start := t.steal.Add(1)
	for i := uint32(0); i < n; i++ {
		if t.stealFromLocked(s, &t.stripes[(start+i)&(n-1)], true) {
			return true
		}
	}
	t.dry.Store(true)
	return false
}

// probeLocked tries to steal from a few stripes (their free lists, and
// their windows too when windows is set).
func (t *Table) probeLocked(s *stripe, windows bool) bool {
	n := uint32(len(t.stripes))
	start := t.steal.Add(1)
	for i := uint32(0); i < min(n, stealProbes); i++ {
		if t.stealFromLocked(s, &t.stripes[(start*stealProbes+i)&(n-1)], windows) {
			return true
		}
	}
	return false
}

// stealFromLocked moves up to stealSlots free slots of o (from its free
// list, then from its window if windows is set) to s, if o's lock can be
// had at once.
func (t *Table) stealFromLocked(s, o *stripe, windows bool) bool {
	if o == s || !o.mu.TryLock() {
		return false
	}
	got := 0
	for got < stealSlots && o.free != 0 {
		idx := o.free
		o.free = t.at(idx).next
		o.nfree--
		t.freeSlotLocked(s, idx)
		got++
	}
	for windows && got < stealSlots && o.winLo < o.winHi {
		t.freeSlotLocked(s, o.winLo)
		o.winLo++
		got++
	}
	o.mu.Unlock()
	return got > 0
}
