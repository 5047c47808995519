// Package steer holds vsd's BPF programs, written in Go with
// github.com/cilium/ebpf/asm (no C, no clang), their maps, and the code that
// attaches them to interfaces:
//
//   - Steering: an XDP program for one interface that redirects the
//     director's traffic (virtual services, NAT replies from real servers,
//     ICMP errors about them, ICMPv4 errors about the director's own IPIP
//     or GUE packets to TUN real servers (tunnel errors, chosen by the
//     quoted header), non-first fragments to VIPs or from NAT
//     real servers (of a protocol they serve), ARP requests and IPv6
//     neighbour solicitations for VIPs) into that interface's AF_XDP
//     sockets (one XSKMAP entry per receive queue) and passes everything
//     else to the kernel;
//   - Guard: a tc ingress (tcx) program for the AF_PACKET datapath that
//     drops the same traffic (except ARP/NS) after the AF_PACKET tap has
//     copied it, so the kernel stack never answers or forwards it;
//   - Decap: an XDP decapsulator for real servers in tunnel mode (IPIP,
//     6in4, IPv6 outer, GUE) on machines without the ipip module.
//
// The three share one classifier, generated once in Go and parametrised by
// the context layout (xdp_md or __sk_buff) and the verdicts; Maps holds the
// match maps every Steering and Guard instance reads, and Maps.Update makes
// them equal to a Match without a window where a kept key is missing.
//
// Key layout (Services, Replies, fragment sources, Tunnels, VIPs and the
// decapsulator's VIP map): 20 bytes, {family u8 (4 or 6), proto u8, port
// be16, addr [16]byte}, where addr is netip.Addr.As16 (IPv4 as the mapped
// ::ffff:a.b.c.d). A VIPs key is {family u8, pad [3]u8 (zero), addr
// [16]byte}, i.e. the same bytes with proto and port zero. A
// fragment-sources key is a Replies key with port zero; Maps.Update derives
// one from every TCP, UDP and SCTP reply entry (not kept in Replies: there
// a port-0 key would select all of the real server's packets of that
// protocol, not only the fragments). A Tunnels key is (4, 4, 0, addr) for
// an IPIP real server, (4, 17, GUE port, addr) for a GUE one; it is
// matched against the header an ICMPv4 error (3, 4, 11) quotes, whatever
// the error's own addresses (routers send them to the director's port
// address, which the programs do not know).
//
// The classifier is deliberately shallow: one 802.1Q tag, IPv4 options
// skipped by IHL, IPv6 only with the transport header (or one fragment
// header) directly after the fixed header; lengths inside the IP header are
// not checked against the frame. User space validates what it receives;
// the programs only decide whose packet it is. Do not use this package
// for general packet filtering, and do not expect it to work without
// root (or CAP_BPF + CAP_NET_ADMIN) on Linux.
package steer
