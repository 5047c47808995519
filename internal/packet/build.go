package packet

// Builders: Fields structs that describe headers, and AppendFrame /
// AppendPacket, which lay out a whole frame with correct lengths and
// checksums. They are for tests, the simulated network and the few packets
// the director generates itself (ICMP errors); the per-packet rewrite path
// works on the views (IPv4, TCP, ...) instead.
//
// API (read this first):
//
//	// Whole frames. dst may carry headroom: the new frame is out[len(dst):].
//	// Lengths (IPv4 total length, IPv6 payload length, UDP length), protocol
//	// / next-header fields, and all checksums are computed; whatever the
//	// Fields hold for them is ignored. Inconsistent frames (both IPv4 and
//	// IPv6, two transport headers, GUE without OuterUDP, ...) panic.
//	func AppendFrame(dst []byte, f *Frame) []byte  // Ethernet [+ VLAN] + packet
//	func AppendPacket(dst []byte, f *Frame) []byte // the IP packet only (f.Ethernet ignored)
//	func (f *Frame) Len() int                      // bytes AppendFrame appends
//
//	type Frame struct {
//		Ethernet  EthernetFields
//		OuterIPv4 *IPv4Fields // tunnel: wrap everything below in this header
//		OuterIPv6 *IPv6Fields //   (IPIP: protocol 4 or 41 ...)
//		OuterUDP  *UDPFields  //   (... or, with GUE, UDP + GUE)
//		GUE       *GUEFields
//		IPv4      *IPv4Fields // the (inner) IP header: at most one of IPv4 / IPv6;
//		IPv6      *IPv6Fields //   neither: a non-IP frame (Ethernet + Payload)
//		TCP       *TCPFields  // at most one transport header
//		UDP       *UDPFields
//		SCTP      *SCTPFields
//		ICMP      *ICMPFields // ICMPv4 under IPv4, ICMPv6 under IPv6
//		Payload   []byte      // after the transport header (or after IP)
//	}
//
//	// Per header: HeaderLen, AppendTo (appends the header as described, with
//	// the fields as given; IPv4 header checksum always computed), and Encode
//	// on the view, which writes into an existing buffer (for prepending
//	// headers into headroom).
//	type EthernetFields struct { Dst, Src [6]byte; HasVLAN bool; VLAN uint16 /* TCI */; EtherType uint16 }
//	type IPv4Fields struct { TOS uint8; TotalLength, ID uint16; DF, MF bool; FragOffset uint16 /* bytes */;
//		TTL uint8; Protocol Proto; Src, Dst netip.Addr; Options []byte }
//	type IPv6Fields struct { TrafficClass uint8; FlowLabel uint32; PayloadLength uint16;
//		NextHeader Proto /* after the extension headers */; HopLimit uint8; Src, Dst netip.Addr;
//		ExtHeaders []IPv6ExtHeader }
//	type IPv6ExtHeader struct { Type Proto; Body []byte; FragOffset uint16; MoreFrags bool; FragID uint32 }
//	func IPv6FragmentHeader(offset uint16, more bool, id uint32) IPv6ExtHeader
//	type TCPFields struct { SrcPort, DstPort uint16; Seq, Ack uint32; Flags TCPFlags; Window, Checksum, Urgent uint16; Options []byte }
//	type UDPFields struct { SrcPort, DstPort, Length, Checksum uint16; NoChecksum bool }
//	type SCTPFields struct { SrcPort, DstPort uint16; VerificationTag, Checksum uint32; Chunks []SCTPChunk }
//	type SCTPChunk struct { Type, Flags uint8; Value []byte }
//	type ICMPFields struct { Type, Code uint8; Checksum uint16; Rest uint32 }
//	type GUEFields struct { Version uint8; Control bool; Proto uint8; Flags uint16; Options []byte }
//
//	func (b Ethernet) Encode(f *EthernetFields) // likewise IPv4, IPv6 (with ext headers), TCP, UDP, SCTP, ICMP, GUE

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// EthernetFields describes an Ethernet header, optionally with one 802.1Q tag.
type EthernetFields struct {
	Dst, Src  [6]byte
	HasVLAN   bool   // add an 802.1Q tag
	VLAN      uint16 // the tag control information: priority (3 bits), DEI, VLAN ID (12 bits)
	EtherType uint16 // AppendFrame sets it from the IP version when the frame carries IP
}

// HeaderLen is 14, or 18 with a VLAN tag.
func (f *EthernetFields) HeaderLen() int {
	if f.HasVLAN {
		return 18
	}
	return 14
}

// AppendTo appends the header to dst.
func (f *EthernetFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	Ethernet(b).Encode(f)
	return dst
}

