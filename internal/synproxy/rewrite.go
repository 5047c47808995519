package synproxy

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/packet"
)

// The packets the proxy makes are written over the frame that caused them,
// from its IP header on: a bare IPv4 header (no options, DF set) or IPv6
// header (no extension headers) and a TCP header with at most an MSS
// option. The Ethernet header stays; SynAck swaps its addresses, the
// others leave them to the caller's next-hop step.

const (
	ipv4Len   = packet.IPv4MinHeaderLen
	ipv6Len   = packet.IPv6HeaderLen
	tcpLen    = packet.TCPMinHeaderLen
	mssOptLen = 4
	// window is what the proxy's own segments advertise: without window
	// scaling, the largest unscaled window.
	window = 65535
	ttl    = 64
)

// ClientMSS returns the MSS option of TCP segment seg (0 if none or if
// the options are malformed).
func ClientMSS(seg []byte) uint16 {
	if len(seg) < tcpLen {
		return 0
	}
	end := int(seg[12]>>4) << 2
	if end > len(seg) {
		return 0
	}
	for i := tcpLen; i < end; {
		switch kind := seg[i]; kind {
		case 0:
			return 0
		case 1:
			i++
			continue
		}
		if i+1 >= end || seg[i+1] < 2 || i+int(seg[i+1]) > end {
			return 0
		}
		if seg[i] == 2 && seg[i+1] == 4 {
			return binary.BigEndian.Uint16(seg[i+2:])
		}
		i += int(seg[i+1])
	}
	return 0
}

// Seq returns the sequence number of the TCP segment p describes in frame f.
func Seq(f []byte, p *packet.Parsed) uint32 { return packet.TCP(f[p.L4Off:]).Seq() }

// Ack returns its acknowledgement number.
func Ack(f []byte, p *packet.Parsed) uint32 { return packet.TCP(f[p.L4Off:]).Ack() }

// HasPayload reports whether the segment carries data.
func HasPayload(p *packet.Parsed) bool { return p.Len > p.PayOff }

// segment is one TCP segment to write.
type segment struct {
	src, dst     *[16]byte
	sport, dport uint16
	seq, ack     uint32
	flags        packet.TCPFlags
	mss          uint16 // 0: no MSS option
}

// write writes s as a whole IP packet at f[l3:] and returns the frame's
// new length (ok=false, nothing written, when buf is too short).
func write(buf []byte, off int, p *packet.Parsed, s *segment) (int, bool) {
	l3 := off + int(p.L3Off)
	ipl := ipv4Len
	if p.V6 {
		ipl = ipv6Len
	}
	tl := tcpLen
	if s.mss != 0 {
		tl += mssOptLen
	}
	end := l3 + ipl + tl
	if end > len(buf) {
		return 0, false
	}
	src, dst := *s.src, *s.dst // s.src may point into the frame
	ip := buf[l3 : l3+ipl]
	if p.V6 {
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(tl))
		ip[6] = byte(packet.ProtoTCP)
		ip[7] = ttl
		copy(ip[8:24], src[:])
		copy(ip[24:40], dst[:])
	} else {
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], uint16(ipl+tl))
		binary.BigEndian.PutUint32(ip[4:], 0x4000) // id 0, DF
		ip[8], ip[9] = ttl, byte(packet.ProtoTCP)
		ip[10], ip[11] = 0, 0
		copy(ip[12:16], src[12:])
		copy(ip[16:20], dst[12:])
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(0, ip))
	}
	seg := packet.TCP(buf[l3+ipl : end])
	binary.BigEndian.PutUint16(seg[0:], s.sport)
	binary.BigEndian.PutUint16(seg[2:], s.dport)
	seg.SetSeq(s.seq)
	seg.SetAck(s.ack)
	seg[12] = byte(tl/4) << 4
	seg.SetFlags(s.flags)
	seg.SetWindow(window)
	seg[16], seg[17], seg[18], seg[19] = 0, 0, 0, 0
	if s.mss != 0 {
		seg[20], seg[21] = 2, 4
		binary.BigEndian.PutUint16(seg[22:], s.mss)
	}
	seg.SetChecksum(seg.CalculateChecksum(packet.PseudoSum(p.V6, &src, &dst, packet.ProtoTCP, tl)))
	return end - off, true
}

// SynAck turns the client's SYN p (in buf[off:off+p.Len]) into the
// director's SYN+ACK to the client: from the virtual address and port,
// sequence number cookie, acknowledging the client's ISN, offering mss,
// Ethernet addresses swapped. It returns the frame's new length.
func SynAck(buf []byte, off int, p *packet.Parsed, cookie uint32, mss uint16) (int, bool) {
	f := buf[off:]
	s := segment{src: &p.Dst, dst: &p.Src, sport: p.DstPort, dport: p.SrcPort,
		seq: cookie, ack: Seq(f, p) + 1, flags: packet.TCPSyn | packet.TCPAck, mss: mss}
	n, ok := write(buf, off, p, &s)
	if ok {
		var m [6]byte
		copy(m[:], f[0:6])
		copy(f[0:6], f[6:12])
		copy(f[6:12], m[:])
	}
	return n, ok
}

// Syn turns a client packet p of a proxied connection (its handshake ACK,
// or any later one while the real server has not answered) into the SYN
// to the real server daddr:dport: from the client's address and port,
// with the client's ISN isn and the MSS the cookie carried.
func Syn(buf []byte, off int, p *packet.Parsed, isn uint32, mss uint16, daddr *[16]byte, dport uint16) (int, bool) {
	s := segment{src: &p.Src, dst: daddr, sport: p.SrcPort, dport: dport,
		seq: isn, flags: packet.TCPSyn, mss: mss}
	return write(buf, off, p, &s)
}

// AckServer turns the real server's SYN+ACK p into the ACK that completes
// its handshake, sent back to it from the client's address and port.
func AckServer(buf []byte, off int, p *packet.Parsed) (int, bool) {
	f := buf[off:]
	s := segment{src: &p.Dst, dst: &p.Src, sport: p.DstPort, dport: p.SrcPort,
		seq: Ack(f, p), ack: Seq(f, p) + 1, flags: packet.TCPAck}
	return write(buf, off, p, &s)
}

// ShiftAck adds delta to the acknowledgement number of a client segment
// (with its ACK bit set) on its way to the real server, fixing the TCP
// checksum.
func ShiftAck(f []byte, p *packet.Parsed, delta uint32) {
	if p.TCPFlags&packet.TCPAck == 0 || delta == 0 {
		return
	}
	seg := packet.TCP(f[p.L4Off:])
	seg.SetAckWithChecksum(seg.Ack() + delta)
}

// ShiftSeq subtracts delta from the sequence number of a real server's
// segment on its way to the client, fixing the TCP checksum.
func ShiftSeq(f []byte, p *packet.Parsed, delta uint32) {
	if delta == 0 {
		return
	}
	seg := packet.TCP(f[p.L4Off:])
	seg.SetSeqWithChecksum(seg.Seq() - delta)
}
