// Package control is the server side of vsd's control API (package api):
// it turns the daemon's service set, connection table and counters into
// the API's views, applies batches of operations atomically, runs the
// kernel's rate estimator, and serves all of it as HTTP on a unix socket.
//
// Atomic batches: Apply first replays the whole batch on a scratch copy
// of the service set (same services, real servers and settings, with
// schedulers that only check their names); only if every operation
// succeeds there is it applied to the live set, under the caller's lock,
// so a refused batch changes nothing and nobody sees half of one.
//
// The daemon owns the state; it hands a Server the pieces (the set, the
// engine, a lock, a publish callback) and keeps it serving until Close.
// Not on the packet path: everything here may allocate and lock.
package control
