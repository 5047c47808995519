package flood

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vsd/vsd/internal/packet"
)

// Kind is what a flood sends.
type Kind uint8

const (
	// KindSYN sends TCP SYNs (window 65535, random ISN, no options).
	KindSYN Kind = iota + 1
	// KindSYNACKSeq sends, for each source, a SYN and then a bare ACK with
	// seq ISN+1 and a random ack number: an attacker faking handshakes.
	KindSYNACKSeq
	// KindUDP sends UDP datagrams of Config.Size payload bytes.
	KindUDP
)

func (k Kind) String() string {
	switch k {
	case KindSYN:
		return "syn"
	case KindSYNACKSeq:
		return "synack-seq"
	case KindUDP:
		return "udp"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind reads "syn", "synack-seq" or "udp".
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindSYN, KindSYNACKSeq, KindUDP} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("kind %q: want syn, synack-seq or udp", s)
}

const (
	ethLen   = 14
	ip4Len   = 20
	ip6Len   = 40
	tcpLen   = 20
	udpLen   = 8
	tcpSYN   = 0x02
	tcpACK   = 0x10
	ttl      = 64
	window   = 65535
	portMin  = 1024 // one port per source: 1024 + source index mod portSpan
	portSpan = 65536 - portMin
)

// gen writes the changing fields of successive frames into a template
// copy. The template (built by newGen) holds every constant field; gen's
// sums are the checksums' running sums over those constant fields, so each
// frame's checksums are complete (not chained) yet cost only the changing
// words. Owned by one goroutine.
type gen struct {
	kind    Kind
	v6      bool
	l4      int    // offset of the TCP/UDP header
	ipBase  uint32 // IPv4 header sum without id, source and checksum
	l4Base  uint32 // pseudo-header and L4 sum without source, port, seq, ack, flags
	src4    uint32 // first source, IPv4
	srcHi   uint64 // first source, IPv6
	srcLo   uint64
	nsrc    uint64 // sources in use
	random  bool
	rng     uint64 // splitmix64 state
	ports   PortRange
	perSrc  bool // one port per source
	idx     uint64
	round   uint64
	ipid    uint16
	pending bool // synack-seq: the ACK of the last SYN is next
	last    struct {
		srcHi, srcLo uint64
		src4         uint32
		sport        uint16
		isn          uint32
	}
}

// frameLen returns the frame length for cfg (cfg valid).
func frameLen(cfg *Config) int {
	n := ethLen + ip4Len
	if !cfg.Src.Is4() {
		n = ethLen + ip6Len
	}
	if cfg.Kind == KindUDP {
		return n + udpLen + cfg.Size
	}
	return n + tcpLen
}

// newGen builds the template frame for cfg (valid, with DstMAC set) from
// srcMAC, and the generator that patches copies of it.
func newGen(cfg *Config, srcMAC net.HardwareAddr) (*gen, []byte) {
	g := &gen{kind: cfg.Kind, v6: !cfg.Src.Is4(), random: cfg.Random, ports: cfg.Sport, perSrc: cfg.Sport.IsZero()}
	g.rng = cfg.Seed
	g.nsrc = cfg.SrcNum
	if g.nsrc == 0 {
		g.nsrc = cfg.Src.Size()
	}
	g.srcHi, g.srcLo = u128(cfg.Src.First)
	g.src4 = uint32(g.srcLo)

	b := make([]byte, frameLen(cfg))
	copy(b[0:6], cfg.DstMAC)
	copy(b[6:12], srcMAC)
	proto := packet.ProtoTCP
	l4len := tcpLen
	if cfg.Kind == KindUDP {
		proto = packet.ProtoUDP
		l4len = udpLen + cfg.Size
	}
	dst := cfg.Dst.Addr().As16()
	var zero [16]byte
	ip := b[ethLen:]
	if g.v6 {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
		ip[6] = byte(proto)
		ip[7] = ttl
		copy(ip[24:40], dst[:])
		g.l4 = ethLen + ip6Len
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ip4Len+l4len))
		ip[6] = 0x40 // DF
		ip[8] = ttl
		ip[9] = byte(proto)
		copy(ip[16:20], dst[12:])
		g.ipBase = packet.Sum(0, ip[:ip4Len])
		g.l4 = ethLen + ip4Len
	}
	l4 := b[g.l4:]
	binary.BigEndian.PutUint16(l4[2:], cfg.Dst.Port())
	if cfg.Kind == KindUDP {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		for i := range cfg.Size {
			l4[udpLen+i] = "vsflood "[i%8]
		}
	} else {
		binary.BigEndian.PutUint16(l4[14:], window)
	}
	g.l4Base = packet.Sum(packet.PseudoSum(g.v6, &zero, &dst, proto, l4len), l4)
	return g, b
}

