package forward

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/packet"
)

// Outer describes the outer IP header of a tunnelled packet. Its family is
// the real server's, which may differ from the packet's (ipvs-semantics.md
// §7.3: a v6 service may tunnel to a v4 server and vice versa).
type Outer struct {
	V6       bool     // outer header is IPv6
	Src, Dst [16]byte // director's address (the route's source) and the real server's; IPv4 in IPv4-mapped form
	ID       uint16   // IPv4 identification of the outer header (a fresh one per packet)
	PMTUDisc bool     // the pmtu_disc sysctl: copy DF from the inner IPv4 packet (set it for IPv6 inner)
}

// TunnelOverhead returns the bytes a tunnel adds in front of the inner IP
// packet: the outer IP header (20 or 40) plus, for GUE, UDP (8) and the GUE
// header (4). The tunnel MTU is the route MTU minus this
// (ipvs-semantics.md §7).
func TunnelOverhead(outerV6, gue bool) int {
	n := ipv4HeaderLen
	if outerV6 {
		n = ipv6HeaderLen
	}
	if gue {
		n += udpHeaderLen + gueHeaderLen
	}
	return n
}

// EncapIPIP is IPVS's IPIP tunnel transmit (ip_vs_tunnel_xmit with tunnel
// type IPIP, ipvs-semantics.md §7.3). The frame is buf[off:off+n] and p
// describes it. The outer IP header is written into the headroom in front
// of the IP packet, the Ethernet header (14 bytes, 18 with a VLAN tag) moves
// in front of it and its EtherType becomes the outer family's; Ethernet
// padding after the IP packet is dropped. The new frame is
// buf[newOff:newOff+newLen].
//
// The outer header follows the kernel: IPv4 version 4, IHL 5, DF copied from
// an IPv4 inner packet only if o.PMTUDisc (always set for an IPv6 inner
// packet when o.PMTUDisc), protocol 4 (IPv4 inner) or 41 (IPv6 inner), TOS =
// the inner DSCP with the ECN bits copied except that CE becomes ECT(0)
// (RFC 3168 full functionality = RFC 6040 normal mode, the kernel's
// INET_ECN_encapsulate), TTL = the inner
// TTL or hop limit (call DecTTL first), identification o.ID, header checksum
// computed. IPv6: traffic class encapsulated the same way, flow label 0, next
// header 4 or 41, hop limit = the inner TTL.
//
// The inner packet's bytes do not move, so p still describes the inner
// packet at the same offsets relative to buf[off:]. ok is false, and nothing
// is written, if the headroom (off) is too small or the outer length would
// overflow its 16-bit field.
func EncapIPIP(buf []byte, off, n int, p *packet.Parsed, o Outer) (newOff, newLen int, ok bool) {
	return encap(buf, off, n, p, &o, false, 0, 0, false)
}

// EncapGUE is IPVS's GUE tunnel transmit (ip_vs_tunnel_xmit with tunnel type
// GUE, ipvs-semantics.md §7.3): like EncapIPIP, with a UDP header (source
// port srcPort – use FlowPort –, destination port dstPort = the real
// server's tunnel port) and a 4-byte GUE header (version 0, C = 0, hlen 0,
// flags 0, protocol 4 or 41) between the outer IP header (protocol / next
// header 17) and the inner packet.
//
// The UDP checksum is computed when csum is set (encap flag CSUM), else it
// is 0 — over an IPv4 outer header only. Over IPv6 it is always computed:
// the kernel would send 0 with NOCSUM, which RFC 6935/6936 allow only for
// tunnel endpoints configured to accept it, and a receiver that is not
// (Linux fou/gue without udp6zerocsumrx, most middleboxes) drops the packet.
// A computed checksum of 0 is sent as 0xFFFF.
//
// The REMCSUM option (remote checksum offload) is not implemented: the
// director never carries a pending partial checksum.
func EncapGUE(buf []byte, off, n int, p *packet.Parsed, o Outer, srcPort, dstPort uint16, csum bool) (newOff, newLen int, ok bool) {
	return encap(buf, off, n, p, &o, true, srcPort, dstPort, csum || o.V6)
}

