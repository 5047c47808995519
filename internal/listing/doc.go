// Package listing prints the control API's view of the director (package
// api: Table, Service, Dest, Conn, Timeouts, SyncDaemon) in every output
// format of ipvsadm 1.31 and in the layouts of the kernel's /proc/net/ip_vs*
// files, byte for byte (trailing spaces included), so that scripts and
// tools that parse that text — ldirectord, which skips exactly three lines
// before the first service; monitoring agents reading ip_vs_stats — work
// unchanged against vsd. The rules are those of docs/interfaces.md §2 and
// §3.1–3.5; every example there is a golden file under testdata/.
//
// What prints what:
//
//	WriteTable     ipvsadm -L [-n] [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [--nosort]
//	WriteService   ipvsadm -L [-n] -t|-u|--sctp-service|-f <service> (no version line)
//	WriteSave      ipvsadm -S [-n]
//	WriteConns     ipvsadm -L -c [-n] [--persistent-conn]
//	WriteTimeouts  ipvsadm -L --timeout
//	WriteDaemons   ipvsadm -L --daemon
//	WriteProc      /proc/net/ip_vs, ip_vs_conn, ip_vs_conn_sync, ip_vs_stats, ip_vs_stats_percpu
//
// Order: full listings and -S sort a copy of the table the way ipvsadm
// does (Sort, libipvs's comparator with its signed-difference quirk and
// glibc's merge sort) unless Options.NoSort; /proc/net/ip_vs keeps the
// table's order (protocol services first, then firewall-mark services, as
// the kernel walks its two hash tables); connection lists keep the order
// given.
//
// Names: with Options.Numeric everything is numeric. Otherwise
// Options.Names resolves hosts and ports; BuiltinResolver (the default)
// names ports from a built-in copy of the common entries of Debian 12's
// /etc/services and never names a host, so listings are reproducible;
// SystemResolver reads /etc/services and /etc/hosts and asks the system
// resolver, as ipvsadm does through getservbyport and gethostbyaddr.
//
// Bad input — a service ipvsadm could not have been handed by the kernel
// (no protocol or address, a netmask out of range, a name with spaces or
// control characters), an unknown view or proc file — is an error naming
// it, and nothing is written. Each writer builds its text in memory and
// hands it to the io.Writer in one Write.
//
// Not for the data plane: it allocates and is meant for the control plane
// and the CLI. WriteSnapshot (snapshot.go) is a deprecated shim printing an
// internal *service.Snapshot for the callers that have not moved to
// api.Table yet.
package listing