// next64 is splitmix64.
func (g *gen) next64() uint64 {
	g.rng += 0x9e3779b97f4a7c15
	z := g.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes the next frame's changing fields into f, a copy of the
// template.
func (g *gen) fill(f []byte) {
	var sport uint16
	var seq, ack uint32
	flags := byte(tcpSYN)
	if g.pending {
		// The ACK of the SYN just sent, from the same source and port.
		g.pending = false
		sport, seq, ack, flags = g.last.sport, g.last.isn+1, uint32(g.next64()), tcpACK
	} else {
		var i uint64
		round := g.round
		if g.random {
			i = g.next64() % g.nsrc
		} else {
			i = g.idx
			if g.idx++; g.idx == g.nsrc {
				g.idx = 0
				g.round++
			}
		}
		switch {
		case g.perSrc:
			sport = uint16(portMin + i%portSpan)
		case g.random:
			sport = g.ports.First + uint16(g.next64()%uint64(g.ports.Size()))
		default:
			sport = g.ports.First + uint16(round%uint64(g.ports.Size()))
		}
		lo := g.srcLo + i
		g.last.srcLo, g.last.srcHi = lo, g.srcHi
		if lo < g.srcLo {
			g.last.srcHi++
		}
		g.last.src4 = g.src4 + uint32(i)
		g.last.sport = sport
		if g.kind != KindUDP {
			seq = uint32(g.next64())
			g.last.isn = seq
			g.pending = g.kind == KindSYNACKSeq
		}
	}

	var ssum uint32 // the source address's words
	if g.v6 {
		ip := f[ethLen : ethLen+ip6Len]
		binary.BigEndian.PutUint64(ip[8:], g.last.srcHi)
		binary.BigEndian.PutUint64(ip[16:], g.last.srcLo)
		h, l := g.last.srcHi, g.last.srcLo
		ssum = uint32(h>>48) + uint32(h>>32&0xffff) + uint32(h>>16&0xffff) + uint32(h&0xffff) +
			uint32(l>>48) + uint32(l>>32&0xffff) + uint32(l>>16&0xffff) + uint32(l&0xffff)
	} else {
		ip := f[ethLen : ethLen+ip4Len]
		s := g.last.src4
		g.ipid++
		binary.BigEndian.PutUint16(ip[4:], g.ipid)
		binary.BigEndian.PutUint32(ip[12:], s)
		ssum = s>>16 + s&0xffff
		binary.BigEndian.PutUint16(ip[10:], ^packet.Fold(g.ipBase+uint32(g.ipid)+ssum))
	}
	l4 := f[g.l4:]
	binary.BigEndian.PutUint16(l4[0:], sport)
	s := g.l4Base + ssum + uint32(sport)
	if g.kind == KindUDP {
		c := ^packet.Fold(s)
		if c == 0 {
			c = 0xffff // 0 would mean "no checksum"
		}
		binary.BigEndian.PutUint16(l4[6:], c)
		return
	}
	binary.BigEndian.PutUint32(l4[4:], seq)
	binary.BigEndian.PutUint32(l4[8:], ack)
	word := uint16(tcpLen/4)<<12 | uint16(flags)
	binary.BigEndian.PutUint16(l4[12:], word)
	s += seq>>16 + seq&0xffff + ack>>16 + ack&0xffff + uint32(word)
	binary.BigEndian.PutUint16(l4[16:], ^packet.Fold(s))
}
