package packet

import "encoding/binary"

// Result is the outcome of Decode: OK, NotIP, or why the frame is malformed.
type Result uint8

// Decode results.
const (
	OK           Result = iota // an IP packet, decoded
	NotIP                      // ARP or another EtherType (or a second VLAN tag): not an error, pass it on
	ErrShort                   // Ethernet header or VLAN tag truncated
	ErrIPVersion               // IP version does not match the EtherType (or is neither 4 nor 6)
	ErrIPHeader                // IP header truncated, or IPv4 IHL < 5 or beyond the data
	ErrIPLength                // IPv4 total / IPv6 payload length inconsistent with the data
	ErrExtHeader               // IPv6 extension header truncated, misplaced hop-by-hop, or more than 8
	ErrL4Short                 // transport header truncated, bad TCP data offset, UDP length, or SCTP chunk length
)

// maxExtHeaders is the number of IPv6 extension headers Decode walks before
// giving up with ErrExtHeader.
const maxExtHeaders = 8

// Decode decodes the Ethernet frame into p (overwriting all of it) and
// reports whether it is a well-formed IP packet. Ethernet padding after the
// IP packet is allowed and excluded from p.Len. With NotIP, only the layer-2
// fields of p are set (L3Off = L4Off = PayOff = start of the payload).
//
// Decode does not verify checksums (see VerifyIPv4HeaderChecksum and
// VerifyL4Checksum). It allocates nothing. Frames whose IP packet ends
// beyond 65535 bytes (Parsed holds 16-bit offsets) give ErrIPLength.
func Decode(frame []byte, p *Parsed) Result {
	*p = Parsed{}
	if len(frame) < 14 {
		return ErrShort
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	off := 14
	if et == EtherTypeVLAN {
		if len(frame) < 18 {
			return ErrShort
		}
		p.VLAN = binary.BigEndian.Uint16(frame[14:16]) & 0x0fff
		p.Flags = FlagVLAN
		et = binary.BigEndian.Uint16(frame[16:18])
		off = 18
	}
	p.EtherType = et
	p.L3Off = uint16(off)
	switch et {
	case EtherTypeIPv4:
		return decodeIPv4(frame, off, p, false)
	case EtherTypeIPv6:
		return decodeIPv6(frame, off, p, false)
	}
	p.L4Off, p.PayOff = uint16(off), uint16(off)
	p.Len = uint16(min(len(frame), 0xffff))
	return NotIP
}

// DecodeIP is Decode for an IP packet without an Ethernet header starting at
// b[off:] (a decapsulated inner packet, a raw-socket packet). The family is
// taken from the version nibble; p.EtherType is set to match. Offsets in p
// are relative to b. Bytes after the IP packet are allowed.
func DecodeIP(b []byte, off int, p *Parsed) Result {
	return decodeAt(b, off, p, false)
}

// DecodeEmbedded decodes the IP header embedded in an ICMP or ICMPv6 error,
// starting at b[off:] (usually the ICMP PayOff). Offsets in p are relative to
// b.
//
// An ICMP error carries only the start of the offending packet, so the
// embedded packet may end before its IP length says: then p.Len is len(b)
// and FlagTruncated is set. The IP header (IPv4 options, IPv6 extension
// headers) must be complete. Of the transport header of a truncated packet
// only the first 8 bytes are required: with them FlagL4 is set and the ports
// (or ICMP type and code) are valid. When the transport header itself is cut
// short, p.PayOff is p.Len; TCPFlags is then valid only if
// p.Len-p.L4Off >= 14, and the SCTP chunk type only if >= 13.
//
// An embedded packet that is complete (its IP length fits in b; bytes after
// it are ignored) is decoded exactly as DecodeIP decodes it.
func DecodeEmbedded(b []byte, off int, p *Parsed) Result {
	return decodeAt(b, off, p, true)
}

func decodeAt(b []byte, off int, p *Parsed, embedded bool) Result {
	*p = Parsed{}
	if off < 0 || off >= len(b) || off > 0xffff {
		return ErrIPHeader
	}
	p.L3Off = uint16(off)
	switch b[off] >> 4 {
	case 4:
		p.EtherType = EtherTypeIPv4
		return decodeIPv4(b, off, p, embedded)
	case 6:
		p.EtherType = EtherTypeIPv6
		return decodeIPv6(b, off, p, embedded)
	}
	return ErrIPVersion
}

// decodeIPv4 decodes the IPv4 header at b[off:] and what follows it. p is
// zero apart from the layer-2 fields and L3Off.
func decodeIPv4(b []byte, off int, p *Parsed, embedded bool) Result {
	h := b[off:]
	if len(h) == 0 {
		return ErrIPHeader
	}
	if h[0]>>4 != 4 {
		return ErrIPVersion
	}
	if len(h) < 20 {
		return ErrIPHeader
	}
	hl := int(h[0]&0x0f) << 2
	if hl < 20 || hl > len(h) {
		return ErrIPHeader
	}
	tl := int(binary.BigEndian.Uint16(h[2:4]))
	if tl < hl {
		return ErrIPLength
	}
	flags := p.Flags
	end := off + tl
	if tl > len(h) {
		if !embedded {
			return ErrIPLength
		}
		end = len(b)
		flags |= FlagTruncated
	}
	if end > 0xffff {
		return ErrIPLength
	}
	p.TOS = h[1]
	p.TTL = h[8]
	p.Proto = Proto(h[9])
	p.FragID = uint32(binary.BigEndian.Uint16(h[4:6]))
	if hl > 20 {
		flags |= FlagIPOptions
	}
	fo := binary.BigEndian.Uint16(h[6:8])
	if fo&0x4000 != 0 {
		flags |= FlagDF
	}
	if fo&0x3fff != 0 {
		flags |= FlagFragment
		if fo&0x2000 != 0 {
			flags |= FlagMoreFrags
		}
		if fo&0x1fff != 0 {
			flags |= FlagNonFirstFrag
			p.FragOff = (fo & 0x1fff) << 3
		}
	}
	p.Src[10], p.Src[11] = 0xff, 0xff
	p.Dst[10], p.Dst[11] = 0xff, 0xff
	copy(p.Src[12:], h[12:16])
	copy(p.Dst[12:], h[16:20])
	l4 := off + hl
	p.L4Off, p.PayOff = uint16(l4), uint16(l4)
	p.Len = uint16(end)
	p.Flags = flags
	if flags&FlagNonFirstFrag != 0 {
		return OK
	}
	if flags&FlagTruncated != 0 {
		return decodeL4Truncated(b[:end], l4, p)
	}
	return decodeL4(b[:end], l4, p)
}

// decodeIPv6 decodes the IPv6 header at b[off:], walks the extension
// headers, and decodes what follows.
func decodeIPv6(b []byte, off int, p *Parsed, embedded bool) Result {
	h := b[off:]
	if len(h) == 0 {
		return ErrIPHeader
	}
	if h[0]>>4 != 6 {
		return ErrIPVersion
	}
	if len(h) < 40 {
		return ErrIPHeader
	}
	flags := p.Flags
	end := off + 40 + int(binary.BigEndian.Uint16(h[4:6]))
	if end > len(b) {
		if !embedded {
			return ErrIPLength
		}
		end = len(b)
		flags |= FlagTruncated
	}
	if end > 0xffff {
		return ErrIPLength
	}
	p.V6 = true
	p.TOS = h[0]<<4 | h[1]>>4
	p.TTL = h[7]
	copy(p.Src[:], h[8:24])
	copy(p.Dst[:], h[24:40])
	p.Len = uint16(end)

	nh := Proto(h[6])
	pos := off + 40
	n := 0
walk:
	for {
		switch nh {
		case ProtoHopByHop, ProtoIPv6Route, ProtoIPv6Opts, ProtoAH:
			if n == maxExtHeaders || (nh == ProtoHopByHop && n != 0) || pos+8 > end {
				return ErrExtHeader
			}
			var l int
			if nh == ProtoAH {
				l = (int(b[pos+1]) + 2) << 2
			} else {
				l = (int(b[pos+1]) + 1) << 3
			}
			if pos+l > end {
				return ErrExtHeader
			}
			nh = Proto(b[pos])
			pos += l
			n++
		case ProtoIPv6Frag:
			if n == maxExtHeaders || pos+8 > end {
				return ErrExtHeader
			}
			fo := binary.BigEndian.Uint16(b[pos+2 : pos+4])
			p.FragID = binary.BigEndian.Uint32(b[pos+4 : pos+8])
			flags |= FlagFragment
			if fo&1 != 0 {
				flags |= FlagMoreFrags
			}
			nh = Proto(b[pos])
			pos += 8
			n++
			if fo &^= 7; fo != 0 {
				p.FragOff = fo
				flags |= FlagNonFirstFrag
				break walk
			}
		default:
			break walk
		}
	}
	if n > 0 {
		flags |= FlagExtHeaders
	}
	p.Proto = nh
	p.L4Off, p.PayOff = uint16(pos), uint16(pos)
	p.Flags = flags
	if flags&FlagNonFirstFrag != 0 {
		return OK
	}
	if flags&FlagTruncated != 0 {
		return decodeL4Truncated(b[:end], pos, p)
	}
	return decodeL4(b[:end], pos, p)
}

// decodeL4 decodes the transport header at b[off:]; b ends where the IP
// packet ends.
func decodeL4(b []byte, off int, p *Parsed) Result {
	t := b[off:]
	switch p.Proto {
	case ProtoTCP:
		if len(t) < 20 {
			return ErrL4Short
		}
		doff := int(t[12]>>4) << 2
		if doff < 20 || doff > len(t) {
			return ErrL4Short
		}
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		p.TCPFlags = TCPFlags(t[13])
		p.PayOff = uint16(off + doff)
	case ProtoUDP:
		if len(t) < 8 {
			return ErrL4Short
		}
		// A first fragment (more fragments follow) carries only part of
		// the datagram its UDP length describes.
		if ul := int(binary.BigEndian.Uint16(t[4:6])); ul < 8 || (ul > len(t) && !p.Flags.Has(FlagMoreFrags)) {
			return ErrL4Short
		}
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		p.PayOff = uint16(off + 8)
	case ProtoSCTP:
		if len(t) < 16 {
			return ErrL4Short
		}
		cl := int(binary.BigEndian.Uint16(t[14:16]))
		if cl < 4 || 12+cl > len(t) {
			return ErrL4Short
		}
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		p.SCTPChunk = t[12]
		if next := 12 + (cl+3)&^3; next+4 <= len(t) {
			p.SCTPChunk2 = t[next]
			p.Flags |= FlagSCTPChunk2
		}
		p.PayOff = uint16(off + 12)
	case ProtoICMP, ProtoICMPv6:
		if len(t) < 8 {
			return ErrL4Short
		}
		p.ICMPType = t[0]
		p.ICMPCode = t[1]
		p.PayOff = uint16(off + 8)
	default:
		return OK
	}
	p.Flags |= FlagL4
	return OK
}

// decodeL4Truncated is decodeL4 for a packet inside an ICMP error that is
// cut short (FlagTruncated): only the first 8 bytes of the transport header
// are required, and lengths that point beyond the data are not errors.
func decodeL4Truncated(b []byte, off int, p *Parsed) Result {
	t := b[off:]
	switch p.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoICMPv6:
	default:
		return OK
	}
	if len(t) < 8 {
		return ErrL4Short
	}
	full := 8
	switch p.Proto {
	case ProtoTCP:
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		if len(t) >= 14 {
			p.TCPFlags = TCPFlags(t[13])
		}
		full = 20
		if len(t) >= 13 {
			if full = int(t[12]>>4) << 2; full < 20 {
				return ErrL4Short
			}
		}
	case ProtoUDP:
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
	case ProtoSCTP:
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		full = 12
		if len(t) >= 13 {
			p.SCTPChunk = t[12]
		}
		if len(t) >= 16 {
			cl := int(binary.BigEndian.Uint16(t[14:16]))
			if cl < 4 {
				return ErrL4Short
			}
			if next := 12 + (cl+3)&^3; next+4 <= len(t) {
				p.SCTPChunk2 = t[next]
				p.Flags |= FlagSCTPChunk2
			}
		}
	default: // ICMP, ICMPv6
		p.ICMPType = t[0]
		p.ICMPCode = t[1]
	}
	if full > len(t) {
		p.PayOff = uint16(len(b))
	} else {
		p.PayOff = uint16(off + full)
	}
	p.Flags |= FlagL4
	return OK
}
