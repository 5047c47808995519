package packet

// PseudoSum returns the running sum of the transport pseudo-header for the
// packet p describes: its addresses, p.Proto and the transport length
// (p.Len - p.L4Off). It does not follow an IPv6 routing header to the final
// destination.
func (p *Parsed) PseudoSum() uint32 {
	return PseudoSum(p.V6, &p.Src, &p.Dst, p.Proto, int(p.Len)-int(p.L4Off))
}

// VerifyIPv4HeaderChecksum reports whether the IPv4 header of the decoded
// frame has a correct checksum (false for IPv6 or a frame Decode rejected).
func VerifyIPv4HeaderChecksum(frame []byte, p *Parsed) bool {
	if p.V6 || p.EtherType != EtherTypeIPv4 || p.L4Off <= p.L3Off || int(p.L4Off) > len(frame) {
		return false
	}
	return IPv4(frame[p.L3Off:p.L4Off]).IsChecksumValid()
}

// VerifyL4Checksum reports whether the transport checksum of the decoded
// frame is correct, for TCP, UDP, SCTP, ICMP and ICMPv6. A UDP checksum of 0
// (none) counts as correct on IPv4 and as wrong on IPv6. It reports false
// when the frame has no complete transport segment to check: another
// protocol, no FlagL4, a fragment of a larger packet (an IPv6 atomic
// fragment, offset 0 without more fragments, is checked), or a truncated
// embedded packet.
func VerifyL4Checksum(frame []byte, p *Parsed) bool {
	if !p.Flags.Has(FlagL4) || p.Flags&(FlagMoreFrags|FlagNonFirstFrag|FlagTruncated) != 0 || int(p.Len) > len(frame) {
		return false
	}
	seg := frame[p.L4Off:p.Len]
	switch p.Proto {
	case ProtoTCP:
		return TCP(seg).IsChecksumValid(p.PseudoSum())
	case ProtoUDP:
		u := UDP(seg)
		if u.Checksum() == 0 {
			return !p.V6
		}
		return u.IsChecksumValid(p.PseudoSum())
	case ProtoSCTP:
		return SCTP(seg).IsChecksumValid()
	case ProtoICMP:
		return ICMP(seg).IsChecksumValid(0)
	case ProtoICMPv6:
		return ICMP(seg).IsChecksumValid(p.PseudoSum())
	}
	return false
}
