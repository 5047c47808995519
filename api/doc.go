// Package api is vsd's control API: the types that describe virtual
// services, real servers, counters, connections, timeouts and sync-daemon
// settings, the operations that change them, and a Client that speaks to
// a running `vsd run` over its unix socket.
//
// vsadm (the ipvsadm-compatible CLI) is built on it, and so can other
// programs: a health checker, an exporter, a test. The daemon validates a
// whole batch of operations (Client.Apply) before it changes anything, so a
// batch is applied completely or not at all; a refused operation comes back
// as an *OpError whose Message is the text ipvsadm prints for the same
// kernel error ("Service already exists", "No such destination", ...).
//
// The wire format is JSON over HTTP on a unix socket that only root may
// open (mode 0600): GET /v1/table, /v1/conns, /v1/timeouts, /v1/daemons,
// POST /v1/apply. Addresses are netip values; IPv4 is never IPv4-mapped.
//
// Not for the packet path: everything here allocates and talks over a
// socket.
package api
