package forward

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/packet"
)

// NATInICMP is the NAT rewrite of an ICMP error that a client sends about a
// reply of a masqueraded connection, on its way to the real server
// (icmp_xmit for a NAT conn, ipvs-semantics.md §6.2 and §7.6). The error is
// the frame f, described by p; inner describes the packet quoted in it, as
// packet.DecodeEmbedded(f[:p.Len], int(p.PayOff), inner) returns it (that
// quoted packet went from vaddr:vport to the client). The rewrite:
//
//   - outer IP destination := daddr,
//   - quoted IP source := daddr, and for TCP, UDP and SCTP the quoted source
//     port := dport,
//
// with the outer and quoted IPv4 header checksums and the ICMP / ICMPv6
// checksum updated incrementally (RFC 1624; the kernel recomputes them,
// with the same result for a packet whose checksums were right, which it
// has verified by then). The quoted transport checksum is left alone, as
// the kernel does: it is often not quoted at all, and receivers do not
// check it. p and inner are updated to match the frame.
//
// It returns false, changing nothing, when p is not an ICMP (IPv4) or
// ICMPv6 (IPv6) packet or inner does not lie inside its message with the
// same address family.
func NATInICMP(f []byte, p, inner *packet.Parsed, daddr [16]byte, dport uint16) bool {
	return natICMP(f, p, inner, false, &daddr, dport)
}

// NATOutICMP is the NAT rewrite of an ICMP error that a masqueraded real
// server sends about a client's packet, on its way to the client (the
// out-ICMP handler, ipvs-semantics.md §6.3): the quoted packet went from the
// client to the real server, and the client must see an error about the
// packet it sent to vaddr:vport. The rewrite:
//
//   - outer IP source := vaddr,
//   - quoted IP destination := vaddr, and for TCP, UDP and SCTP the quoted
//     destination port := vport,
//
// with checksums, arguments and result as for NATInICMP.
func NATOutICMP(f []byte, p, inner *packet.Parsed, vaddr [16]byte, vport uint16) bool {
	return natICMP(f, p, inner, true, &vaddr, vport)
}

// natICMP rewrites an ICMP error: out selects NATOutICMP (outer source,
// quoted destination) over NATInICMP (outer destination, quoted source).
func natICMP(f []byte, p, inner *packet.Parsed, out bool, addr *[16]byte, port uint16) bool {
	l3, l4, end := int(p.L3Off), int(p.L4Off), int(p.Len)
	il3, il4, iend := int(inner.L3Off), int(inner.L4Off), int(inner.Len)
	icmpProto := packet.ProtoICMP
	ipLen := ipv4HeaderLen
	if p.V6 {
		icmpProto, ipLen = packet.ProtoICMPv6, ipv6HeaderLen
	}
	if p.Proto != icmpProto || !p.Flags.Has(packet.FlagL4) || inner.V6 != p.V6 ||
		end > len(f) || l3+ipLen > l4 || l4+icmpHeaderLen > il3 || il3+ipLen > il4 || il4 > iend || iend > end {
		return false
	}
	icmp := packet.ICMP(f[l4:end])

	// Outer header: address and IPv4 header checksum; for ICMPv6 the
	// address is in the pseudo-header too.
	var outerOff, innerOff int
	var newA []byte
	if p.V6 {
		outerOff, innerOff, newA = l3+24, il3+8, addr[:]
		if out {
			outerOff, innerOff = l3+8, il3+24
		}
	} else {
		outerOff, innerOff, newA = l3+16, il3+12, addr[12:]
		if out {
			outerOff, innerOff = l3+12, il3+16
		}
	}
	outerA := f[outerOff : outerOff+len(newA)]
	if p.V6 {
		icmp.UpdateChecksumForAddress(outerA, newA)
		copy(outerA, newA)
	} else if ip := packet.IPv4(f[l3:l4]); out {
		ip.SetSourceWithChecksum([4]byte(newA))
	} else {
		ip.SetDestinationWithChecksum([4]byte(newA))
	}

	// Quoted packet: address, IPv4 header checksum, port. Every change is
	// inside the ICMP message, at an even offset of it.
	innerA := f[innerOff : innerOff+len(newA)]
	var old [16]byte
	oldA := old[:len(newA)]
	copy(oldA, innerA)
	if p.V6 {
		copy(innerA, newA)
	} else {
		csum := f[il3+10 : il3+12]
		oldCsum := binary.BigEndian.Uint16(csum)
		ip := packet.IPv4(f[il3:il4])
		if out {
			ip.SetDestinationWithChecksum([4]byte(newA))
		} else {
			ip.SetSourceWithChecksum([4]byte(newA))
		}
		icmp.SetChecksum(packet.Update16(icmp.Checksum(), oldCsum, binary.BigEndian.Uint16(csum)))
	}
	icmp.UpdateChecksumForChange(oldA, newA)

	ports := false
	if inner.Flags.Has(packet.FlagL4) && il4+4 <= iend {
		switch inner.Proto {
		case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
			ports = true
			portOff := il4
			if out {
				portOff = il4 + 2
			}
			oldPort := binary.BigEndian.Uint16(f[portOff:])
			binary.BigEndian.PutUint16(f[portOff:], port)
			icmp.SetChecksum(packet.Update16(icmp.Checksum(), oldPort, port))
		}
	}

	if out {
		p.Src, inner.Dst = *addr, *addr
		if ports {
			inner.DstPort = port
		}
	} else {
		p.Dst, inner.Src = *addr, *addr
		if ports {
			inner.SrcPort = port
		}
	}
	return true
}
