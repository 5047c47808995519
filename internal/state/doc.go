// Package state holds the IPVS protocol state machines as data: the TCP,
// SCTP and UDP connection states, the events a packet header maps to, the
// kernel's transition tables (normal and secure_tcp "dos" TCP tables, the
// three SCTP tables), the per-state idle timeouts, which states count as
// active connections, and the rules that decide when a packet may create a
// connection or must replace a finished one (conn_reuse_mode).
//
// Everything here is a pure function over small arrays: no allocation, no
// locks, no clock and no timers. The connection table (internal/conntrack,
// driven by internal/director) owns the connections, applies the timeout
// returned for the new state after each transition, switches the
// active/inactive counters and arms the timers. A Timeouts value is plain
// data: to change timeouts at run time, copy it, change the copy with
// SetTriple or Set, and publish the copy (for example through an
// atomic.Pointer); never mutate a Timeouts that workers are reading.
//
// Do not use this package to decide anything about packets that belong to no
// IPVS connection (ICMP errors, AH/ESP, unknown protocols): the kernel has no
// state machine for those and neither does vsd.
//
// The facts (ids, names, every table cell, default timeouts) follow
// docs/ipvs-semantics.md §2 of the shared reference, which describes the
// Linux kernel's net/netfilter/ipvs/ip_vs_proto_{tcp,udp,sctp}.c.
package state
