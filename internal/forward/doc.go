// Package forward holds the per-method packet rewrites of the director: what
// Linux IPVS does to a packet once it knows the connection's forwarding
// method and destination (ipvs-semantics.md §7).
//
//   - NAT (masquerading): NATIn rewrites the destination of a client's packet
//     to the real server, NATOut rewrites the source of the real server's
//     reply back to the virtual service (§7.1). The client address is never
//     changed (there is no SNAT/FULLNAT in IPVS, §7.7). NATInICMP and
//     NATOutICMP do the same to ICMP errors and the packet quoted in them
//     (§6.2, §6.3, §7.6).
//   - Direct routing: SetMACs; the IP packet keeps the VIP as destination
//     (§7.2).
//   - Tunnel: EncapIPIP and EncapGUE prepend an outer IPv4/IPv6 header (and
//     UDP + GUE) into the frame's headroom (§7.3); FlowPort picks the GUE
//     source port, TunnelOverhead gives the bytes added. GRE and GUE's
//     remote checksum offload are not implemented.
//   - Every method that routes a packet off the box: DecTTL, TooBig, and the
//     generated ICMP errors PortUnreachable (§6.4), TimeExceeded and
//     FragNeeded (§7) that replace a dropped packet in its own buffer.
//   - LocalNode and Bypass change nothing in the packet; they have no
//     function here.
//
// Every function works in place on one frame buffer (the Ethernet header
// first) that packet.Decode has accepted, takes the packet.Parsed that Decode
// filled for it, allocates nothing and does not panic on any frame Decode
// accepted. Checksums are updated incrementally (RFC 1624) wherever the
// protocol allows it.
//
// The package decides nothing: which connection, which destination, whether
// a packet may be sent at all (rate limits, the kernel's sysctls) is the
// director's business. Do not use it for building test packets (package
// packet has builders) or for packets that were not decoded by
// packet.Decode: the functions trust the offsets in Parsed.
package forward