// IPv4Fields describes an IPv4 header.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16 // AppendFrame computes it
	ID          uint16
	DF, MF      bool
	FragOffset  uint16 // fragment offset in bytes (a multiple of 8)
	TTL         uint8
	Protocol    Proto      // AppendFrame sets it from the next layer, if there is one
	Src, Dst    netip.Addr // IPv4 (or IPv4-mapped); the zero Addr encodes as 0.0.0.0
	Options     []byte     // zero-padded (end-of-options) to a multiple of 4; at most 40 bytes
}

// HeaderLen is 20 plus the padded options.
func (f *IPv4Fields) HeaderLen() int { return 20 + (len(f.Options)+3)&^3 }

// AppendTo appends the header (with its checksum) to dst.
func (f *IPv4Fields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	IPv4(b).Encode(f)
	return dst
}

// IPv6ExtHeader describes one IPv6 extension header.
type IPv6ExtHeader struct {
	// Type is ProtoHopByHop, ProtoIPv6Route, ProtoIPv6Opts, ProtoAH or
	// ProtoIPv6Frag.
	Type Proto
	// Body is what follows the next-header and length bytes. It is
	// zero-padded to the header's unit (8 bytes; for AH 4 bytes and at least
	// the 12-byte fixed part); zero bytes are Pad1 options. Unused for the
	// fragment header.
	Body []byte
	// Fragment header only.
	FragOffset uint16 // bytes, a multiple of 8
	MoreFrags  bool
	FragID     uint32
}

// IPv6FragmentHeader returns a fragment extension header.
func IPv6FragmentHeader(offset uint16, more bool, id uint32) IPv6ExtHeader {
	return IPv6ExtHeader{Type: ProtoIPv6Frag, FragOffset: offset, MoreFrags: more, FragID: id}
}

// Len is the encoded length of the header.
func (h *IPv6ExtHeader) Len() int {
	switch h.Type {
	case ProtoIPv6Frag:
		return 8
	case ProtoAH:
		return max(12, (2+len(h.Body)+3)&^3)
	}
	return (2 + len(h.Body) + 7) &^ 7
}

// encode writes the header into b[:h.Len()] with next as its next header.
func (h *IPv6ExtHeader) encode(b []byte, next Proto) {
	n := h.Len()
	b = b[:n]
	b[0] = uint8(next)
	switch h.Type {
	case ProtoIPv6Frag:
		b[1] = 0
		fo := h.FragOffset &^ 7
		if h.MoreFrags {
			fo |= 1
		}
		binary.BigEndian.PutUint16(b[2:], fo)
		binary.BigEndian.PutUint32(b[4:], h.FragID)
		return
	case ProtoAH:
		b[1] = uint8(n/4 - 2)
	default:
		b[1] = uint8(n/8 - 1)
	}
	clear(b[2+copy(b[2:], h.Body):])
}

// IPv6Fields describes an IPv6 header and its extension headers.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32 // 20 bits
	PayloadLength uint16 // AppendFrame computes it
	// NextHeader is the protocol after the extension headers; the chain
	// itself is written from ExtHeaders. AppendFrame sets it from the next
	// layer, if there is one.
	NextHeader Proto
	HopLimit   uint8
	Src, Dst   netip.Addr // the zero Addr encodes as ::
	ExtHeaders []IPv6ExtHeader
}

// HeaderLen is 40 plus the extension headers.
func (f *IPv6Fields) HeaderLen() int {
	n := 40
	for i := range f.ExtHeaders {
		n += f.ExtHeaders[i].Len()
	}
	return n
}

// AppendTo appends the fixed header and the extension headers to dst.
func (f *IPv6Fields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	IPv6(b).Encode(f)
	return dst
}

// TCPFields describes a TCP header.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            TCPFlags
	Window           uint16
	Checksum         uint16 // AppendFrame computes it
	Urgent           uint16
	Options          []byte // zero-padded (end-of-options) to a multiple of 4; at most 40 bytes
}

// HeaderLen is 20 plus the padded options.
func (f *TCPFields) HeaderLen() int { return 20 + (len(f.Options)+3)&^3 }

// AppendTo appends the header to dst (checksum as given).
func (f *TCPFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	TCP(b).Encode(f)
	return dst
}

// UDPFields describes a UDP header.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // AppendFrame computes it
	Checksum         uint16 // AppendFrame computes it unless NoChecksum
	NoChecksum       bool   // AppendFrame leaves the checksum 0 ("none"; IPv4, or IPv6 tunnels)
}

// HeaderLen is 8.
func (f *UDPFields) HeaderLen() int { return 8 }

