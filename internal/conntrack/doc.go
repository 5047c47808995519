// Package conntrack is the IPVS connection table: the per-packet lookup of
// the conn (or persistence template) a packet belongs to, the creation of
// new conns, and their expiry. It follows the kernel's semantics
// (ipvs-semantics.md §1): one hash over (family, protocol, client address,
// client port) shared by inbound, outbound (NAT reply) and template
// lookups; the NO_CPORT rule; templates that control conns and are
// postponed instead of expiring; ASSURED templates; forced deletes that take
// an unused, unassured template with them.
//
// Not for: policy. The package does not know services, schedulers, protocol
// state machines or timeouts; the director decides what to insert, which
// state and timeout an entry gets, what random drop removes, and keeps the
// destination counters (through Unbinder). Nothing here reads the clock,
// logs, or starts goroutines; time comes in as clock.Time.
//
// # Structure
//
//	buckets []uint32 (2^Bits chain heads)        slab: chunks of 2^16 32-byte slots
//	┌────┐                                        dir[0] ─► ┌──────────────────────────┐
//	│  0 │                                                  │ 0: nil │ 1 │ 2 │ 3 │ ... │
//	│  7 ├──► [7 v4 conn]──next──► [3 v6 head]──► 0         └──────────────────────────┘
//	│  0 │                              │ addrs             dir[1] ─► ┌──────────────────┐
//	│ 12 ├──► [12 template] ──► 0       └──────────────────────────►  │ 65539: v6 ext    │
//	│ .. │                                                            │ (caddr, vaddr)   │
//	└────┘                                                  dir[2] ─► nil (allocated on demand)
//
// An entry is a 32-byte slot addressed by a uint32 index (0 = nil) with no
// Go pointers, so the garbage collector never scans the table. An IPv4 conn
// fits one slot; an IPv6 conn uses a head slot plus an extension slot with
// the two full addresses (the head keeps a fingerprint of them, so chain
// walks touch the extension only for probable matches). The destination's
// address is not stored per entry: a small side table maps dest id →
// address (SetDestAddr) for the outbound NAT match. Chunks are allocated on
// demand through a directory sized from the budget at New, so the table
// never moves and never grows past its budget (InsertLocked then returns
// false and counts a refusal). Memory: 32 bytes per IPv4 entry plus 4 bytes
// per bucket (measured 37.9 bytes/entry at 1M, 35.5 at 10M, against 121
// for a Go map holding the same data and 128 in the kernel); 64 plus 4 for
// IPv6 (69.4 at 1M). Freed slots stay with the table (per-stripe free
// lists); memory is not returned to the runtime.
//
// # Locking
//
// Buckets are protected by 2^min(Bits,10) striped mutexes; stripe =
// bucket >> (Bits-10), so consecutive buckets share a stripe (the reaper
// walks a run of them under one lock). A stripe lock protects its buckets'
// chains, every field of the entries hashed in them, and the stripe's free
// list and counters. Functions whose name ends in Locked need the stripe
// lock of the bucket they are given (Table.Lock(h)); the Entry accessors need
// the lock of the entry's bucket. Exceptions: a template's n_control and
// ASSURED bit are atomics (conns in other buckets attach, detach and assure
// without its lock); dest addresses are copy-on-grow behind an atomic
// pointer; counts of NO_CPORT conns are atomic.
//
// Lock order: a goroutine holds at most one stripe lock (FillCPort takes
// the old and the new bucket's lock one after the other), with two
// exceptions that cannot deadlock: an insert that runs out of slots may
// TryLock (never Lock) other stripes to take their free slots, and the
// chunk-growth mutex is taken while holding a stripe lock (never the
// reverse). The dest-address mutex is never held with a stripe lock.
// Unbinder.Unbind, Range and Sweep callbacks run with one stripe lock held
// and must not call Table methods that lock.
//
// A typical packet:
//
//	h := t.Hash(p.V6, p.Proto, &p.Src, p.SrcPort)
//	t.Lock(h)
//	if idx := t.LookupInLocked(h, &key, now); idx != 0 {
//		e := t.At(idx)
//		... state transition, e.SetState, e.Touch(now, timeout), read e.Dest(), e.DPort() ...
//	}
//	t.Unlock(h)
//
// A worker with a batch of packets first hashes all of them and calls
// Prefetch and PrefetchChains, so that the cache misses of the whole batch
// overlap; at 1M flows that cuts a lookup from ~560 ns to ~200 ns on the
// 2-core VM the project is measured on (see bench_test.go).
//
// A new persistent conn: lock the template's bucket, LookupTemplateLocked
// (or InsertLocked a template), ControlLocked, Touch it, unlock; then lock
// the conn's bucket and InsertLocked the conn with Conn.Control set (on
// failure, Uncontrol).
//
// # Expiry
//
// By timestamp: each entry holds its expiry in 32-bit ticks (Tick ≈ 4.2 ms,
// wrap-safe). Lookups free the expired entries they walk past (lazy
// expiry), and Reap walks a rover over a slice of the buckets per call; the
// owner calls it periodically (ReapBuckets tells how many buckets per call
// make a full pass take a given time). No timer or goroutine per conn.
// An expiring template that still controls conns is postponed by 60 s.
package conntrack
