package afpacket

import "encoding/binary"

const tpStatusCsumNotReady = 0x8 // TP_STATUS_CSUMNOTREADY

// completeChecksum finishes the TCP or UDP checksum of a frame the kernel
// marked TP_STATUS_CSUMNOTREADY. Such a frame is CHECKSUM_PARTIAL: a local
// socket sent it through a device that offloads checksums (a veth, say),
// so its checksum field holds only the pseudo-header sum and the rest was
// left to hardware that never runs. Handing it on as it is would put a
// bad checksum on the wire after the director forwards it. Real NICs
// never deliver such frames, so this costs nothing there.
//
// It handles Ethernet with at most one VLAN tag, IPv4 (not a fragment) and
// IPv6 without extension headers, carrying TCP or UDP, and reports false
// (frame unchanged) for anything else.
func completeChecksum(f []byte) bool {
	be := binary.BigEndian
	off := ethHdrLen
	if len(f) < off {
		return false
	}
	et := be.Uint16(f[12:])
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < off+vlanLen {
			return false
		}
		et = be.Uint16(f[16:])
		off += vlanLen
	}
	var proto byte
	var l4, end int
	switch et {
	case 0x0800:
		if len(f) < off+20 {
			return false
		}
		ihl := int(f[off]&0x0f) * 4
		tot := int(be.Uint16(f[off+2:]))
		if f[off]>>4 != 4 || ihl < 20 || tot < ihl || tot > len(f)-off || be.Uint16(f[off+6:])&0x3fff != 0 {
			return false
		}
		proto, l4, end = f[off+9], off+ihl, off+tot
	case 0x86dd:
		if len(f) < off+40 || f[off]>>4 != 6 {
			return false
		}
		plen := int(be.Uint16(f[off+4:]))
		if plen > len(f)-off-40 {
			return false
		}
		proto, l4, end = f[off+6], off+40, off+40+plen
	default:
		return false
	}
	var at int
	switch proto {
	case 6: // TCP
		at = 16
	case 17: // UDP
		at = 6
	default:
		return false
	}
	if end-l4 < at+2 {
		return false
	}
	// The field holds the pseudo-header sum: summing the segment with it
	// in place gives the full sum.
	c := ^fold(sum16(f[l4:end]))
	if proto == 17 && c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	be.PutUint16(f[l4+at:], c)
	return true
}

// sum16 is the ones' complement sum of b as big-endian 16-bit words
// (odd length padded with a zero byte), not yet folded.
func sum16(b []byte) uint64 {
	var s uint64
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