// AppendTo appends the header to dst (length and checksum as given).
func (f *UDPFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, 8)
	UDP(b).Encode(f)
	return dst
}

// SCTPChunk describes one SCTP chunk.
type SCTPChunk struct {
	Type, Flags uint8
	Value       []byte // the chunk length is 4+len(Value); the chunk is zero-padded to 4 bytes
}

// Len is the padded length of the chunk.
func (c *SCTPChunk) Len() int { return (4 + len(c.Value) + 3) &^ 3 }

// SCTPFields describes an SCTP common header and its chunks.
type SCTPFields struct {
	SrcPort, DstPort uint16
	VerificationTag  uint32
	Checksum         uint32 // CRC32c as SCTPChecksum returns it; AppendFrame computes it
	Chunks           []SCTPChunk
}

// HeaderLen is 12 plus the padded chunks.
func (f *SCTPFields) HeaderLen() int {
	n := 12
	for i := range f.Chunks {
		n += f.Chunks[i].Len()
	}
	return n
}

// AppendTo appends the common header and the chunks to dst (checksum as
// given).
func (f *SCTPFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	SCTP(b).Encode(f)
	return dst
}

// ICMPFields describes an ICMP or ICMPv6 header.
type ICMPFields struct {
	Type, Code uint8
	Checksum   uint16 // AppendFrame computes it
	// Rest is the second 32-bit word: identifier<<16|sequence for echo,
	// the next-hop MTU (low 16 bits) for an ICMP fragmentation-needed, the
	// MTU for ICMPv6 packet-too-big, 0 for most errors.
	Rest uint32
}

// HeaderLen is 8.
func (f *ICMPFields) HeaderLen() int { return 8 }

// AppendTo appends the header to dst (checksum as given).
func (f *ICMPFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, 8)
	ICMP(b).Encode(f)
	return dst
}

// GUEFields describes a GUE header (draft-ietf-intarea-gue, variant 0).
type GUEFields struct {
	Version uint8 // 0
	Control bool  // C bit: a control message, Proto is then the control type
	// Proto is the inner protocol (4 or 41) or control type. AppendFrame sets
	// it from the inner IP version for data messages.
	Proto   uint8
	Flags   uint16
	Options []byte // its length must be a multiple of 4 (hlen = len/4, at most 31 words)
}

// HeaderLen is 4 plus the options.
func (f *GUEFields) HeaderLen() int { return 4 + len(f.Options) }

// AppendTo appends the header to dst.
func (f *GUEFields) AppendTo(dst []byte) []byte {
	dst, b := grow(dst, f.HeaderLen())
	GUE(b).Encode(f)
	return dst
}

// Frame describes a whole frame for AppendFrame and AppendPacket.
type Frame struct {
	Ethernet EthernetFields

	// Tunnel: when OuterIPv4 or OuterIPv6 is set, the packet below is
	// wrapped in that header, directly (IPIP: protocol 4 for inner IPv4, 41
	// for inner IPv6) or, when GUE is set, in UDP (OuterUDP) + GUE. At most
	// one of OuterIPv4 / OuterIPv6; GUE needs OuterUDP.
	OuterIPv4 *IPv4Fields
	OuterIPv6 *IPv6Fields
	OuterUDP  *UDPFields
	GUE       *GUEFields

	// The (inner) IP header: at most one. With neither, the frame is
	// Ethernet + Payload with Ethernet.EtherType as given (ARP and such).
	IPv4 *IPv4Fields
	IPv6 *IPv6Fields

	// The transport header: at most one, or none (Payload follows IP).
	TCP  *TCPFields
	UDP  *UDPFields
	SCTP *SCTPFields
	ICMP *ICMPFields // ICMPv4 under IPv4, ICMPv6 under IPv6

	Payload []byte
}

// Len is the number of bytes AppendFrame appends.
func (f *Frame) Len() int { return f.Ethernet.HeaderLen() + f.packetLen() }

// AppendFrame appends the Ethernet frame f describes to dst and returns the
// extended slice; the frame is out[len(dst):], so a caller can reserve
// headroom by passing dst with that many bytes. It computes lengths,
// protocol fields and checksums (see the API note at the top of this file)
// and panics on an inconsistent Frame.
func AppendFrame(dst []byte, f *Frame) []byte {
	f.check()
	eth := f.Ethernet
	if f.IPv4 != nil || f.IPv6 != nil {
		outer4, outer6 := f.OuterIPv4, f.OuterIPv6
		switch {
		case outer4 != nil, outer6 == nil && f.IPv4 != nil:
			eth.EtherType = EtherTypeIPv4
		default:
			eth.EtherType = EtherTypeIPv6
		}
	}
	dst, b := grow(dst, f.Len())
	Ethernet(b).Encode(&eth)
	f.encodePacket(b[eth.HeaderLen():])
	return dst
}

