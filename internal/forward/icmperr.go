package forward

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/packet"
)

// ICMP error types and codes the director sends.
const (
	icmpDestUnreach     = 3
	icmpPortUnreach     = 3 // code of icmpDestUnreach
	icmpFragNeeded      = 4 // code of icmpDestUnreach
	icmpTimeExceeded    = 11
	icmpv6DestUnreach   = 1
	icmpv6PortUnreach   = 4 // code of icmpv6DestUnreach
	icmpv6PacketTooBig  = 2
	icmpv6TimeExceeded  = 3
	icmpv6Redirect      = 137
	icmpv6FirstInfoType = 128
)

// Limits of an ICMP error datagram: RFC 1812 §4.3.2.3 (IPv4: at most 576
// bytes, quoting as much of the offending datagram as fits) and RFC 4443
// §2.4(c) (IPv6: at most the minimum MTU, 1280 bytes).
const (
	maxICMPError4 = 576
	maxICMPError6 = 1280
)

// errorTTL is the TTL / hop limit of generated errors (the kernel's default
// ip_default_ttl and hop_limit).
const errorTTL = 64

// PortUnreachable answers a packet IPVS refuses for lack of a destination
// (ip_vs_leave, ipvs-semantics.md §6.4) or, with nat_icmp_send, a stray
// reply from a NAT real server (§6.1): ICMP destination unreachable, port
// unreachable (type 3 code 3; ICMPv6 type 1 code 4), with source address
// from — the address the sender tried to reach, the VIP — sent back to the
// packet's source.
//
// The frame is buf[off:off+n], described by p and not yet rewritten. The
// error replaces it in the same buffer: the Ethernet header (with its VLAN
// tag) moves into the headroom with its MAC addresses swapped, so the reply
// leaves towards the neighbour the packet came from, followed by the new IP
// and ICMP headers and the quoted start of the original IP packet, which stays
// where it was (IPv4: as much as fits in 576 bytes, RFC 1812; IPv6: in 1280,
// RFC 4443). The new frame is buf[newOff:newOff+newLen]; p is not updated.
//
// ok is false, and nothing is written, when no error may be sent
// (RFC 1122 §3.2.2, RFC 4443 §2.4(e)): the packet is itself an ICMP error (or
// an ICMPv6 redirect, or an ICMP type the kernel does not know), a non-first
// fragment, addressed to a multicast or broadcast address (IP or Ethernet),
// or from an address that does not name a single host (unspecified,
// loopback, multicast, broadcast, IPv4 class E); or when the headroom is too
// small. from must be of the packet's family.
func PortUnreachable(buf []byte, off, n int, p *packet.Parsed, from [16]byte) (newOff, newLen int, ok bool) {
	if p.V6 {
		return icmpError(buf, off, n, p, &from, icmpv6DestUnreach, icmpv6PortUnreach, 0)
	}
	return icmpError(buf, off, n, p, &from, icmpDestUnreach, icmpPortUnreach, 0)
}

// TimeExceeded answers a packet whose TTL or hop limit ran out on the way
// through the director (DecTTL returned false; the kernel's decrement_ttl,
// ipvs-semantics.md §7): ICMP time exceeded in transit (type 11 code 0;
// ICMPv6 type 3 code 0). Arguments, result and the cases where no error is
// sent are those of PortUnreachable.
func TimeExceeded(buf []byte, off, n int, p *packet.Parsed, from [16]byte) (newOff, newLen int, ok bool) {
	if p.V6 {
		return icmpError(buf, off, n, p, &from, icmpv6TimeExceeded, 0, 0)
	}
	return icmpError(buf, off, n, p, &from, icmpTimeExceeded, 0, 0)
}

// FragNeeded answers a packet that is too big for the route towards the real
// server (TooBig; the kernel's ensure_mtu_is_adequate, ipvs-semantics.md §7):
// ICMP destination unreachable, fragmentation needed and DF set (type 3 code
// 4) carrying the next-hop MTU (RFC 1191), or ICMPv6 packet too big (type 2)
// carrying the MTU. Arguments, result and the cases where no error is sent
// are those of PortUnreachable, except that an ICMPv6 packet too big is
// also sent about a packet to a multicast address (RFC 4443 §2.4(e.2)).
// mtu is clamped to 0..65535 (IPv4) or 0..2³²−1 (IPv6).
func FragNeeded(buf []byte, off, n int, p *packet.Parsed, from [16]byte, mtu int) (newOff, newLen int, ok bool) {
	mtu = max(mtu, 0)
	if p.V6 {
		return icmpError(buf, off, n, p, &from, icmpv6PacketTooBig, 0, uint32(min(uint64(mtu), 0xffffffff)))
	}
	return icmpError(buf, off, n, p, &from, icmpDestUnreach, icmpFragNeeded, uint32(min(mtu, 0xffff)))
}

