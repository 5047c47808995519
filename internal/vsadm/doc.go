// Package vsadm is vsadm, a drop-in replacement for the ipvsadm 1.31
// command line that drives vsd through its control API (package api)
// instead of the kernel's IPVS. Scripts, init files and ldirectord run it
// exactly as they run ipvsadm: the same options, the same parsing quirks,
// the same messages on stderr and the same exit statuses
// (docs/interfaces.md §1, §2.12 and §4.3 in the shared notes).
//
// Parse turns one command line into a Command (an api.Op for a changing
// command, or what to list); Main runs one command line against a Backend
// (an *api.Client satisfies it) and returns the exit status. The listings
// themselves are printed by package listing.
//
// Reproduced from ipvsadm: popt's parsing (bundled short options, attached
// values, --opt=value, no long-option abbreviations, the optional value of
// -p), the command-must-come-first rule, every option at most once,
// leftover words refused, the legality table of options per command and
// the list-command conflicts, the left-to-right quirks (-r without a port
// takes the port of a service given before it; an IPv6 selector or -6
// resets the netmask to 128; an IPv4 -M is read by inet_aton, so "-M 24"
// is 0.0.0.24; -g and -i force the real server's port to the service port
// on non-fwmark services), the defaults (wlc, also on -E; -p alone is 360
// s; weight 1; -g; thresholds 0; syncid 0; mcast-interface eth0), the C
// library's number and address spellings (strtol, strtoul, inet_aton),
// host names through the resolver (IPv4, first address) and port names
// through /etc/services for the protocol. `ipvsadm` with no arguments
// lists the table. -E and -e send every field, so omitted options revert
// to their defaults, as with ipvsadm.
//
// Deliberate differences from ipvsadm:
//
//   - -R is all or nothing. Every line is parsed and validated first; a bad
//     line prints the message ipvsadm would print for it and exits with
//     ipvsadm's status for it (2 for a validation failure, 255 for the
//     "Try" and popt errors) and nothing is sent. Then all changes go to
//     vsd in one atomic batch: if vsd refuses one, nothing is applied, its
//     message is printed and the exit status is 255. ipvsadm instead stops
//     at the first bad line with the earlier lines applied, and carries on
//     after a kernel error. Only changing commands may appear in -R (-A -E
//     -D -C -a -e -d -Z --set --start-daemon --stop-daemon); a line with
//     any other command is refused, naming the line (a nested -R gives the
//     "Try" message, as in ipvsadm).
//   - The persistence mask is kept by vsd as a prefix length
//     (api.Service.Netmask), so an IPv4 -M that is not a contiguous mask,
//     or is 0.0.0.0, is refused with ipvsadm's "illegal virtual server
//     persistent mask specified" (ipvsadm passes any mask to the kernel).
//   - -b with only commas ("-b ,") is refused as an invalid scheduler flag
//     (ipvsadm crashes).
//   - The daemon is contacted only when a command needs it, so -h, -v and
//     every validation error work without a running vsd; when it cannot be
//     reached the message is "Can't initialize ipvs: <error>" followed by
//     "Are you sure that vsd is running? ..." (exit 2).
//   - Extension: `--proc NAME` prints one of the /proc/net/ip_vs* files as
//     vsd would have the kernel write them (listing.ProcNames lists them).
//   - Started as ipvsadm-save or ipvsadm-restore (argv[0]'s base name), it
//     behaves like Debian's wrapper scripts: `ipvsadm-save [-n]` is -S
//     [-n] (another argument starting with '-' prints a usage line and
//     exits 1); ipvsadm-restore drops the lines that start with '#' and
//     applies a clear followed by the -R operations in one atomic batch.
//
// Not for programs: they should use package api directly, whose
// operations say what they mean without ipvsadm's quirks.
package vsadm