func encap(buf []byte, off, n int, p *packet.Parsed, o *Outer, gue bool, srcPort, dstPort uint16, csum bool) (int, int, bool) {
	l3, end := int(p.L3Off), int(p.Len)
	if off < 0 || l3 < ethHeaderLen || end < l3 || end > n || off > len(buf) || end > len(buf)-off {
		return off, n, false
	}
	innerLen := end - l3
	hdr := TunnelOverhead(o.V6, gue)
	if off < hdr {
		return off, n, false
	}
	ipPayload := innerLen
	if gue {
		ipPayload += udpHeaderLen + gueHeaderLen
	}
	if !o.V6 && ipPayload+ipv4HeaderLen > 0xffff || o.V6 && ipPayload > 0xffff {
		return off, n, false
	}

	newOff := off - hdr
	copy(buf[newOff:newOff+l3], buf[off:off+l3])
	frame := buf[newOff : off+end]
	outer := frame[l3 : l3+hdr]

	innerProto := packet.ProtoIPIP
	if p.V6 {
		innerProto = packet.ProtoIPv6
	}
	proto := innerProto
	if gue {
		proto = packet.ProtoUDP
	}
	tos := encapDS(p.TOS)
	if o.V6 {
		binary.BigEndian.PutUint16(frame[l3-2:], packet.EtherTypeIPv6)
		binary.BigEndian.PutUint32(outer[0:], 6<<28|uint32(tos)<<20)
		binary.BigEndian.PutUint16(outer[4:], uint16(ipPayload))
		outer[6] = uint8(proto)
		outer[7] = p.TTL
		copy(outer[8:24], o.Src[:])
		copy(outer[24:40], o.Dst[:])
	} else {
		binary.BigEndian.PutUint16(frame[l3-2:], packet.EtherTypeIPv4)
		outer[0] = 0x45
		outer[1] = tos
		binary.BigEndian.PutUint16(outer[2:], uint16(ipv4HeaderLen+ipPayload))
		binary.BigEndian.PutUint16(outer[4:], o.ID)
		var fragOff uint16
		if o.PMTUDisc && (p.V6 || p.Flags&packet.FlagDF != 0) {
			fragOff = 0x4000 // DF
		}
		binary.BigEndian.PutUint16(outer[6:], fragOff)
		outer[8] = p.TTL
		outer[9] = uint8(proto)
		copy(outer[12:16], o.Src[12:])
		copy(outer[16:20], o.Dst[12:])
		// The header checksum is summed from the values rather than from
		// the header bytes: two packet.Sum calls over them took a quarter
		// of EncapIPIP's time (CPU profile of BenchmarkEncapIPIP).
		s := uint32(0x4500|uint16(tos)) + uint32(ipv4HeaderLen+ipPayload) + uint32(o.ID) + uint32(fragOff) +
			(uint32(p.TTL)<<8 | uint32(proto))
		s += words4(&o.Src) + words4(&o.Dst)
		binary.BigEndian.PutUint16(outer[10:], ^packet.Fold(s))
	}
	if gue {
		ipLen := ipv4HeaderLen
		if o.V6 {
			ipLen = ipv6HeaderLen
		}
		udp := outer[ipLen:]
		binary.BigEndian.PutUint16(udp[0:], srcPort)
		binary.BigEndian.PutUint16(udp[2:], dstPort)
		binary.BigEndian.PutUint16(udp[4:], uint16(ipPayload))
		binary.BigEndian.PutUint16(udp[6:], 0)
		// GUE header: version 0, C 0, hlen 0; protocol; flags 0.
		udp[8] = 0
		udp[9] = uint8(innerProto)
		udp[10] = 0
		udp[11] = 0
		if csum {
			s := packet.PseudoSum(o.V6, &o.Src, &o.Dst, packet.ProtoUDP, ipPayload)
			s = packet.Sum(s, udp[:udpHeaderLen+gueHeaderLen])
			c := packet.Checksum(s, frame[l3+hdr:])
			if c == 0 {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(udp[6:], c)
		}
	}
	return newOff, l3 + hdr + innerLen, true
}

// words4 returns the sum of the two 16-bit words of an IPv4 address in
// IPv4-mapped form, for a header checksum.
func words4(a *[16]byte) uint32 {
	return (uint32(a[12])<<8 | uint32(a[13])) + (uint32(a[14])<<8 | uint32(a[15]))
}

// encapDS returns the outer DS field (IPv4 TOS / IPv6 traffic class) for an
// inner one: the DSCP is copied, and so are the ECN bits except that CE
// becomes ECT(0), so a congestion mark is not reported twice (RFC 6040,
// as the kernel's INET_ECN_encapsulate).
func encapDS(inner uint8) uint8 {
	const ecnMask, ce, ect0 = 0x03, 0x03, 0x02
	if inner&ecnMask == ce {
		return inner&^ecnMask | ect0
	}
	return inner
}

// The GUE source port range, the Linux default ip_local_port_range
// (udp_flow_src_port maps the flow hash into [low, high)).
const (
	flowPortLow  = 32768
	flowPortHigh = 60999
)

// FlowPort returns the UDP source port for a GUE-encapsulated packet: a hash
// of the inner flow (addresses, protocol and, except for fragments, ports)
// scaled into the ephemeral range [32768, 60999), as the kernel's
// udp_flow_src_port does, so that routers spreading traffic by the outer
// 5-tuple (ECMP, RSS on the real server) keep each flow on one path while
// spreading flows. All fragments of a datagram get the same port (an IPv6
// atomic fragment is a whole datagram).
func FlowPort(p *packet.Parsed) uint16 {
	const m = 0x9e3779b97f4a7c15 // 2^64 / golden ratio
	h := uint64(p.Proto)
	if p.V6 {
		h |= 1 << 8
	}
	if !partial(p) {
		h |= uint64(p.SrcPort)<<16 | uint64(p.DstPort)<<32
	}
	h = mix64(h ^ binary.LittleEndian.Uint64(p.Src[0:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(p.Src[8:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(p.Dst[0:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(p.Dst[8:]) ^ m)
	x := uint32(h ^ h>>32)
	return uint16(uint64(x)*(flowPortHigh-flowPortLow)>>32) + flowPortLow
}

// mix64 is a multiply-xorshift step (the finaliser of MurmurHash3 / SplitMix).
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
