// Package vsadmtest holds end-to-end tests of vsadm against the real
// control API server (package control) on a unix socket: random command
// sequences checked against an in-memory reference model of ipvsadm's
// semantics, save/clear/restore round trips, and the rule that a refused
// command or restore changes nothing. It has no non-test code.
package vsadmtest
