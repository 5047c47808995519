package packet

// Parsed is the summary of one frame, decoded once per packet by Decode and
// reused by the worker for the next frame (it holds no pointers, so reusing it
// allocates nothing). Offsets are relative to the start of the frame (the
// first byte of the Ethernet header).
//
// Addresses are stored as 16-byte arrays; an IPv4 address is stored in
// IPv4-mapped form (::ffff:a.b.c.d, the netip.Addr.As16 layout), and V6 tells
// the two families apart.
type Parsed struct {
	// Layer 2.
	EtherType uint16 // after the VLAN tag, if any
	VLAN      uint16 // VLAN ID (12 bits) when Flags&FlagVLAN is set
	L3Off     uint16 // offset of the IP header
	L4Off     uint16 // offset of the transport header (after IPv4 options / IPv6 extension headers)
	PayOff    uint16 // offset of the transport payload (after the TCP/UDP/SCTP/ICMP header)
	Len       uint16 // frame length as decoded: L3Off + IP total length (Ethernet padding excluded)

	// Layer 3.
	V6       bool
	Proto    Proto // transport protocol (IPv6: after the extension-header walk)
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	TOS      uint8 // IPv4 TOS or IPv6 traffic class
	Src, Dst [16]byte
	FragID   uint32 // IPv4 identification or IPv6 fragment identification
	FragOff  uint16 // fragment offset in bytes
	Flags    Flags

	// Layer 4 (valid when the header is present: not for non-first fragments).
	SrcPort, DstPort uint16 // TCP/UDP/SCTP ports; for ICMP: 0
	TCPFlags         TCPFlags
	SCTPChunk        uint8 // type of the first SCTP chunk
	SCTPChunk2       uint8 // type of the second chunk when Flags&FlagSCTPChunk2 is set
	ICMPType         uint8
	ICMPCode         uint8
}

// Flags records facts about a decoded frame.
type Flags uint16

const (
	FlagVLAN         Flags = 1 << iota // one 802.1Q tag was present
	FlagIPOptions                      // IPv4 header carries options (IHL > 5)
	FlagDF                             // IPv4 don't-fragment bit
	FlagFragment                       // the packet is a fragment (IPv4 MF or offset, or IPv6 fragment header)
	FlagMoreFrags                      // more fragments follow
	FlagNonFirstFrag                   // fragment offset > 0: no transport header
	FlagExtHeaders                     // IPv6 extension headers were walked
	FlagSCTPChunk2                     // SCTPChunk2 is valid
	FlagL4                             // the transport header was fully present and decoded (DecodeEmbedded: its first 8 bytes)
	FlagTruncated                      // DecodeEmbedded only: the embedded packet or its transport header is cut short
)

// Has reports whether all bits of f2 are set.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// Proto is an IP protocol number.
type Proto uint8

// Protocol numbers the director knows by name.
const (
	ProtoICMP   Proto = 1
	ProtoIPIP   Proto = 4
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoIPv6   Proto = 41
	ProtoGRE    Proto = 47
	ProtoICMPv6 Proto = 58
	ProtoSCTP   Proto = 132
)

// IPv6 extension header and related next-header values.
const (
	ProtoHopByHop   Proto = 0  // IPv6 hop-by-hop options
	ProtoIPv6Route  Proto = 43 // IPv6 routing header
	ProtoIPv6Frag   Proto = 44 // IPv6 fragment header
	ProtoESP        Proto = 50 // encapsulating security payload (the walk stops here)
	ProtoAH         Proto = 51 // authentication header
	ProtoIPv6NoNext Proto = 59 // no next header
	ProtoIPv6Opts   Proto = 60 // IPv6 destination options
)

// TCPFlags is the flags byte of a TCP header.
type TCPFlags uint8

// TCP flag bits.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// EtherType values.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100
	EtherTypeIPv6 uint16 = 0x86DD
)
