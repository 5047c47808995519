package packet

import "encoding/binary"

// GUE is a view of a Generic UDP Encapsulation header (variant 0,
// draft-ietf-intarea-gue), the 4-byte header and its optional fields,
// followed by the encapsulated packet. Check IsValid before using the other
// methods.
//
//	 0                   1                   2                   3
//	|0|1|2|3|4|5|6|7|8|9|0|1|2|3|4|5|6|7|8|9|0|1|2|3|4|5|6|7|8|9|0|1|
//	|Ver|C|  Hlen   |  Proto/ctype  |             Flags             |
type GUE []byte

// GUEMinHeaderLen is the length of the GUE header without optional fields.
const GUEMinHeaderLen = 4

// IsValid reports whether b holds the header and its optional fields.
func (b GUE) IsValid() bool { return len(b) >= GUEMinHeaderLen && b.HeaderLen() <= len(b) }

// Version returns the 2-bit version (0 for a GUE header; 1 means the
// payload is a bare IP packet without a GUE header).
func (b GUE) Version() uint8 { return b[0] >> 6 }

// Control reports whether the C bit is set (a control message).
func (b GUE) Control() bool { return b[0]&0x20 != 0 }

// HLen returns the length of the optional fields in 32-bit words.
func (b GUE) HLen() int { return int(b[0] & 0x1f) }

// HeaderLen returns the header length in bytes, optional fields included.
func (b GUE) HeaderLen() int { return GUEMinHeaderLen + b.HLen()<<2 }

// Proto returns the inner protocol (data) or control type (control).
func (b GUE) Proto() uint8 { return b[1] }

// Flags returns the flags field.
func (b GUE) Flags() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Options returns the optional fields.
func (b GUE) Options() []byte { return b[GUEMinHeaderLen:b.HeaderLen()] }

// Payload returns the bytes after the header (the inner packet).
func (b GUE) Payload() []byte { return b[b.HeaderLen():] }

// Encode writes the header f describes into b[:f.HeaderLen()]; hlen is
// len(f.Options)/4. It panics if the options are not a multiple of 4 bytes
// or longer than 124.
func (b GUE) Encode(f *GUEFields) {
	if len(f.Options)&3 != 0 || len(f.Options) > 31*4 {
		panic("packet: GUE options not a multiple of 4 bytes or longer than 124")
	}
	h := b[:f.HeaderLen()]
	h[0] = f.Version<<6 | uint8(len(f.Options)>>2)
	if f.Control {
		h[0] |= 0x20
	}
	h[1] = f.Proto
	binary.BigEndian.PutUint16(h[2:], f.Flags)
	copy(h[4:], f.Options)
}
