package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is a view of an IPv4 header and the rest of the packet. Check
// IsValid before using the other methods.
type IPv4 []byte

// IPv4MinHeaderLen is the length of an IPv4 header without options.
const IPv4MinHeaderLen = 20

// IsValid reports whether b holds a whole IPv4 header (version 4, IHL >= 5,
// options included) and a total length between the header length and len(b).
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinHeaderLen || b[0]>>4 != 4 {
		return false
	}
	hl := b.HeaderLen()
	tl := int(b.TotalLength())
	return hl >= IPv4MinHeaderLen && hl <= len(b) && tl >= hl && tl <= len(b)
}

// Version returns the version nibble.
func (b IPv4) Version() uint8 { return b[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL·4).
func (b IPv4) HeaderLen() int { return int(b[0]&0x0f) << 2 }

// TOS returns the type-of-service (DS field and ECN) byte.
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLength returns the total length field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// DF reports whether the don't-fragment bit is set.
func (b IPv4) DF() bool { return b[6]&0x40 != 0 }

// MF reports whether the more-fragments bit is set.
func (b IPv4) MF() bool { return b[6]&0x20 != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 { return binary.BigEndian.Uint16(b[6:8]) & 0x1fff << 3 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the protocol field.
func (b IPv4) Protocol() Proto { return Proto(b[9]) }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// Source returns the source address.
func (b IPv4) Source() [4]byte { return [4]byte(b[12:16]) }

// Destination returns the destination address.
func (b IPv4) Destination() [4]byte { return [4]byte(b[16:20]) }

// SourceAddr returns the source address as a netip.Addr.
func (b IPv4) SourceAddr() netip.Addr { return netip.AddrFrom4(b.Source()) }

// DestinationAddr returns the destination address as a netip.Addr.
func (b IPv4) DestinationAddr() netip.Addr { return netip.AddrFrom4(b.Destination()) }

// Options returns the options (empty without).
func (b IPv4) Options() []byte { return b[IPv4MinHeaderLen:b.HeaderLen()] }

// Payload returns the bytes after the header up to the total length.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLength()] }

// SetTOS sets the TOS byte (the checksum is not updated).
func (b IPv4) SetTOS(v uint8) { b[1] = v }

// SetTotalLength sets the total length (the checksum is not updated).
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetID sets the identification (the checksum is not updated).
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetTTL sets the TTL (the checksum is not updated).
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetProtocol sets the protocol (the checksum is not updated).
func (b IPv4) SetProtocol(v Proto) { b[9] = uint8(v) }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:12], v) }

// SetSource sets the source address (the checksum is not updated).
func (b IPv4) SetSource(a [4]byte) { copy(b[12:16], a[:]) }

// SetDestination sets the destination address (the checksum is not updated).
func (b IPv4) SetDestination(a [4]byte) { copy(b[16:20], a[:]) }

// CalculateChecksum returns the header checksum computed over the header
// (with the checksum field counted as zero).
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLen()
	return ^Fold(Sum(Sum(0, b[0:10]), b[12:hl]))
}

// UpdateChecksum recomputes and stores the header checksum.
func (b IPv4) UpdateChecksum() { b.SetChecksum(b.CalculateChecksum()) }

// IsChecksumValid reports whether the header checksum is correct.
func (b IPv4) IsChecksumValid() bool { return Fold(Sum(0, b[:b.HeaderLen()])) == 0xffff }

// SetSourceWithChecksum sets the source address and updates the header
// checksum incrementally (RFC 1624). Transport checksums that cover the
// address (pseudo-header) need their own update, e.g.
// TCP.UpdateChecksumForAddress.
func (b IPv4) SetSourceWithChecksum(a [4]byte) {
	old := binary.BigEndian.Uint32(b[12:16])
	b.SetSource(a)
	b.SetChecksum(Update32(b.Checksum(), old, binary.BigEndian.Uint32(a[:])))
}

// SetDestinationWithChecksum sets the destination address and updates the
// header checksum incrementally (see SetSourceWithChecksum).
func (b IPv4) SetDestinationWithChecksum(a [4]byte) {
	old := binary.BigEndian.Uint32(b[16:20])
	b.SetDestination(a)
	b.SetChecksum(Update32(b.Checksum(), old, binary.BigEndian.Uint32(a[:])))
}

// SetTTLWithChecksum sets the TTL and updates the header checksum.
func (b IPv4) SetTTLWithChecksum(v uint8) {
	old := binary.BigEndian.Uint16(b[8:10])
	b[8] = v
	b.SetChecksum(Update16(b.Checksum(), old, binary.BigEndian.Uint16(b[8:10])))
}

// DecrementTTL decrements the TTL (unless it is 0) with a checksum update
// and returns the TTL it had before.
func (b IPv4) DecrementTTL() uint8 {
	t := b[8]
	if t > 0 {
		b[8] = t - 1
		// RFC 1624 eqn. 3 for the TTL/protocol word m: ~m + m' is exactly
		// 0xffff - 0x100 = 0xfeff whatever the TTL and protocol are.
		b.SetChecksum(^Fold(uint32(^b.Checksum()) + 0xfeff))
	}
	return t
}

// SetTOSWithChecksum sets the TOS byte and updates the header checksum.
func (b IPv4) SetTOSWithChecksum(v uint8) {
	old := binary.BigEndian.Uint16(b[0:2])
	b[1] = v
	b.SetChecksum(Update16(b.Checksum(), old, binary.BigEndian.Uint16(b[0:2])))
}

// SetTotalLengthWithChecksum sets the total length and updates the header
// checksum.
func (b IPv4) SetTotalLengthWithChecksum(v uint16) {
	old := b.TotalLength()
	b.SetTotalLength(v)
	b.SetChecksum(Update16(b.Checksum(), old, v))
}

// SetIDWithChecksum sets the identification and updates the header checksum.
func (b IPv4) SetIDWithChecksum(v uint16) {
	old := b.ID()
	b.SetID(v)
	b.SetChecksum(Update16(b.Checksum(), old, v))
}

// Encode writes the header f describes into b[:f.HeaderLen()], options
// zero-padded, and its checksum. It panics if the options exceed 40 bytes.
func (b IPv4) Encode(f *IPv4Fields) {
	hl := f.HeaderLen()
	if hl > 60 {
		panic("packet: IPv4 options longer than 40 bytes")
	}
	h := b[:hl]
	h[0] = 0x40 | uint8(hl>>2)
	h[1] = f.TOS
	binary.BigEndian.PutUint16(h[2:], f.TotalLength)
	binary.BigEndian.PutUint16(h[4:], f.ID)
	fo := f.FragOffset >> 3 & 0x1fff
	if f.DF {
		fo |= 0x4000
	}
	if f.MF {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	h[8] = f.TTL
	h[9] = uint8(f.Protocol)
	src, dst := as4(f.Src), as4(f.Dst)
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	clear(h[20+copy(h[20:], f.Options):])
	binary.BigEndian.PutUint16(h[10:], 0)
	IPv4(h).UpdateChecksum()
}
