package director

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/forward"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// Tunnel errors (ipvs-semantics.md §6.2): an ICMP error whose quoted
// packet is one of the director's own IPIP or GUE packets to a TUN real
// server, sent by a router between the two (typically "fragmentation
// needed": the tunnel packet, 20 or 32 bytes longer than the client's, did
// not fit a link on the way). The client must learn of it, about the
// packet it sent, or path MTU discovery through the tunnel fails.

// tunnelError handles a related ICMPv4 error (the current packet; its
// quote decoded into w.ic.inner, IPv4 of protocol IPIP or UDP) when it is
// about a tunnel packet of the director's: addressed to one of the
// director's port addresses (the source of its tunnel packets), quoting an
// IPIP packet to a known IPIP TUN destination, or a UDP datagram to a GUE
// TUN destination's tunnel port whose GUE header (version 0, data, inner
// protocol IPIP) is there. It reports false, having done nothing, for any
// other error (the caller goes on as before).
//
// The client's packet inside the quote is looked up as the client sent it
// (not reversed). Of a connection through that real server: with a good
// ICMP checksum, the client is sent the same type and code about its own
// packet from the VIP; fragmentation needed carries the reported next-hop
// MTU minus the tunnel's overhead (never below 68), and is sent only if
// the client's packet had DF (else there is nothing to tell: the error is
// consumed). The error itself is consumed, counted as an out-packet of the
// destination, as in the kernel. Without such a connection it goes to the
// host (icmp_unrelated, as the kernel accepts it). A client packet cut
// before its ports is dropped as icmp_truncated, as for other quotes.
//
// IPv4 only, as in the kernel: an IPv6 outer tunnel (or an IPv6 client in
// IPv4, protocol 41) is not recognised.
func (w *Worker) tunnelError(f *link.Frame, b *batch) bool {
	p := w.p
	tun := &w.ic.inner // the quoted tunnel packet
	if p.V6 || tun.V6 || tun.Flags.Has(packet.FlagNonFirstFrag) || !w.ownAddr4(&p.Dst) {
		return false
	}
	fr := f.Bytes()[:tun.Len]
	var off int // of the client's packet in the frame
	switch tun.Proto {
	case packet.ProtoIPIP:
		if b.snap.TunnelDest(&tun.Dst, service.TunIPIP, 0) == nil {
			return false
		}
		off = int(tun.L4Off)
	case packet.ProtoUDP:
		if !tun.Flags.Has(packet.FlagL4) || b.snap.TunnelDest(&tun.Dst, service.TunGUE, tun.DstPort) == nil {
			return false
		}
		g := packet.GUE(fr[tun.L4Off+8:])
		if len(g) < packet.GUEMinHeaderLen {
			w.drop(f, b, ReasonICMPTruncated) // cut inside the GUE header
			return true
		}
		if g.Version() != 0 || g.Control() || g.Proto() != uint8(packet.ProtoIPIP) {
			// Not (readably) a GUE data packet with an IPv4 inside:
			// not ours to translate (the kernel goes on as with any
			// UDP quote).
			return false
		}
		off = int(tun.L4Off) + 8 + g.HeaderLen()
	default:
		return false
	}
	in := &w.ic.tunnel
	if off >= len(fr) || packet.DecodeEmbedded(fr, off, in) != packet.OK || in.V6 {
		// The quote ends in (or before) the client's IP header: nothing
		// to match (routers that quote only 8 bytes after the tunnel
		// header do this).
		w.drop(f, b, ReasonICMPTruncated)
		return true
	}
	switch in.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
	default:
		w.pass(f, b, EventICMPUnrelated)
		return true
	}
	if in.Flags.Has(packet.FlagNonFirstFrag) {
		w.pass(f, b, EventICMPUnrelated)
		return true
	}
	if !in.Flags.Has(packet.FlagL4) {
		w.drop(f, b, ReasonICMPTruncated)
		return true
	}

	t := w.e.table
	k := conntrack.Key{Proto: in.Proto, Caddr: in.Src, Cport: in.SrcPort, Vaddr: in.Dst, Vport: in.DstPort}
	h := t.Hash(false, k.Proto, &k.Caddr, k.Cport)
	t.Lock(h)
	idx := t.LookupInLocked(h, &k, b.now)
	var d *service.Dest
	method := service.Method(0)
	if idx != 0 {
		en := t.At(idx)
		d = w.dest(b, en)
		method = service.Method(en.Method())
	}
	t.Unlock(h)
	if d == nil || method != service.Tunnel || d.Addr16 != tun.Dst {
		// No connection of the client's packet, or not one the director
		// tunnels to that address: not a packet it sent (the kernel
		// accepts it).
		w.pass(f, b, EventICMPUnrelated)
		return true
	}
	if !w.mayRelayICMP(f, b) {
		return true
	}
	if d.Available() {
		w.countOut(d)
	}

	typ, code := p.ICMPType, p.ICMPCode
	rest := binary.BigEndian.Uint32(f.Bytes()[p.L4Off+4:])
	if typ == packet.ICMPv4DestUnreach && code == icmpFragNeeded {
		if !in.Flags.Has(packet.FlagDF) {
			// The client does not do path MTU discovery (the tunnel
			// packet had no DF either, so this is odd): nothing to say.
			w.drop(f, b, ReasonTunnelConsumed)
			return true
		}
		rest = uint32(tunnelMTU(int(rest&0xffff), off-int(tun.L3Off)))
	}
	off2, n, ok := forward.QuotedError(f.Buf, f.Off, f.Len, p, in, in.Dst, typ, code, rest)
	if !ok {
		w.drop(f, b, ReasonTunnelConsumed)
		return true
	}
	if !w.errorAllowed(b) {
		w.drop(f, b, ReasonICMPRateLimit)
		return true
	}
	f.Off, f.Len = off2, n
	w.event(EventICMPTunnelError)
	w.toNextHop(f, b, &in.Src)
	return true
}

// icmpFragNeeded is the code of ICMP destination unreachable
// "fragmentation needed and DF set" (RFC 792, RFC 1191).
const icmpFragNeeded = 4

// tunnelMTU is the MTU the client is told when a router reported
// reported (the next-hop MTU of a frag needed) about a tunnel packet
// whose headers in front of the client's packet are overhead bytes long:
// reported − overhead, never below the IPv4 minimum of 68 (the kernel
// subtracts 20 only from MTUs above 88; a router that reports 0, from
// before RFC 1191, gets the minimum too).
func tunnelMTU(reported, overhead int) int {
	return max(reported-overhead, minMTU4)
}

// ownAddr4 reports whether a (IPv4, datapath layout) is the IPv4 address
// of one of the director's ports: where the errors about its tunnel
// packets, which leave with that source, come back to.
func (w *Worker) ownAddr4(a *[16]byte) bool {
	for i := range w.e.port4 {
		if w.e.port4[i] == *a {
			return true
		}
	}
	return false
}
