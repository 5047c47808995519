package packet

import "encoding/binary"

// Ethernet is a view of an Ethernet header (and what follows it), with at
// most one 802.1Q tag. Check IsValid before using the other methods.
type Ethernet []byte

// Ethernet header sizes.
const (
	EthernetHeaderLen = 14
	VLANTagLen        = 4
)

// IsValid reports whether b holds the whole header, including a VLAN tag
// when the outer EtherType says there is one.
func (b Ethernet) IsValid() bool {
	return len(b) >= EthernetHeaderLen && (!b.HasVLAN() || len(b) >= EthernetHeaderLen+VLANTagLen)
}

// HasVLAN reports whether the frame carries an 802.1Q tag.
func (b Ethernet) HasVLAN() bool { return binary.BigEndian.Uint16(b[12:14]) == EtherTypeVLAN }

// HeaderLen is 14, or 18 with a VLAN tag.
func (b Ethernet) HeaderLen() int {
	if b.HasVLAN() {
		return EthernetHeaderLen + VLANTagLen
	}
	return EthernetHeaderLen
}

// Destination returns the destination MAC address.
func (b Ethernet) Destination() [6]byte { return [6]byte(b[0:6]) }

// Source returns the source MAC address.
func (b Ethernet) Source() [6]byte { return [6]byte(b[6:12]) }

// SetDestination sets the destination MAC address.
func (b Ethernet) SetDestination(a [6]byte) { copy(b[0:6], a[:]) }

// SetSource sets the source MAC address.
func (b Ethernet) SetSource(a [6]byte) { copy(b[6:12], a[:]) }

// VLANTCI returns the tag control information (0 without a tag).
func (b Ethernet) VLANTCI() uint16 {
	if !b.HasVLAN() {
		return 0
	}
	return binary.BigEndian.Uint16(b[14:16])
}

// VLANID returns the 12-bit VLAN ID (0 without a tag).
func (b Ethernet) VLANID() uint16 { return b.VLANTCI() & 0x0fff }

// EtherType returns the EtherType of the payload (after the VLAN tag).
func (b Ethernet) EtherType() uint16 {
	return binary.BigEndian.Uint16(b[b.HeaderLen()-2:])
}

// SetEtherType sets the EtherType of the payload (after the VLAN tag).
func (b Ethernet) SetEtherType(t uint16) {
	binary.BigEndian.PutUint16(b[b.HeaderLen()-2:], t)
}

// Payload returns the bytes after the header.
func (b Ethernet) Payload() []byte { return b[b.HeaderLen():] }

// Encode writes the header f describes into b[:f.HeaderLen()].
func (b Ethernet) Encode(f *EthernetFields) {
	_ = b[f.HeaderLen()-1]
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	if f.HasVLAN {
		binary.BigEndian.PutUint16(b[12:], EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[14:], f.VLAN)
		binary.BigEndian.PutUint16(b[16:], f.EtherType)
		return
	}
	binary.BigEndian.PutUint16(b[12:], f.EtherType)
}
