// Package daemon is `vsd run`: it turns a validated configuration file into
// a running director on real interfaces.
//
// It opens the datapath (AF_XDP sockets steered by an XDP program, or
// AF_PACKET rings behind a tc guard when XDP cannot attach), starts one
// packet worker per receive queue (pinned to the configured CPUs), keeps
// the director's next hops in step with the kernel's routes and neighbours,
// answers ARP and neighbour solicitations for VIPs that no interface
// carries, runs the engine's periodic maintenance, and serves a small
// control API on a unix socket. Reload applies a changed file to the live
// service set without touching established connections; Close detaches
// every BPF program it attached.
//
// With no interfaces in the file it runs as a control plane only: services
// are kept and listed, no packets are handled.
//
// This is control-plane code: it may allocate, log and start goroutines.
// The per-packet work is the worker loop in worker.go, which allocates
// nothing and reads the clock once per batch.
package daemon
