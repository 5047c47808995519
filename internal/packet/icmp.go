package packet

import "encoding/binary"

// ICMP is a view of an ICMP or ICMPv6 message: the 8-byte header and the
// body (for errors, the start of the offending packet). The two share the
// layout; the ICMPv6 checksum also covers a pseudo-header, ICMPv4's does
// not (pass pseudo 0). Checksum methods cover all of b. Check IsValid before
// using the other methods.
type ICMP []byte

// ICMPHeaderLen is the length of the ICMP header.
const ICMPHeaderLen = 8

// ICMPv4 types and codes.
const (
	ICMPv4EchoReply      uint8 = 0
	ICMPv4DestUnreach    uint8 = 3
	ICMPv4SourceQuench   uint8 = 4
	ICMPv4Redirect       uint8 = 5
	ICMPv4Echo           uint8 = 8
	ICMPv4TimeExceeded   uint8 = 11
	ICMPv4ParamProblem   uint8 = 12
	ICMPv4PortUnreach    uint8 = 3 // code of ICMPv4DestUnreach
	ICMPv4FragNeeded     uint8 = 4 // code of ICMPv4DestUnreach
	ICMPv4TTLExceeded    uint8 = 0 // code of ICMPv4TimeExceeded
	ICMPv4HostUnreach    uint8 = 1 // code of ICMPv4DestUnreach
	ICMPv4NetUnreach     uint8 = 0 // code of ICMPv4DestUnreach
	ICMPv4ProtoUnreach   uint8 = 2 // code of ICMPv4DestUnreach
	ICMPv4FragReassembly uint8 = 1 // code of ICMPv4TimeExceeded
)

// ICMPv6 types and codes.
const (
	ICMPv6DestUnreach    uint8 = 1
	ICMPv6PacketTooBig   uint8 = 2
	ICMPv6TimeExceeded   uint8 = 3
	ICMPv6ParamProblem   uint8 = 4
	ICMPv6EchoRequest    uint8 = 128
	ICMPv6EchoReply      uint8 = 129
	ICMPv6PortUnreach    uint8 = 4 // code of ICMPv6DestUnreach
	ICMPv6HopLimitExceed uint8 = 0 // code of ICMPv6TimeExceeded
)

// IsValid reports whether b holds the 8-byte header.
func (b ICMP) IsValid() bool { return len(b) >= ICMPHeaderLen }

// Type returns the type.
func (b ICMP) Type() uint8 { return b[0] }

// Code returns the code.
func (b ICMP) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Rest returns the second 32-bit word of the header.
func (b ICMP) Rest() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ident returns the echo identifier (the high half of Rest).
func (b ICMP) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Sequence returns the echo sequence number (the low half of Rest).
func (b ICMP) Sequence() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// NextHopMTU returns the MTU of an ICMPv4 fragmentation-needed message (the
// low half of Rest). For ICMPv6 packet-too-big the MTU is all of Rest.
func (b ICMP) NextHopMTU() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes after the header (for an error, the embedded
// packet).
func (b ICMP) Payload() []byte { return b[ICMPHeaderLen:] }

// SetType sets the type (the checksum is not updated).
func (b ICMP) SetType(v uint8) { b[0] = v }

// SetCode sets the code (the checksum is not updated).
func (b ICMP) SetCode(v uint8) { b[1] = v }

// SetChecksum sets the checksum field.
func (b ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetRest sets the second header word (the checksum is not updated).
func (b ICMP) SetRest(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// UpdateChecksumForAddress updates an ICMPv6 checksum for a pseudo-header
// address that changed from old to new. ICMPv4 has no pseudo-header: do not
// call it there.
func (b ICMP) UpdateChecksumForAddress(old, new []byte) {
	b.SetChecksum(UpdateBytes(b.Checksum(), old, new))
}

// UpdateChecksumForChange updates the checksum after bytes inside the
// message (for example the embedded packet's addresses, ports or its IP
// checksum) changed from old to new. old and new have the same even
// length and start at an even offset of the message.
func (b ICMP) UpdateChecksumForChange(old, new []byte) {
	b.SetChecksum(UpdateBytes(b.Checksum(), old, new))
}

// CalculateChecksum returns the checksum of message b with the
// pseudo-header sum pseudo (0 for ICMPv4), counting the checksum field as
// zero.
func (b ICMP) CalculateChecksum(pseudo uint32) uint16 {
	return ^Fold(Sum(Sum(pseudo, b[:2]), b[4:]))
}

// UpdateChecksum recomputes and stores the checksum (ICMP errors the
// director rewrites are small, and the kernel recomputes them too).
func (b ICMP) UpdateChecksum(pseudo uint32) { b.SetChecksum(b.CalculateChecksum(pseudo)) }

// IsChecksumValid reports whether the checksum of message b is correct.
func (b ICMP) IsChecksumValid(pseudo uint32) bool { return Fold(Sum(pseudo, b)) == 0xffff }

// Encode writes the header f describes into b[:8], the checksum as given.
func (b ICMP) Encode(f *ICMPFields) {
	h := b[:ICMPHeaderLen]
	h[0] = f.Type
	h[1] = f.Code
	binary.BigEndian.PutUint16(h[2:], f.Checksum)
	binary.BigEndian.PutUint32(h[4:], f.Rest)
}
