package packet

import "encoding/binary"

// Checksum arithmetic (RFC 1071 ones' complement sums, RFC 1624 incremental
// updates). Sums are carried in uint32 and folded at the end.

// Sum adds the bytes of b (as big-endian 16-bit words, an odd final byte
// padded with zero) to the running sum s.
func Sum(s uint32, b []byte) uint32 {
	n := len(b)
	i := 0
	for ; i+8 <= n; i += 8 {
		s += uint32(binary.BigEndian.Uint16(b[i:])) + uint32(binary.BigEndian.Uint16(b[i+2:])) +
			uint32(binary.BigEndian.Uint16(b[i+4:])) + uint32(binary.BigEndian.Uint16(b[i+6:]))
	}
	for ; i+2 <= n; i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if i < n {
		s += uint32(b[i]) << 8
	}
	return s
}

// Fold folds a running sum into 16 bits (without complementing it).
// Two folds suffice for any uint32: the first leaves at most 0x1fffe, so
// the second carry is 0 or 1 and cannot overflow again (branch-free, unlike
// a fold-until-done loop).
func Fold(s uint32) uint16 {
	s = s&0xffff + s>>16
	return uint16(s + s>>16)
}

// Checksum returns the Internet checksum of b seeded with the running sum s:
// the ones' complement of the folded sum.
func Checksum(s uint32, b []byte) uint16 { return ^Fold(Sum(s, b)) }

// PseudoSum returns the running sum of the transport pseudo-header for a
// segment of length l with protocol proto. src and dst are 16-byte addresses;
// for IPv4 (v6 false) only their last 4 bytes (the IPv4-mapped part) count.
func PseudoSum(v6 bool, src, dst *[16]byte, proto Proto, l int) uint32 {
	var s uint32
	if v6 {
		s = Sum(0, src[:]) + Sum(0, dst[:])
	} else {
		s = Sum(0, src[12:]) + Sum(0, dst[12:])
	}
	return s + uint32(proto) + uint32(l&0xffff) + uint32(l>>16)
}

// Update16 returns checksum c after a 16-bit word of the covered data changed
// from old to new (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
func Update16(c, old, new uint16) uint16 {
	s := uint32(^c) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 is Update16 for a 32-bit field (for example an IPv4 address).
func Update32(c uint16, old, new uint32) uint16 {
	s := uint32(^c) + uint32(^uint16(old>>16)) + uint32(^uint16(old)) + uint32(uint16(new>>16)) + uint32(uint16(new))
	return ^Fold(s)
}

// UpdateBytes is the RFC 1624 update for a field of even length (an IPv4 or
// IPv6 address) that changed from old to new.
func UpdateBytes(c uint16, old, new []byte) uint16 {
	s := uint32(^c)
	for i := 0; i+1 < len(old); i += 2 {
		s += uint32(^binary.BigEndian.Uint16(old[i:])) + uint32(binary.BigEndian.Uint16(new[i:]))
	}
	return ^Fold(s)
}
