// Package director is the vsd engine: it takes a batch of Ethernet frames
// and the current time, and for each frame decides what IPVS would do —
// look the connection up (from the client side, or from the real-server side
// for NAT replies), schedule a new connection to a real server on its first
// packet (honouring persistence templates), run the protocol state machine,
// and rewrite the frame for NAT, direct routing or tunnelling. Frames come
// back marked Tx (with their egress port), Pass (not ours: the host stack
// takes it) or Drop (with a counted reason).
//
// It is the only package that joins conntrack, sched (through
// service.Scheduler), state and forward. It starts no goroutines and reads no
// clock: the caller passes `now` with every batch and calls Maintain
// periodically for the incremental reaper.
//
// Concurrency: one Worker per receive queue; workers share the Engine (the
// connection table is bucket-locked, the configuration is an immutable
// snapshot behind an atomic pointer). A Worker is not safe for concurrent
// use.
package director
