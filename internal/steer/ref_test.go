package steer

import (
	"encoding/binary"
	"net/netip"
)

// refMatch is testMatch as Go sets, for the reference classifier.
type refMatch struct {
	services, replies, vips map[key]struct{}
	tunnels                 map[key]struct{} // {proto, addr, port} of m.Tunnels, as given
}

// newRefMatch keeps the Match's own keys; the fragment-source rule is
// applied to the reply keys in refClassify, independently of fragSrcSet.
func newRefMatch(m Match) *refMatch {
	ks, err := m.keySets(1 << 20)
	if err != nil {
		panic(err)
	}
	r := &refMatch{ks.services, ks.replies, ks.vips, map[key]struct{}{}}
	for _, e := range m.Tunnels {
		r.tunnels[makeKey(e.Proto, e.Addr, e.Port)] = struct{}{}
	}
	return r
}

// refTunnelError reports whether q, the quote of an ICMPv4 error, is one
// of the director's tunnel packets: an IPv4 header (IHL ≥ 5, not a
// non-first fragment) of protocol 4 to an IPIP tunnel's address, or of
// UDP to a GUE tunnel's address and port (the ports present).
func (m *refMatch) refTunnelError(q []byte) bool {
	if len(q) < 20 || q[0]>>4 != 4 || q[0]&15 < 5 || binary.BigEndian.Uint16(q[6:])&0x1fff != 0 {
		return false
	}
	dst := netip.AddrFrom4([4]byte(q[16:20]))
	switch q[9] {
	case protoIPIP:
		_, ok := m.tunnels[makeKey(protoIPIP, dst, 0)]
		return ok
	case protoUDP:
		hl := int(q[0]&15) * 4
		if len(q) < hl+4 {
			return false
		}
		_, ok := m.tunnels[makeKey(protoUDP, dst, binary.BigEndian.Uint16(q[hl+2:]))]
		return ok
	}
	return false
}

// refFragSrc reports whether a non-first fragment of proto from src is a
// NAT real server's: some TCP, UDP or SCTP reply entry of that protocol
// and address, whatever its port.
func (m *refMatch) refFragSrc(proto, fam uint8, src []byte) bool {
	if proto != protoTCP && proto != protoUDP && proto != protoSCTP {
		return false
	}
	want := addrKey(proto, fam, src, 0)
	for k := range m.replies {
		k[2], k[3] = 0, 0 // any port
		if k == want {
			return true
		}
	}
	return false
}

func addrKey(proto uint8, fam uint8, addr []byte, port uint16) key {
	var a netip.Addr
	if fam == 4 {
		a = netip.AddrFrom4([4]byte(addr))
	} else {
		a = netip.AddrFrom16([16]byte(addr))
	}
	return makeKey(proto, a, port)
}

// refClassify is a Go implementation of the rules the BPF classifier
// implements (see the package doc and classify.go), written independently
// from the instruction generator, for the fuzz target and table tests.
func refClassify(b []byte, m *refMatch, neighbour bool) bool {
	has := func(s map[key]struct{}, k key) bool { _, ok := s[k]; return ok }
	if len(b) < 14 {
		return false
	}
	et, off := binary.BigEndian.Uint16(b[12:]), 14
	if et == 0x8100 {
		if len(b) < 18 {
			return false
		}
		et, off = binary.BigEndian.Uint16(b[16:]), 18
	}
	var (
		fam             uint8
		proto           uint8
		src, dst        []byte
		l4              int
		icmp            uint8
		nsAllowed       bool
		isErrorICMPType func(uint8) bool
	)
	switch {
	case et == 0x0800:
		ip := b[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&15 < 5 {
			return false
		}
		fam, proto, src, dst = 4, ip[9], ip[12:16], ip[16:20]
		l4 = off + int(ip[0]&15)*4
		if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
			return has(m.vips, addrKey(0, 4, dst, 0)) || m.refFragSrc(ip[9], 4, ip[12:16])
		}
		icmp = protoICMP
		isErrorICMPType = func(t uint8) bool { return t == 3 || t == 4 || t == 11 }
	case et == 0x86dd:
		ip := b[off:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		fam, proto, src, dst = 6, ip[6], ip[8:24], ip[24:40]
		l4 = off + 40
		nsAllowed = neighbour
		if proto == protoFrag6 {
			if len(b) < l4+8 {
				return false
			}
			if binary.BigEndian.Uint16(b[l4+2:])&0xfff8 != 0 {
				return has(m.vips, addrKey(0, 6, dst, 0)) || m.refFragSrc(b[l4], 6, src)
			}
			proto = b[l4]
			l4 += 8
			nsAllowed = false
		}
		icmp = protoICMPv6
		isErrorICMPType = func(t uint8) bool { return t >= 1 && t <= 4 }
	case et == 0x0806 && neighbour:
		a := b[off:]
		if len(a) < 28 || binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != 0x0800 ||
			a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:]) != 1 {
			return false
		}
		return has(m.vips, addrKey(0, 4, a[24:28], 0))
	default:
		return false
	}
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
		if len(b) < l4+4 {
			return false
		}
		sp, dp := binary.BigEndian.Uint16(b[l4:]), binary.BigEndian.Uint16(b[l4+2:])
		return has(m.services, addrKey(proto, fam, dst, dp)) || has(m.services, addrKey(proto, fam, dst, 0)) ||
			has(m.replies, addrKey(proto, fam, src, sp)) || has(m.replies, addrKey(proto, fam, src, 0))
	case icmp:
		if nsAllowed && len(b) >= l4+24 && b[l4] == 135 {
			if b[off+7] != 255 {
				return false
			}
			return has(m.vips, addrKey(0, 6, b[l4+8:l4+24], 0))
		}
		if len(b) < l4+4 || !isErrorICMPType(b[l4]) {
			return false
		}
		return has(m.services, addrKey(proto, fam, dst, 0)) || has(m.replies, addrKey(proto, fam, src, 0)) ||
			fam == 4 && len(b) >= l4+8 && m.refTunnelError(b[l4+8:])
	}
	return false
}