// icmpError builds the ICMP error typ/code with the 32-bit "rest of header"
// word rest in front of the frame's IP packet (see PortUnreachable).
func icmpError(buf []byte, off, n int, p *packet.Parsed, from *[16]byte, typ, code uint8, rest uint32) (int, int, bool) {
	l3, end := int(p.L3Off), int(p.Len)
	if off < 0 || l3 < ethHeaderLen || end < l3 || end > n || off > len(buf) || end > len(buf)-off {
		return off, n, false
	}
	frame := buf[off : off+end]
	tooBig6 := p.V6 && typ == icmpv6PacketTooBig
	if !mayAnswer(frame, p, tooBig6) {
		return off, n, false
	}
	ipLen, limit := ipv4HeaderLen, maxICMPError4
	if p.V6 {
		ipLen, limit = ipv6HeaderLen, maxICMPError6
	}
	hdr := ipLen + icmpHeaderLen
	if off < hdr {
		return off, n, false
	}
	quote := min(end-l3, limit-hdr)

	// The original IP packet stays at buf[off+l3:]; everything new goes in
	// front of it. Move the Ethernet header first: the new IP header
	// overwrites where it was.
	newOff := off - hdr
	copy(buf[newOff:newOff+l3], buf[off:off+l3])
	out := buf[newOff : newOff+l3+hdr+quote]
	var mac [6]byte
	copy(mac[:], out[0:6])
	copy(out[0:6], out[6:12])
	copy(out[6:12], mac[:])

	orig := out[l3+hdr:] // the quoted original IP packet
	ip := out[l3 : l3+ipLen]
	icmp := out[l3+ipLen:]
	icmp[0] = typ
	icmp[1] = code
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint32(icmp[4:], rest)
	icmpLen := icmpHeaderLen + quote

	if p.V6 {
		// Traffic class 0, flow label 0 (the kernel's ICMPv6 socket defaults).
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(icmpLen))
		ip[6] = uint8(packet.ProtoICMPv6)
		ip[7] = errorTTL
		copy(ip[24:40], orig[8:24]) // to the original source
		copy(ip[8:24], from[:])
		dst := [16]byte(ip[24:40])
		s := packet.PseudoSum(true, from, &dst, packet.ProtoICMPv6, icmpLen)
		binary.BigEndian.PutUint16(icmp[2:], packet.Checksum(s, icmp))
		return newOff, len(out), true
	}
	ip[0] = 0x45
	// Precedence "internetwork control" with the original's TOS bits, as
	// the kernel's icmp_send does.
	ip[1] = 0xc0 | p.TOS&0x1e
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+icmpLen))
	// The identification of the offending datagram: varies per flow; the
	// error is at most 576 bytes and not fragmented in practice (DF clear,
	// as the kernel sends errors).
	copy(ip[4:6], orig[4:6])
	binary.BigEndian.PutUint16(ip[6:], 0)
	ip[8] = errorTTL
	ip[9] = uint8(packet.ProtoICMP)
	binary.BigEndian.PutUint16(ip[10:], 0)
	copy(ip[16:20], orig[12:16]) // to the original source
	copy(ip[12:16], from[12:])
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(0, ip))
	binary.BigEndian.PutUint16(icmp[2:], packet.Checksum(0, icmp))
	return newOff, len(out), true
}

// mayAnswer reports whether an ICMP error may be sent about the packet
// (RFC 1122 §3.2.2, RFC 4443 §2.4(e)). tooBig6 relaxes the multicast
// destination rules for ICMPv6 packet too big.
func mayAnswer(frame []byte, p *packet.Parsed, tooBig6 bool) bool {
	if p.Flags&packet.FlagNonFirstFrag != 0 || p.FragOff != 0 {
		return false
	}
	if frame[0]&1 != 0 && !tooBig6 { // Ethernet group address: multicast or broadcast
		return false
	}
	switch p.Proto {
	case packet.ProtoICMP:
		if p.V6 {
			break // an ICMPv4 header in an IPv6 packet is just a protocol
		}
		if p.Flags&packet.FlagL4 == 0 {
			return false
		}
		switch t := p.ICMPType; {
		case t == 3, t == 4, t == 5, t == 11, t == 12, t > 18:
			return false // an error, or a type the kernel does not know
		}
	case packet.ProtoICMPv6:
		if !p.V6 {
			break
		}
		if p.Flags&packet.FlagL4 == 0 || p.ICMPType < icmpv6FirstInfoType || p.ICMPType == icmpv6Redirect {
			return false
		}
	}
	if p.V6 {
		return hostAddr6(&p.Src) && (tooBig6 || p.Dst[0] != 0xff)
	}
	return hostAddr4(p.Src[12:]) && !(p.Dst[12]&0xf0 == 0xe0 || // multicast 224/4
		p.Dst[12] == 255 && p.Dst[13] == 255 && p.Dst[14] == 255 && p.Dst[15] == 255) // limited broadcast
}

// hostAddr4 reports whether an IPv4 source address names a single host: not
// 0/8 ("this network"), 127/8 (loopback), 224/4 (multicast) or 240/4
// (reserved and the limited broadcast).
func hostAddr4(a []byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

// hostAddr6 reports whether an IPv6 source address names a single host: not
// the unspecified address, loopback or multicast.
func hostAddr6(a *[16]byte) bool {
	if a[0] == 0xff {
		return false
	}
	var zero [15]byte
	if [15]byte(a[:15]) == zero {
		return a[15] > 1
	}
	return true
}
