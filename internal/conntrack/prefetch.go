//go:build !race

package conntrack

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
