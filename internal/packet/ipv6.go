package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 is a view of an IPv6 fixed header and the rest of the packet. Check
// IsValid before using the other methods. Extension headers are walked by
// Decode; the view only knows the fixed header.
type IPv6 []byte

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// IsValid reports whether b holds the fixed header (version 6) and the
// payload its payload length announces.
func (b IPv6) IsValid() bool {
	return len(b) >= IPv6HeaderLen && b[0]>>4 == 6 && IPv6HeaderLen+int(b.PayloadLength()) <= len(b)
}

// Version returns the version nibble.
func (b IPv6) Version() uint8 { return b[0] >> 4 }

// TrafficClass returns the traffic class (DS field and ECN).
func (b IPv6) TrafficClass() uint8 { return b[0]<<4 | b[1]>>4 }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:4]) & 0xfffff }

// PayloadLength returns the payload length field.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// NextHeader returns the next-header field of the fixed header.
func (b IPv6) NextHeader() Proto { return Proto(b[6]) }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[7] }

// Source returns the source address.
func (b IPv6) Source() [16]byte { return [16]byte(b[8:24]) }

// Destination returns the destination address.
func (b IPv6) Destination() [16]byte { return [16]byte(b[24:40]) }

// SourceAddr returns the source address as a netip.Addr.
func (b IPv6) SourceAddr() netip.Addr { return netip.AddrFrom16(b.Source()) }

// DestinationAddr returns the destination address as a netip.Addr.
func (b IPv6) DestinationAddr() netip.Addr { return netip.AddrFrom16(b.Destination()) }

// Payload returns the bytes after the fixed header up to the payload length
// (extension headers included).
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLength())] }

// SetTrafficClass sets the traffic class.
func (b IPv6) SetTrafficClass(v uint8) {
	b[0] = b[0]&0xf0 | v>>4
	b[1] = b[1]&0x0f | v<<4
}

// SetFlowLabel sets the flow label (20 bits).
func (b IPv6) SetFlowLabel(v uint32) {
	w := binary.BigEndian.Uint32(b[0:4])&^0xfffff | v&0xfffff
	binary.BigEndian.PutUint32(b[0:4], w)
}

// SetPayloadLength sets the payload length.
func (b IPv6) SetPayloadLength(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetNextHeader sets the next-header field of the fixed header.
func (b IPv6) SetNextHeader(v Proto) { b[6] = uint8(v) }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(v uint8) { b[7] = v }

// DecrementHopLimit decrements the hop limit (unless it is 0) and returns
// the value it had before.
func (b IPv6) DecrementHopLimit() uint8 {
	h := b[7]
	if h > 0 {
		b[7] = h - 1
	}
	return h
}

// SetSource sets the source address. IPv6 has no header checksum; the
// transport checksum needs UpdateChecksumForAddress.
func (b IPv6) SetSource(a [16]byte) { copy(b[8:24], a[:]) }

// SetDestination sets the destination address (see SetSource).
func (b IPv6) SetDestination(a [16]byte) { copy(b[24:40], a[:]) }

// Encode writes the fixed header f describes and its extension headers into
// b[:f.HeaderLen()]. The fixed header's next header is the first extension
// header's type (or f.NextHeader without any); the last extension header
// points to f.NextHeader.
func (b IPv6) Encode(f *IPv6Fields) {
	h := b[:f.HeaderLen()]
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(h[4:6], f.PayloadLength)
	next := f.NextHeader
	if len(f.ExtHeaders) > 0 {
		next = f.ExtHeaders[0].Type
	}
	h[6] = uint8(next)
	h[7] = f.HopLimit
	src, dst := as16(f.Src, true), as16(f.Dst, true)
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
	pos := IPv6HeaderLen
	for i := range f.ExtHeaders {
		e := &f.ExtHeaders[i]
		next := f.NextHeader
		if i+1 < len(f.ExtHeaders) {
			next = f.ExtHeaders[i+1].Type
		}
		e.encode(h[pos:], next)
		pos += e.Len()
	}
}
