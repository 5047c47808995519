package packet

import "encoding/binary"

// UDP is a view of a UDP datagram: header and payload. Checksum methods
// cover all of b, so b must end where the datagram ends. Check IsValid
// before using the other methods.
//
// A checksum of 0 means "none" (allowed on IPv4, and for IPv6 tunnels); the
// WithChecksum setters leave it 0, and a computed 0 is stored as 0xFFFF.
type UDP []byte

// UDPHeaderLen is the length of a UDP header.
const UDPHeaderLen = 8

// IsValid reports whether b holds the header and the length field is
// between 8 and len(b): a complete datagram. The first fragment of a
// fragmented datagram fails it (Decode accepts one).
func (b UDP) IsValid() bool {
	if len(b) < UDPHeaderLen {
		return false
	}
	l := int(b.Length())
	return l >= UDPHeaderLen && l <= len(b)
}

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Length returns the length field (header and payload).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Checksum returns the checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes after the header up to the length field.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSourcePort sets the source port (the checksum is not updated).
func (b UDP) SetSourcePort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDestinationPort sets the destination port (the checksum is not updated).
func (b UDP) SetDestinationPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetLength sets the length field (the checksum is not updated).
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// update stores the checksum after a change of old to new, unless the
// datagram has no checksum.
func (b UDP) update(c uint16) {
	if c == 0 {
		c = 0xffff
	}
	b.SetChecksum(c)
}

// SetSourcePortWithChecksum sets the source port and updates the checksum
// incrementally (RFC 1624), unless it is 0 (none).
func (b UDP) SetSourcePortWithChecksum(v uint16) {
	old := b.SourcePort()
	b.SetSourcePort(v)
	if c := b.Checksum(); c != 0 {
		b.update(Update16(c, old, v))
	}
}

// SetDestinationPortWithChecksum sets the destination port and updates the
// checksum incrementally, unless it is 0 (none).
func (b UDP) SetDestinationPortWithChecksum(v uint16) {
	old := b.DestinationPort()
	b.SetDestinationPort(v)
	if c := b.Checksum(); c != 0 {
		b.update(Update16(c, old, v))
	}
}

// UpdateChecksumForAddress updates the checksum for a pseudo-header address
// that changed from old to new (4 or 16 bytes), unless it is 0 (none).
func (b UDP) UpdateChecksumForAddress(old, new []byte) {
	if c := b.Checksum(); c != 0 {
		b.update(UpdateBytes(c, old, new))
	}
}

// CalculateChecksum returns the checksum of datagram b with the
// pseudo-header sum pseudo, counting the checksum field as zero; a computed
// 0 is returned as 0xFFFF.
func (b UDP) CalculateChecksum(pseudo uint32) uint16 {
	c := ^Fold(Sum(Sum(pseudo, b[:6]), b[8:]))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// IsChecksumValid reports whether the checksum of datagram b is correct. A
// zero checksum (none) is not valid here; callers decide whether "none" is
// acceptable (IPv4: yes).
func (b UDP) IsChecksumValid(pseudo uint32) bool {
	return b.Checksum() != 0 && Fold(Sum(pseudo, b)) == 0xffff
}

// Encode writes the header f describes into b[:8], length and checksum as
// given.
func (b UDP) Encode(f *UDPFields) {
	h := b[:UDPHeaderLen]
	binary.BigEndian.PutUint16(h[0:], f.SrcPort)
	binary.BigEndian.PutUint16(h[2:], f.DstPort)
	binary.BigEndian.PutUint16(h[4:], f.Length)
	binary.BigEndian.PutUint16(h[6:], f.Checksum)
}
