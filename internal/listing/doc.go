// Package listing prints the service table the way ipvsadm 1.31 prints it
// for `ipvsadm -L -n` (and `ipvsadm -L`), byte for byte, so scripts and
// tools that parse that text (ldirectord skips exactly three lines before
// the first service) work unchanged against vsd. The layout rules are in
// docs/interfaces.md §2.1 and the captured examples in §2.2.
//
// WriteTable prints the full table: the version line
// "IP Virtual Server version 1.2.1 (size=N)", the two title lines, then
// each service and its destinations. WriteService prints the form of
// `ipvsadm -L -n -t addr:port`: the two title lines and one service, no
// version line.
//
// Order: services are printed in Snapshot.Services order (the order they
// were added) and destinations in the service's list order. Real ipvsadm
// sorts both by default (--nosort keeps the kernel's order); that sorting
// belongs to the caller and is not done here.
//
// Without Options.Numeric, ports are printed by name from a small built-in
// copy of the common entries of Debian 12's /etc/services (http, https,
// domain, http-alt, ...); other ports, and all addresses, stay numeric
// (no reverse DNS).
//
// Only the plain view is implemented; --stats, --rate, --thresholds,
// --persistent-conn, --tun-info, -S and -c are not. Not for the data plane:
// it allocates and is meant for the control plane and the CLI.
package listing
