// Package lab assembles complete LVS set-ups for demonstration and
// end-to-end tests: today the simulated one (`vsd sim`), an in-memory
// network of clients, the vsd director and real servers on a virtual
// clock; later the network-namespace lab. It turns a few options into
// services, real servers and traffic, runs them, and reports what a person
// running a load balancer wants to see: the ipvsadm-style table,
// connection states, each server's share, and the invariants (no
// connection ever switched server).
//
// Not for: the packet path itself (internal/director) or the network
// model (internal/sim).
package lab
