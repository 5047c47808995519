// Package sched implements the IPVS schedulers: given a service's
// destinations (in service list order) it picks the real server for a new
// connection, with the kernel's rules (docs: ipvs-semantics.md §5).
//
// New makes one by its ipvsadm name; each implements service.Scheduler.
// "Eligible" below means weight > 0 and not OVERLOAD; every weighted
// comparison is a 64-bit cross-multiplication and ties go to the first
// destination in list order.
//
//	rr     round robin: first eligible destination after the last one picked
//	wrr    weighted round robin: current weight cw steps down by the gcd of the weights; first non-OVERLOAD dest with weight ≥ cw
//	lc     least connection: smallest 256·active + inactive
//	wlc    weighted least connection: smallest (256·active + inactive) / weight
//	sed    shortest expected delay: smallest (active + 1) / weight
//	nq     never queue: first eligible dest with no active connection, else sed
//	fo     weighted fail-over: highest weight
//	ovf    overflow: highest weight among dests with active ≤ weight
//	twos   power of two choices: two weighted random picks, the less loaded per weight wins
//	sh     source hashing: 256 buckets, weight consecutive buckets per dest; -b sh-fallback, sh-port
//	dh     destination hashing: 256 buckets, one per dest per cycle, keyed by the packet's destination
//	mh     Maglev hashing: 4093-slot table from SipHash-1-3 permutations, turns by last weight; -b mh-fallback, mh-port
//	lblc   locality-based least connection: destination IP → cached dest, wlc when it is missing or overloaded
//	lblcr  lblc with replication: destination IP → set of dests, least loaded member, grown with wlc
//	none   no scheduler: never picks
//
// Concurrency: Update is called by the control plane only, never
// concurrently with itself; Schedule is called by every worker at once.
// rr and wrr keep their cursor under a mutex (the kernel's per-service
// sched_lock); sh, dh and mh publish an immutable table through an atomic
// pointer and schedule without a lock; the least-connection family reads
// an immutable destination list; lblc and lblcr guard their cache with a
// mutex and must be garbage-collected by the control plane (Cache.GC
// every GCInterval). Schedule allocates nothing, except lblc and lblcr
// when they add a cache entry or grow a server set, and never reads the
// clock (lblc(r) use Request.Now).
//
// Not for: persistence (templates live in conntrack) or deciding what
// happens when no destination is found (director, §6.4).
package sched