// AppendPacket is AppendFrame without the Ethernet header: it appends the
// outermost IP packet only (for tests of DecodeIP / DecodeEmbedded, raw IP
// sockets, and ICMP error payloads).
func AppendPacket(dst []byte, f *Frame) []byte {
	f.check()
	dst, b := grow(dst, f.packetLen())
	f.encodePacket(b)
	return dst
}

// grow extends dst by n bytes and returns it with the new tail.
func grow(dst []byte, n int) ([]byte, []byte) {
	l := len(dst)
	dst = slices.Grow(dst, n)[:l+n]
	return dst, dst[l:]
}

func (f *Frame) check() {
	if f.IPv4 != nil && f.IPv6 != nil {
		panic("packet: Frame has both IPv4 and IPv6")
	}
	if f.OuterIPv4 != nil && f.OuterIPv6 != nil {
		panic("packet: Frame has both OuterIPv4 and OuterIPv6")
	}
	if (f.OuterIPv4 != nil || f.OuterIPv6 != nil) && f.IPv4 == nil && f.IPv6 == nil {
		panic("packet: Frame has an outer header but no inner IP header")
	}
	if (f.GUE != nil || f.OuterUDP != nil) && f.OuterIPv4 == nil && f.OuterIPv6 == nil {
		panic("packet: Frame has GUE/OuterUDP without an outer IP header")
	}
	if f.GUE != nil && f.OuterUDP == nil {
		panic("packet: Frame has GUE without OuterUDP")
	}
	n := 0
	if f.TCP != nil {
		n++
	}
	if f.UDP != nil {
		n++
	}
	if f.SCTP != nil {
		n++
	}
	if f.ICMP != nil {
		n++
	}
	if n > 1 {
		panic("packet: Frame has more than one transport header")
	}
	if n == 1 && f.IPv4 == nil && f.IPv6 == nil {
		panic("packet: Frame has a transport header but no IP header")
	}
	if f.IPv4 != nil || f.IPv6 != nil {
		// IPv4 total length and IPv6 payload length are 16 bits (the IPv6
		// limit is looser by its 40-byte header; keep one simple bound).
		if f.packetLen() > 0xffff {
			panic("packet: Frame is longer than 65535 bytes")
		}
	}
}

// l4Len is the length of the transport header (0 without one).
func (f *Frame) l4Len() int {
	switch {
	case f.TCP != nil:
		return f.TCP.HeaderLen()
	case f.UDP != nil:
		return 8
	case f.SCTP != nil:
		return f.SCTP.HeaderLen()
	case f.ICMP != nil:
		return 8
	}
	return 0
}

// l4Proto is the protocol number of the transport header, and whether there is one.
func (f *Frame) l4Proto() (Proto, bool) {
	switch {
	case f.TCP != nil:
		return ProtoTCP, true
	case f.UDP != nil:
		return ProtoUDP, true
	case f.SCTP != nil:
		return ProtoSCTP, true
	case f.ICMP != nil:
		if f.IPv6 != nil {
			return ProtoICMPv6, true
		}
		return ProtoICMP, true
	}
	return 0, false
}

func (f *Frame) innerLen() int {
	n := f.l4Len() + len(f.Payload)
	switch {
	case f.IPv4 != nil:
		n += f.IPv4.HeaderLen()
	case f.IPv6 != nil:
		n += f.IPv6.HeaderLen()
	}
	return n
}

func (f *Frame) outerLen() int {
	n := 0
	switch {
	case f.OuterIPv4 != nil:
		n = f.OuterIPv4.HeaderLen()
	case f.OuterIPv6 != nil:
		n = f.OuterIPv6.HeaderLen()
	}
	if f.OuterUDP != nil {
		n += 8
	}
	if f.GUE != nil {
		n += f.GUE.HeaderLen()
	}
	return n
}

func (f *Frame) packetLen() int { return f.outerLen() + f.innerLen() }

