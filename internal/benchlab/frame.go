package benchlab

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// FrameSpec describes the UDP frames the generator sends: Count frames of
// Size bytes (Ethernet header included, FCS not), from SrcIP:FirstSrcPort+i
// to DstIP:DstPort, so each frame is a flow of its own.
type FrameSpec struct {
	SrcMAC, DstMAC net.HardwareAddr
	SrcIP, DstIP   netip.Addr // IPv4
	FirstSrcPort   uint16
	DstPort        uint16
	Count          int
	Size           int // 60..1514; 64 by default
}

const (
	ethLen  = 14
	ipv4Len = 20
	udpLen  = 8
	minSize = ethLen + ipv4Len + udpLen + 18 // 60: the Ethernet minimum without FCS
)

// BuildUDPFrames returns spec.Count frames with valid IPv4 and UDP
// checksums, all in one backing array.
func BuildUDPFrames(spec FrameSpec) ([][]byte, error) {
	if spec.Size == 0 {
		spec.Size = 64
	}
	switch {
	case len(spec.SrcMAC) != 6 || len(spec.DstMAC) != 6:
		return nil, fmt.Errorf("frames: MAC addresses %q and %q: want 6 bytes each", spec.SrcMAC, spec.DstMAC)
	case !spec.SrcIP.Is4() || !spec.DstIP.Is4():
		return nil, fmt.Errorf("frames: addresses %v and %v: want IPv4", spec.SrcIP, spec.DstIP)
	case spec.Count < 1 || spec.Count > 65536:
		return nil, fmt.Errorf("frames: count %d: want 1..65536", spec.Count)
	case spec.Size < minSize || spec.Size > 1514:
		return nil, fmt.Errorf("frames: size %d: want %d..1514 bytes", spec.Size, minSize)
	case int(spec.FirstSrcPort)+spec.Count-1 > 65535 || spec.FirstSrcPort == 0:
		return nil, fmt.Errorf("frames: source ports %d..%d: want 1..65535", spec.FirstSrcPort, int(spec.FirstSrcPort)+spec.Count-1)
	}
	backing := make([]byte, spec.Count*spec.Size)
	frames := make([][]byte, spec.Count)
	src, dst := spec.SrcIP.As4(), spec.DstIP.As4()
	for i := range frames {
		f := backing[i*spec.Size : (i+1)*spec.Size : (i+1)*spec.Size]
		copy(f[0:6], spec.DstMAC)
		copy(f[6:12], spec.SrcMAC)
		binary.BigEndian.PutUint16(f[12:14], 0x0800)
		ip := f[ethLen : ethLen+ipv4Len]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:4], uint16(spec.Size-ethLen))
		binary.BigEndian.PutUint16(ip[4:6], uint16(i))
		ip[6] = 0x40 // DF
		ip[8] = 64   // TTL
		ip[9] = 17   // UDP
		copy(ip[12:16], src[:])
		copy(ip[16:20], dst[:])
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip, 0))
		udp := f[ethLen+ipv4Len:]
		sport := spec.FirstSrcPort + uint16(i)
		binary.BigEndian.PutUint16(udp[0:2], sport)
		binary.BigEndian.PutUint16(udp[2:4], spec.DstPort)
		binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
		for j := udpLen; j < len(udp); j++ {
			udp[j] = byte(j) // recognisable payload
		}
		pseudo := sum16(src[:], 0)
		pseudo = sum16(dst[:], pseudo)
		pseudo += 17 + uint32(len(udp))
		c := checksum(udp, pseudo)
		if c == 0 {
			c = 0xffff // RFC 768: 0 means "no checksum"
		}
		binary.BigEndian.PutUint16(udp[6:8], c)
		frames[i] = f
	}
	return frames, nil
}

// sum16 adds b as big-endian 16-bit words to acc (ones' complement, carries
// folded later).
func sum16(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// checksum is the Internet checksum (RFC 1071) of b with initial sum acc.
func checksum(b []byte, acc uint32) uint16 {
	acc = sum16(b, acc)
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}
