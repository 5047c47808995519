//go:build !race

package conntrack

import "unsafe"

// Prefetch and PrefetchChains let a worker overlap the cache misses of a
// whole batch of packets. A lookup costs two dependent misses (bucket head,
// then entry); done one packet at a time each miss pays the full memory
// latency. Touching the bucket heads of the whole batch first, then the
// first entries, lets the CPU keep many misses in flight, and the locked
// lookups that follow hit the cache.
//
//	for i := range batch { hs[i] = t.Hash(...) }
//	t.Prefetch(hs)
//	t.PrefetchChains(hs)
//	for i := range batch { t.Lock(hs[i]); t.LookupInLocked(hs[i], ...); ...; t.Unlock(hs[i]) }
//
// They read without locks: the values read are only used to touch memory
// (any index ever stored in a bucket or chain names a slot of an allocated
// chunk), never to decide anything. Under the race detector they do nothing
// (prefetch_race.go). They return a value only so that the compiler keeps the
// loads; ignore it.

// Prefetch touches the bucket heads of the buckets hs (values from Hash).
//
//go:noinline
func (t *Table) Prefetch(hs []uint32) uint32 {
	var acc uint32
	for _, h := range hs {
		acc += t.buckets[h&t.mask]
	}
	return acc
}

// PrefetchChains touches the first entry of each bucket in hs. Call it
// after Prefetch on the same hashes. (It does not follow an IPv6 entry to
// its extension slot: a racy read could pair one entry's flags with
// another's addresses and name a slot that does not exist.)
//
//go:noinline
func (t *Table) PrefetchChains(hs []uint32) uint32 {
	var acc uint32
	for _, h := range hs {
		if idx := t.buckets[h&t.mask]; idx != 0 {
			acc += t.at(idx).ports
		}
	}
	return acc
}

// PrefetchEntry starts fetching the first entry of bucket h without
// waiting for it (the bucket head itself should already be cached:
// PrefetchBucket some time before, or the load waits for it).
func (t *Table) PrefetchEntry(h uint32) {
	if idx := t.buckets[h&t.mask]; idx != 0 {
		prefetch(unsafe.Pointer(t.at(idx)))
	}
}

// PrefetchNext starts fetching the second entry of bucket h when the
// first one (cached by an earlier PrefetchEntry) is not for the client and
// virtual ports cport, vport: with about one entry per bucket, a quarter of
// the lookups find their conn second in the chain.
func (t *Table) PrefetchNext(h uint32, cport, vport uint16) {
	idx := t.buckets[h&t.mask]
	if idx == 0 {
		return
	}
	if e := t.at(idx); e.ports != uint32(cport)|uint32(vport)<<16 && e.next != 0 {
		prefetch(unsafe.Pointer(t.at(e.next)))
	}
}

// PrefetchInsert starts fetching the slot that the next InsertLocked into
// bucket h would use (the stripe's first free slot or next fresh one), for
// a packet that will probably create a conn. Without it the first store
// into the new entry waits for memory (the stripes' free slots are spread
// over the slab), and so does the next atomic instruction after it:
// BenchmarkNewConn spent ~30 % of its time there; with the hint it went
// from 422/574 to 261/295 ns (two interleaved runs, 2 vCPU VM).
func (t *Table) PrefetchInsert(h uint32) {
	s := t.stripeOf(h)
	idx := s.free
	if idx == 0 {
		if idx = s.winLo; idx >= s.winHi {
			return
		}
	}
	prefetch(unsafe.Pointer(t.at(idx)))
}