// encodePacket writes the outermost IP packet into b (exactly packetLen bytes).
func (f *Frame) encodePacket(b []byte) {
	if f.IPv4 == nil && f.IPv6 == nil {
		copy(b, f.Payload)
		return
	}
	inner := b[f.outerLen():]
	f.encodeInner(inner)
	if f.OuterIPv4 == nil && f.OuterIPv6 == nil {
		return
	}
	innerProto := ProtoIPIP
	if f.IPv6 != nil {
		innerProto = ProtoIPv6
	}
	// Outer IP header.
	var (
		hl       int
		pseudoV6 bool
		src, dst [16]byte
	)
	nextProto := innerProto
	if f.OuterUDP != nil {
		nextProto = ProtoUDP
	}
	if f.OuterIPv4 != nil {
		h := *f.OuterIPv4
		hl = h.HeaderLen()
		h.Protocol = nextProto
		h.TotalLength = uint16(len(b))
		IPv4(b).Encode(&h)
		src, dst = as16(h.Src, false), as16(h.Dst, false)
	} else {
		h := *f.OuterIPv6
		hl = h.HeaderLen()
		h.NextHeader = nextProto
		h.PayloadLength = uint16(len(b) - 40)
		IPv6(b).Encode(&h)
		src, dst, pseudoV6 = as16(h.Src, true), as16(h.Dst, true), true
	}
	if f.OuterUDP == nil {
		return
	}
	u := *f.OuterUDP
	seg := b[hl:]
	u.Length = uint16(len(seg))
	u.Checksum = 0
	UDP(seg).Encode(&u)
	if f.GUE != nil {
		g := *f.GUE
		if !g.Control {
			g.Proto = uint8(innerProto)
		}
		GUE(seg[8:]).Encode(&g)
	}
	if !u.NoChecksum {
		UDP(seg).SetChecksum(udpChecksum(PseudoSum(pseudoV6, &src, &dst, ProtoUDP, len(seg)), seg))
	}
}

// encodeInner writes the inner IP packet into b (exactly innerLen bytes).
func (f *Frame) encodeInner(b []byte) {
	var (
		hl       int
		v6       bool
		src, dst [16]byte
	)
	proto, hasL4 := f.l4Proto()
	if f.IPv4 != nil {
		h := *f.IPv4
		hl = h.HeaderLen()
		if hasL4 {
			h.Protocol = proto
		}
		h.TotalLength = uint16(len(b))
		IPv4(b).Encode(&h)
		src, dst = as16(h.Src, false), as16(h.Dst, false)
	} else {
		h := *f.IPv6
		hl = h.HeaderLen()
		if hasL4 {
			h.NextHeader = proto
		}
		h.PayloadLength = uint16(len(b) - 40)
		IPv6(b).Encode(&h)
		src, dst, v6 = as16(h.Src, true), as16(h.Dst, true), true
	}
	seg := b[hl:]
	l4 := f.l4Len()
	copy(seg[l4:], f.Payload)
	switch {
	case f.TCP != nil:
		t := TCP(seg)
		t.Encode(f.TCP)
		t.SetChecksum(0)
		t.SetChecksum(Checksum(PseudoSum(v6, &src, &dst, ProtoTCP, len(seg)), seg))
	case f.UDP != nil:
		u := *f.UDP
		u.Length = uint16(len(seg))
		u.Checksum = 0
		UDP(seg).Encode(&u)
		if !u.NoChecksum {
			UDP(seg).SetChecksum(udpChecksum(PseudoSum(v6, &src, &dst, ProtoUDP, len(seg)), seg))
		}
	case f.SCTP != nil:
		s := SCTP(seg)
		s.Encode(f.SCTP)
		s.SetChecksum(SCTPChecksum(seg))
	case f.ICMP != nil:
		c := ICMP(seg)
		c.Encode(f.ICMP)
		c.SetChecksum(0)
		var sum uint32
		if v6 {
			sum = PseudoSum(true, &src, &dst, ProtoICMPv6, len(seg))
		}
		c.SetChecksum(Checksum(sum, seg))
	}
}

// udpChecksum is the UDP checksum of seg (whose checksum field is zero) with
// pseudo-header sum s; a computed 0 is sent as 0xFFFF (RFC 768).
func udpChecksum(s uint32, seg []byte) uint16 {
	c := Checksum(s, seg)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// as16 returns a in the 16-byte layout of Parsed (IPv4-mapped for IPv4).
// An invalid Addr counts as the unspecified address of the family.
func as16(a netip.Addr, v6 bool) [16]byte {
	if !a.IsValid() {
		if v6 {
			return [16]byte{}
		}
		return [16]byte{10: 0xff, 11: 0xff}
	}
	if !v6 {
		a4 := as4(a)
		return [16]byte{10: 0xff, 11: 0xff, 12: a4[0], 13: a4[1], 14: a4[2], 15: a4[3]}
	}
	return a.As16()
}

// as4 returns the 4 bytes of an IPv4 (or IPv4-mapped) address; 0.0.0.0 for
// anything else.
func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}
