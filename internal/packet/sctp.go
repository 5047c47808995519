package packet

import (
	"encoding/binary"
	"hash/crc32"
)

// SCTP is a view of an SCTP packet: the 12-byte common header and the
// chunks. The checksum covers all of b, so b must end where the packet ends.
// Check IsValid before using the other methods.
//
// The checksum is CRC32c (Castagnoli). RFC 4960 Appendix B stores it least
// significant byte first; Checksum and SetChecksum convert, so that
// Checksum() == SCTPChecksum(b) for a correct packet.
type SCTP []byte

// SCTPHeaderLen is the length of the SCTP common header.
const SCTPHeaderLen = 12

// SCTP chunk types the director looks at.
const (
	SCTPData         uint8 = 0
	SCTPInit         uint8 = 1
	SCTPInitAck      uint8 = 2
	SCTPSack         uint8 = 3
	SCTPHeartbeat    uint8 = 4
	SCTPHeartbeatAck uint8 = 5
	SCTPAbort        uint8 = 6
	SCTPShutdown     uint8 = 7
	SCTPShutdownAck  uint8 = 8
	SCTPError        uint8 = 9
	SCTPCookieEcho   uint8 = 10
	SCTPCookieAck    uint8 = 11
	SCTPShutdownComp uint8 = 14
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpZeroChecksum stands in for the checksum field while computing it
// (read-only).
var sctpZeroChecksum [4]byte

// SCTPChecksum returns the CRC32c of the SCTP packet b (common header and
// chunks) with the checksum field counted as zero. It allocates nothing.
func SCTPChecksum(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:8])
	c = crc32.Update(c, castagnoli, sctpZeroChecksum[:])
	return crc32.Update(c, castagnoli, b[12:])
}

// IsValid reports whether b holds the common header and at least one chunk
// header whose length is between 4 and the rest of b.
func (b SCTP) IsValid() bool {
	if len(b) < SCTPHeaderLen+4 {
		return false
	}
	l := int(binary.BigEndian.Uint16(b[14:16]))
	return l >= 4 && SCTPHeaderLen+l <= len(b)
}

// SourcePort returns the source port.
func (b SCTP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DestinationPort returns the destination port.
func (b SCTP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// VerificationTag returns the verification tag.
func (b SCTP) VerificationTag() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Checksum returns the checksum field (see the type comment for the byte
// order).
func (b SCTP) Checksum() uint32 { return binary.LittleEndian.Uint32(b[8:12]) }

// FirstChunkType returns the type of the first chunk.
func (b SCTP) FirstChunkType() uint8 { return b[12] }

// Chunks returns the bytes after the common header.
func (b SCTP) Chunks() []byte { return b[SCTPHeaderLen:] }

// SetSourcePort sets the source port (the checksum is not updated).
func (b SCTP) SetSourcePort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDestinationPort sets the destination port (the checksum is not updated).
func (b SCTP) SetDestinationPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetVerificationTag sets the verification tag (the checksum is not updated).
func (b SCTP) SetVerificationTag(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetChecksum sets the checksum field.
func (b SCTP) SetChecksum(v uint32) { binary.LittleEndian.PutUint32(b[8:12], v) }

// UpdateChecksum recomputes and stores the checksum (CRC32c cannot be
// updated incrementally, so SCTP NAT recomputes it, as the kernel does).
func (b SCTP) UpdateChecksum() { b.SetChecksum(SCTPChecksum(b)) }

// IsChecksumValid reports whether the checksum is correct.
func (b SCTP) IsChecksumValid() bool { return b.Checksum() == SCTPChecksum(b) }

// Encode writes the common header and chunks f describes into
// b[:f.HeaderLen()], the checksum as given.
func (b SCTP) Encode(f *SCTPFields) {
	h := b[:f.HeaderLen()]
	binary.BigEndian.PutUint16(h[0:], f.SrcPort)
	binary.BigEndian.PutUint16(h[2:], f.DstPort)
	binary.BigEndian.PutUint32(h[4:], f.VerificationTag)
	binary.LittleEndian.PutUint32(h[8:], f.Checksum)
	pos := SCTPHeaderLen
	for i := range f.Chunks {
		c := &f.Chunks[i]
		n := c.Len()
		ch := h[pos : pos+n]
		ch[0] = c.Type
		ch[1] = c.Flags
		binary.BigEndian.PutUint16(ch[2:], uint16(4+len(c.Value)))
		clear(ch[4+copy(ch[4:], c.Value):])
		pos += n
	}
}
