// Package service holds the virtual services and their destinations (real
// servers) as the data plane sees them: an immutable Snapshot built by the
// control plane and read by workers through an atomic pointer, plus the
// long-lived Dest objects whose counters (ActiveConn, InActConn,
// PersistConn) and flags (OVERLOAD, AVAILABLE) survive every snapshot swap.
//
// Set is the control-side editor: it validates every change (kernel rules
// and error names: ErrServiceExists, ErrNoSuchService, ErrDestExists, ...),
// keeps removed destinations in a trash while connections still use them,
// and hands scheduler state on from one snapshot to the next.
//
// Not for: per-packet lookups of connections (conntrack) or scheduling
// policy (sched). This package defines the Scheduler interface that sched
// implements.
package service
