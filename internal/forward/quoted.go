package forward

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/packet"
)

// QuotedError answers a packet that the frame does not carry itself but
// quotes: the frame is an ICMP error about one of the director's tunnel
// packets, and the answer is an error about the client's packet inside
// that tunnel packet (ipvs-semantics.md §6.2, tunnel errors). It builds the
// ICMP error typ/code, with rest as the 32-bit word after the checksum
// (the next-hop MTU of a frag needed), from address from (the VIP) to the
// quoted packet's source, quoting as much of the quoted packet as the
// frame holds (up to 576 bytes in all for IPv4, 1280 for IPv6).
//
// The frame is buf[off:off+n], described by p (its IP header at p.L3Off,
// its end at p.Len). q describes the quoted packet, decoded with
// packet.DecodeEmbedded from the frame's bytes (its offsets relative to
// buf[off:], q.L3Off past the frame's own IP and ICMP headers, q.Len no
// further than p.Len). The error replaces the frame in the same buffer:
// the Ethernet header (with its VLAN tag; EtherType of q's family) is
// copied in front of the quoted packet with its MAC addresses swapped
// (set them towards the next hop afterwards), the new IP and ICMP headers
// take the place of what was in front of the quoted packet, and the quoted
// bytes stay where they are. The new frame is buf[newOff:newOff+newLen];
// neither p nor q is updated.
//
// ok is false, and nothing is written, when the offsets do not describe
// such a frame, or when no error may be sent about the quoted packet
// (the rules of PortUnreachable, applied to q: a non-first fragment, an
// ICMP error, a multicast or broadcast destination, a source that does not
// name one host). from must be of q's family.
func QuotedError(buf []byte, off, n int, p, q *packet.Parsed, from [16]byte, typ, code uint8, rest uint32) (newOff, newLen int, ok bool) {
	l3 := int(p.L3Off)
	ipLen := ipv4HeaderLen
	if p.V6 {
		ipLen = ipv6HeaderLen
	}
	qOff, qEnd := int(q.L3Off), int(q.Len)
	if off < 0 || l3 < ethHeaderLen || qOff < l3+ipLen+icmpHeaderLen || qEnd <= qOff || qEnd > int(p.Len) ||
		int(p.Len) > n || off > len(buf) || int(p.Len) > len(buf)-off {
		return off, n, false
	}
	if q.L4Off < q.L3Off || q.PayOff < q.L4Off || q.Len < q.PayOff {
		return off, n, false
	}
	hdr := ipv4HeaderLen + icmpHeaderLen // of the new error
	if q.V6 {
		hdr = ipv6HeaderLen + icmpHeaderLen
	}
	if off+qOff-l3 < hdr {
		return off, n, false // no room in front (only an IPv6 quote in IPv4 without headroom)
	}
	frame := buf[off : off+int(p.Len)]
	// mayAnswer reads the Ethernet destination and q's fields only, so it
	// decides before anything is written.
	if !mayAnswer(frame, q, q.V6 && typ == icmpv6PacketTooBig) {
		return off, n, false
	}
	// The quoted packet becomes the IP packet of a frame that starts l3
	// bytes in front of it.
	shift := qOff - l3
	copy(frame[shift:qOff], frame[:l3])
	et := uint16(packet.EtherTypeIPv4)
	if q.V6 {
		et = packet.EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(frame[qOff-2:], et)
	s := *q
	s.L3Off -= uint16(shift)
	s.L4Off -= uint16(shift)
	s.PayOff -= uint16(shift)
	s.Len -= uint16(shift)
	return icmpError(buf, off+shift, qEnd-shift, &s, &from, typ, code, rest)
}
