// Package frag remembers what the director decided for the first fragment
// of an IP datagram, so that the datagram's other fragments — which carry
// no transport header, hence no ports to look a connection up by — go the
// same way, and it holds the few non-first fragments that arrive before
// their first one until that first one is decided.
//
// It never reassembles. A Tracker is fixed in size when it is made
// (decision slots, a pool of held fragments in bytes and in count) and
// allocates nothing afterwards; every drop is counted. Time comes from the
// caller (clock.Time), never from the wall clock.
//
// Concurrency: a Tracker is shared by all workers of the director. The
// fragments of one datagram may arrive on different receive queues (RSS
// hashes a fragment by its addresses only, while an unfragmented packet of
// the same flow, or a first fragment steered by ports, may land elsewhere),
// so a per-worker tracker would miss them. Decisions live in 16 stripes,
// each behind its own mutex; the held-fragment pool has one mutex, taken
// only when a fragment must be held, when a first fragment is decided
// while fragments are held, and by Expire.
//
// Not for: reassembly (modes that need the whole datagram must do it
// themselves), or keeping fragments for long: decisions and held fragments
// live for seconds.
package frag
