package packet

import "encoding/binary"

// TCP is a view of a TCP segment: header, options and payload. Checksum
// methods cover all of b, so b must end where the segment ends. Check
// IsValid before using the other methods.
type TCP []byte

// TCPMinHeaderLen is the length of a TCP header without options.
const TCPMinHeaderLen = 20

// IsValid reports whether b holds the whole header (data offset >= 5 and
// within b).
func (b TCP) IsValid() bool {
	if len(b) < TCPMinHeaderLen {
		return false
	}
	d := b.DataOffset()
	return d >= TCPMinHeaderLen && d <= len(b)
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ack returns the acknowledgement number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes.
func (b TCP) DataOffset() int { return int(b[12]>>4) << 2 }

// Flags returns the flags byte.
func (b TCP) Flags() TCPFlags { return TCPFlags(b[13]) }

// Window returns the window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// Urgent returns the urgent pointer.
func (b TCP) Urgent() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the options (empty without).
func (b TCP) Options() []byte { return b[TCPMinHeaderLen:b.DataOffset()] }

// Payload returns the bytes after the header.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetSourcePort sets the source port (the checksum is not updated).
func (b TCP) SetSourcePort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDestinationPort sets the destination port (the checksum is not updated).
func (b TCP) SetDestinationPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetSeq sets the sequence number (the checksum is not updated).
func (b TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetAck sets the acknowledgement number (the checksum is not updated).
func (b TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(b[8:12], v) }

// SetFlags sets the flags byte (the checksum is not updated).
func (b TCP) SetFlags(v TCPFlags) { b[13] = uint8(v) }

// SetWindow sets the window (the checksum is not updated).
func (b TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(b[14:16], v) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[16:18], v) }

// SetSourcePortWithChecksum sets the source port and updates the checksum
// incrementally (RFC 1624).
func (b TCP) SetSourcePortWithChecksum(v uint16) {
	old := b.SourcePort()
	b.SetSourcePort(v)
	b.SetChecksum(Update16(b.Checksum(), old, v))
}

// SetDestinationPortWithChecksum sets the destination port and updates the
// checksum incrementally.
func (b TCP) SetDestinationPortWithChecksum(v uint16) {
	old := b.DestinationPort()
	b.SetDestinationPort(v)
	b.SetChecksum(Update16(b.Checksum(), old, v))
}

// SetSeqWithChecksum sets the sequence number and updates the checksum.
func (b TCP) SetSeqWithChecksum(v uint32) {
	old := b.Seq()
	b.SetSeq(v)
	b.SetChecksum(Update32(b.Checksum(), old, v))
}

// SetAckWithChecksum sets the acknowledgement number and updates the checksum.
func (b TCP) SetAckWithChecksum(v uint32) {
	old := b.Ack()
	b.SetAck(v)
	b.SetChecksum(Update32(b.Checksum(), old, v))
}

// UpdateChecksumForAddress updates the checksum for a pseudo-header address
// that changed from old to new (4 bytes for IPv4, 16 for IPv6; the IP header
// itself is changed separately).
func (b TCP) UpdateChecksumForAddress(old, new []byte) {
	b.SetChecksum(UpdateBytes(b.Checksum(), old, new))
}

// CalculateChecksum returns the checksum of the segment b with the
// pseudo-header sum pseudo (see PseudoSum, Parsed.PseudoSum), counting the
// checksum field as zero.
func (b TCP) CalculateChecksum(pseudo uint32) uint16 {
	return ^Fold(Sum(Sum(pseudo, b[:16]), b[18:]))
}

// IsChecksumValid reports whether the checksum of segment b is correct.
func (b TCP) IsChecksumValid(pseudo uint32) bool { return Fold(Sum(pseudo, b)) == 0xffff }

// Encode writes the header f describes into b[:f.HeaderLen()], options
// zero-padded; the checksum is f.Checksum. It panics if the options exceed
// 40 bytes.
func (b TCP) Encode(f *TCPFields) {
	hl := f.HeaderLen()
	if hl > 60 {
		panic("packet: TCP options longer than 40 bytes")
	}
	h := b[:hl]
	binary.BigEndian.PutUint16(h[0:], f.SrcPort)
	binary.BigEndian.PutUint16(h[2:], f.DstPort)
	binary.BigEndian.PutUint32(h[4:], f.Seq)
	binary.BigEndian.PutUint32(h[8:], f.Ack)
	h[12] = uint8(hl>>2) << 4
	h[13] = uint8(f.Flags)
	binary.BigEndian.PutUint16(h[14:], f.Window)
	binary.BigEndian.PutUint16(h[16:], f.Checksum)
	binary.BigEndian.PutUint16(h[18:], f.Urgent)
	clear(h[20+copy(h[20:], f.Options):])
}
