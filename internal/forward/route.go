package forward

import "github.com/vsd/vsd/internal/packet"

// DecTTL is the TTL step every IPVS method takes before it sends a packet to
// a non-local destination (decrement_ttl in __ip_vs_get_out_rt,
// ipvs-semantics.md §7): it decrements the IPv4 TTL (updating the header
// checksum incrementally, RFC 1624) or the IPv6 hop limit, and p.TTL with it.
//
// It returns false and leaves the frame unchanged if the TTL or hop limit was
// already ≤ 1; the caller then drops the packet and answers with
// TimeExceeded (built from the unchanged frame, as the kernel quotes it).
func DecTTL(f []byte, p *packet.Parsed) bool {
	l3, l4 := int(p.L3Off), int(p.L4Off)
	if l4 > len(f) || l3 > l4 {
		return false
	}
	if p.V6 {
		if l3+packet.IPv6HeaderLen > l4 {
			return false
		}
		ip := packet.IPv6(f[l3:l4])
		if ip.HopLimit() <= 1 {
			return false
		}
		p.TTL = ip.DecrementHopLimit() - 1
		return true
	}
	if l3+packet.IPv4MinHeaderLen > l4 {
		return false
	}
	ip := packet.IPv4(f[l3:l4])
	if ip.TTL() <= 1 {
		return false
	}
	p.TTL = ip.DecrementTTL() - 1
	return true
}

// SetMACs writes the Ethernet source and destination addresses of frame f.
// It is the whole of IPVS direct routing (ip_vs_dr_xmit, ipvs-semantics.md
// §7.2) apart from DecTTL: the packet goes to the real server's MAC address
// while its IP destination stays the VIP. The other methods use it too, to
// address the next hop of the rewritten or encapsulated packet.
func SetMACs(f []byte, src, dst [6]byte) {
	if len(f) < 12 {
		return
	}
	e := packet.Ethernet(f)
	e.SetDestination(dst)
	e.SetSource(src)
}

// TooBig is IPVS's size check before sending (ensure_mtu_is_adequate,
// ipvs-semantics.md §7): it reports whether the IP packet is longer than mtu
// and may not be fragmented on the way — for IPv4, only when DF is set; for
// IPv6 always (routers never fragment). The caller then drops the packet and
// answers with FragNeeded (ICMP fragmentation needed / ICMPv6 packet too
// big). mtu is the route MTU minus TunnelOverhead for tunnelled packets.
//
// The caller skips the check where the kernel does: for IPv4 packets that
// are tunnelled with pmtu_disc = 0 (they are fragmented instead), and for
// packets that are the payload of an ICMP error.
func TooBig(p *packet.Parsed, mtu int) bool {
	ipLen := int(p.Len) - int(p.L3Off)
	if ipLen <= mtu {
		return false
	}
	return p.V6 || p.Flags&packet.FlagDF != 0
}
