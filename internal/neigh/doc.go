// Package neigh gives the director its next hops and answers for its VIPs on
// the wire.
//
// Table resolves an address to (MAC, port) the way the kernel would route a
// packet from the director's namespace: a longest-prefix match over the
// local and main routing tables (the local table first, as rule 0 does), the
// next hop (gateway or the address itself), then the kernel's neighbour
// entry for it. The routes and neighbours are dumped over netlink into an
// immutable snapshot read lock-free by Resolve; Run keeps the snapshot
// current from netlink notifications and asks the kernel to resolve next
// hops that are missing (a neighbour "use" request, NTF_USE, which starts
// ARP or NDP like `ip neigh replace ADDR dev DEV use`). The director's
// workers cache the answers and drop their caches when Run reports a change.
//
// Resolution trigger, verified on Linux 6.18 in the root tests: an
// RTM_NEWNEIGH with NLM_F_CREATE|NLM_F_REPLACE and the NTF_USE flag (no
// lladdr, no state) creates the entry if needed and calls neigh_event_send,
// so the kernel sends ARP requests / neighbour solicitations itself, for
// IPv4 and IPv6. The fallback, one empty UDP datagram to the next hop's
// discard port from a socket bound to the port, is used only when the
// kernel refuses that (counted in Stats) and is tested as well. A next hop
// in use whose entry is STALE is re-requested too, because the datapath's
// packets bypass the kernel and would never make it re-confirm the entry.
// An unreachable next hop in use is retried about every 3 s (each FAILED
// notification rebuilds the snapshot and lets Resolve ask again).
//
// Run is a control-plane loop: it uses timers (a 20 ms settle delay to
// coalesce bursts, a 1 s pacing tick) and netlink's subscription readers
// run in goroutines of their own; nothing on the Resolve or Answer path
// reads the clock, locks or allocates.
//
// Responder answers ARP requests and IPv6 neighbour solicitations for VIPs
// that no interface holds (the kernel would stay silent for them), rewriting
// the request frame into the reply in place, and builds gratuitous ARP and
// unsolicited neighbour advertisements for them. OnLink decides which VIPs
// are announced on which port: those inside one of the port's own prefixes.
//
// Not for: policy routing beyond the local and main tables, nexthop objects
// (`ip nexthop`), routes through IPv6 gateways for IPv4 (RTA_VIA), or
// interfaces that are not Ethernet. Resolve answers "no next hop" for all of
// those rather than guessing.
package neigh
