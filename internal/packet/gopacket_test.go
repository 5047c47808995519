package packet

// Comparison with an independent implementation: github.com/google/gopacket
// (tests only). Frames built here are decoded by gopacket and re-serialized
// by it with its own length and checksum computation, which must give the
// same bytes; frames built by gopacket are decoded here.

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// gopacketFrame returns a random frame restricted to what gopacket decodes
// and re-serializes byte for byte: well-formed IPv4 and TCP options, only a
// hop-by-hop extension header, SCTP chunks gopacket re-serializes as they
// were (COOKIE ECHO, COOKIE ACK, SHUTDOWN COMPLETE, SHUTDOWN ACK), ICMPv6 types
// gopacket has no special layer for beyond echo.
func gopacketFrame(r *rand.Rand) *Frame {
	rb := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	f := &Frame{Payload: rb(r.IntN(80))}
	copy(f.Ethernet.Dst[:], rb(6))
	copy(f.Ethernet.Src[:], rb(6))
	f.Ethernet.Src[0] &^= 1
	if r.IntN(3) == 0 {
		f.Ethernet.HasVLAN = true
		f.Ethernet.VLAN = uint16(r.Uint32())
	}
	v6 := r.IntN(2) == 0
	if !v6 {
		var s, d [4]byte
		copy(s[:], rb(4))
		copy(d[:], rb(4))
		ip := &IPv4Fields{TOS: uint8(r.Uint32()), ID: uint16(r.Uint32()), DF: r.IntN(2) == 0, TTL: uint8(r.Uint32()),
			Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d)}
		switch r.IntN(3) {
		case 1:
			ip.Options = []byte{0x94, 4, 0, 0} // router alert
		case 2:
			ip.Options = []byte{1, 1, 1, 0} // NOP NOP NOP EOL
		}
		f.IPv4 = ip
	} else {
		var s, d [16]byte
		copy(s[:], rb(16))
		copy(d[:], rb(16))
		ip := &IPv6Fields{TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff, HopLimit: uint8(r.Uint32()),
			Src: netip.AddrFrom16(s), Dst: netip.AddrFrom16(d)}
		if r.IntN(3) == 0 {
			// Router alert and PadN(0), 8 bytes in all.
			ip.ExtHeaders = []IPv6ExtHeader{{Type: ProtoHopByHop, Body: []byte{5, 2, 0, 0, 1, 0}}}
		}
		f.IPv6 = ip
	}
	// Ephemeral ports only: gopacket decodes the payload of well-known ports
	// as application protocols.
	sp, dp := uint16(49152+r.IntN(16384)), uint16(49152+r.IntN(16384))
	switch r.IntN(4) {
	case 0:
		t := &TCPFields{SrcPort: sp, DstPort: dp, Seq: r.Uint32(), Ack: r.Uint32(), Flags: TCPFlags(r.Uint32()),
			Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32())}
		switch r.IntN(3) {
		case 1:
			t.Options = []byte{2, 4, byte(r.Uint32()), byte(r.Uint32())} // MSS
		case 2:
			t.Options = []byte{1, 3, 3, 7, 4, 2, 1, 1} // NOP, window scale, SACK permitted, NOP NOP
		}
		f.TCP = t
	case 1:
		f.UDP = &UDPFields{SrcPort: sp, DstPort: dp}
	case 2:
		s := &SCTPFields{SrcPort: sp, DstPort: dp, VerificationTag: r.Uint32()}
		for n := 1 + r.IntN(3); n > 0; n-- {
			c := SCTPChunk{Type: SCTPCookieEcho, Flags: uint8(r.Uint32()), Value: rb(r.IntN(12))}
			if k := r.IntN(4); k > 0 {
				c = SCTPChunk{Type: []uint8{SCTPCookieAck, SCTPShutdownComp, SCTPShutdownAck}[k-1], Flags: uint8(r.Uint32())}
			}
			s.Chunks = append(s.Chunks, c)
		}
		f.SCTP = s
		f.Payload = nil // anything after the chunks would be read as one more chunk
	case 3:
		c := &ICMPFields{Type: uint8(r.Uint32()), Code: uint8(r.Uint32()), Rest: r.Uint32()}
		if v6 {
			types := []uint8{ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem, ICMPv6EchoRequest, ICMPv6EchoReply}
			c.Type = types[r.IntN(len(types))]
		}
		f.ICMP = c
	}
	return f
}

// TestBuildersAgainstGopacket builds random frames, decodes them with
// gopacket, compares the fields, and re-serializes them with gopacket
// (computing lengths and checksums itself): the bytes must match.
func TestBuildersAgainstGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 3000; i++ {
		f := gopacketFrame(r)
		ours := AppendFrame(nil, f)
		pkt := gopacket.NewPacket(ours, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("case %d: gopacket cannot decode: %v\n% x", i, el.Error(), ours)
		}
		compareGopacketLayers(t, i, f, pkt)

		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		ls := pkt.Layers()
		for _, l := range ls {
			if tl, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				if err := tl.SetNetworkLayerForChecksum(pkt.NetworkLayer()); err != nil {
					t.Fatal(err)
				}
			}
			if ic, ok := l.(*layers.ICMPv6); ok {
				ic.SetNetworkLayerForChecksum(pkt.NetworkLayer())
			}
		}
		var sls []gopacket.SerializableLayer
		for _, l := range ls {
			sls = append(sls, l.(gopacket.SerializableLayer))
			if ic, ok := l.(*layers.ICMPv6); ok {
				// gopacket's ICMPv6Echo drops the echo data: serialize
				// everything after the ICMPv6 layer's 4 bytes as it is.
				sls = append(sls, gopacket.Payload(ic.LayerPayload()))
				ls = nil
				break
			}
		}
		// Some gopacket layers (ICMPv6Echo) keep their payload without a
		// payload layer after them.
		if len(ls) == 0 {
		} else if last := ls[len(ls)-1]; last.LayerType() != gopacket.LayerTypePayload && len(last.LayerPayload()) > 0 {
			sls = append(sls, gopacket.Payload(last.LayerPayload()))
		}
		if err := gopacket.SerializeLayers(buf, opts, sls...); err != nil {
			t.Fatalf("case %d: gopacket serialize: %v", i, err)
		}
		theirs := buf.Bytes()
		// gopacket pads Ethernet frames to 60 bytes.
		if len(theirs) < len(ours) || !bytes.Equal(theirs[:len(ours)], ours) || bytes.ContainsFunc(theirs[len(ours):], func(r rune) bool { return r != 0 }) {
			t.Fatalf("case %d: bytes differ\n ours   % x\n theirs % x", i, ours, theirs)
		}
	}
}

func compareGopacketLayers(t *testing.T, i int, f *Frame, pkt gopacket.Packet) {
	t.Helper()
	fail := func(what string, got, want any) {
		t.Helper()
		t.Fatalf("case %d: %s: gopacket %v, built %v", i, what, got, want)
	}
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.DstMAC, f.Ethernet.Dst[:]) || !bytes.Equal(eth.SrcMAC, f.Ethernet.Src[:]) {
		fail("MACs", eth.DstMAC, f.Ethernet.Dst)
	}
	if f.Ethernet.HasVLAN {
		q := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if q.VLANIdentifier != f.Ethernet.VLAN&0xfff || q.Priority != uint8(f.Ethernet.VLAN>>13) {
			fail("VLAN", q.VLANIdentifier, f.Ethernet.VLAN)
		}
	}
	var l4len int
	if f.IPv4 != nil {
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		w := f.IPv4
		if ip.TOS != w.TOS || ip.Id != w.ID || ip.TTL != w.TTL || (ip.Flags&layers.IPv4DontFragment != 0) != w.DF ||
			ip.FragOffset != 0 || int(ip.IHL)*4 != w.HeaderLen() {
			fail("IPv4 header", *ip, *w)
		}
		if !net.IP.Equal(ip.SrcIP, w.Src.AsSlice()) || !net.IP.Equal(ip.DstIP, w.Dst.AsSlice()) {
			fail("IPv4 addresses", ip.SrcIP, w.Src)
		}
		l4len = int(ip.Length) - int(ip.IHL)*4
	} else {
		ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		w := f.IPv6
		if ip.TrafficClass != w.TrafficClass || ip.FlowLabel != w.FlowLabel || ip.HopLimit != w.HopLimit {
			fail("IPv6 header", *ip, *w)
		}
		if !net.IP.Equal(ip.SrcIP, w.Src.AsSlice()) || !net.IP.Equal(ip.DstIP, w.Dst.AsSlice()) {
			fail("IPv6 addresses", ip.SrcIP, w.Src)
		}
		ext := w.HeaderLen() - 40
		if ext > 0 && pkt.Layer(layers.LayerTypeIPv6HopByHop) == nil {
			fail("hop-by-hop", nil, w.ExtHeaders)
		}
		l4len = int(ip.Length) - ext
	}
	switch {
	case f.TCP != nil:
		tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		w := f.TCP
		flags := TCPFlags(0)
		for bit, set := range []bool{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG, tcp.ECE, tcp.CWR} {
			if set {
				flags |= 1 << bit
			}
		}
		if uint16(tcp.SrcPort) != w.SrcPort || uint16(tcp.DstPort) != w.DstPort || tcp.Seq != w.Seq || tcp.Ack != w.Ack ||
			flags != w.Flags || tcp.Window != w.Window || tcp.Urgent != w.Urgent || int(tcp.DataOffset)*4 != w.HeaderLen() ||
			!bytes.Equal(tcp.Payload, f.Payload) {
			fail("TCP", *tcp, *w)
		}
	case f.UDP != nil:
		udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if uint16(udp.SrcPort) != f.UDP.SrcPort || uint16(udp.DstPort) != f.UDP.DstPort || int(udp.Length) != l4len ||
			!bytes.Equal(udp.Payload, f.Payload) {
			fail("UDP", *udp, *f.UDP)
		}
	case f.SCTP != nil:
		s := pkt.Layer(layers.LayerTypeSCTP).(*layers.SCTP)
		if uint16(s.SrcPort) != f.SCTP.SrcPort || uint16(s.DstPort) != f.SCTP.DstPort || s.VerificationTag != f.SCTP.VerificationTag {
			fail("SCTP", *s, *f.SCTP)
		}
		var types []uint8
		for _, l := range pkt.Layers() {
			var c layers.SCTPChunk
			switch l := l.(type) {
			case *layers.SCTPCookieEcho:
				c = l.SCTPChunk
			case *layers.SCTPEmptyLayer:
				c = l.SCTPChunk
			case *layers.SCTPShutdownAck:
				c = l.SCTPChunk
			default:
				continue
			}
			types = append(types, uint8(c.Type))
			w := f.SCTP.Chunks[len(types)-1]
			if int(c.Length) != 4+len(w.Value) || c.Flags != w.Flags {
				fail("SCTP chunk length/flags", c, w)
			}
		}
		if len(types) != len(f.SCTP.Chunks) {
			fail("SCTP chunks", types, f.SCTP.Chunks)
		}
		for k := range types {
			if types[k] != f.SCTP.Chunks[k].Type {
				fail("SCTP chunk type", types, f.SCTP.Chunks)
			}
		}
	case f.ICMP != nil && f.IPv4 != nil:
		c := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if c.TypeCode.Type() != f.ICMP.Type || c.TypeCode.Code() != f.ICMP.Code || uint32(c.Id)<<16|uint32(c.Seq) != f.ICMP.Rest {
			fail("ICMPv4", *c, *f.ICMP)
		}
	case f.ICMP != nil:
		c := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if c.TypeCode.Type() != f.ICMP.Type || c.TypeCode.Code() != f.ICMP.Code || binary.BigEndian.Uint32(c.Payload) != f.ICMP.Rest {
			fail("ICMPv6", *c, *f.ICMP)
		}
	}
}

// TestDecodeGopacketBuilt builds random packets with gopacket (lengths and
// checksums computed by gopacket) and decodes them here.
func TestDecodeGopacketBuilt(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	rb := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for i := 0; i < 3000; i++ {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(rb(6)), DstMAC: net.HardwareAddr(rb(6))}
		ls := []gopacket.SerializableLayer{eth}
		var want Parsed
		want.L3Off = 14
		if r.IntN(3) == 0 {
			q := &layers.Dot1Q{VLANIdentifier: uint16(r.IntN(4096)), Priority: uint8(r.IntN(8))}
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, q)
			want.VLAN, want.Flags, want.L3Off = q.VLANIdentifier, FlagVLAN, 18
		}
		setType := func(et layers.EthernetType) {
			if len(ls) == 2 {
				ls[1].(*layers.Dot1Q).Type = et
			} else {
				eth.EthernetType = et
			}
		}
		var netLayer gopacket.NetworkLayer
		hl := 0
		v6 := r.IntN(2) == 0
		if !v6 {
			ip := &layers.IPv4{Version: 4, TOS: uint8(r.Uint32()), Id: uint16(r.Uint32()), TTL: uint8(r.Uint32()),
				SrcIP: net.IP(rb(4)), DstIP: net.IP(rb(4))}
			if r.IntN(2) == 0 {
				ip.Flags = layers.IPv4DontFragment
				want.Flags |= FlagDF
			}
			hl = 20
			if r.IntN(3) == 0 {
				ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
				hl = 24
				want.Flags |= FlagIPOptions
			}
			setType(layers.EthernetTypeIPv4)
			ls = append(ls, ip)
			netLayer = ip
			want.EtherType, want.TOS, want.TTL, want.FragID = EtherTypeIPv4, ip.TOS, ip.TTL, uint32(ip.Id)
			want.Src = as16(netip.AddrFrom4([4]byte(ip.SrcIP)), false)
			want.Dst = as16(netip.AddrFrom4([4]byte(ip.DstIP)), false)
		} else {
			ip := &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff, HopLimit: uint8(r.Uint32()),
				SrcIP: net.IP(rb(16)), DstIP: net.IP(rb(16))}
			hl = 40
			if r.IntN(3) == 0 {
				ip.HopByHop = &layers.IPv6HopByHop{}
				ip.HopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}}, {OptionType: 1}}
				hl = 48
				want.Flags |= FlagExtHeaders
			}
			setType(layers.EthernetTypeIPv6)
			ls = append(ls, ip)
			netLayer = ip
			want.EtherType, want.V6, want.TOS, want.TTL = EtherTypeIPv6, true, ip.TrafficClass, ip.HopLimit
			want.Src, want.Dst = [16]byte(ip.SrcIP), [16]byte(ip.DstIP)
		}
		setProto := func(p layers.IPProtocol) {
			switch ip := netLayer.(type) {
			case *layers.IPv4:
				ip.Protocol = p
			case *layers.IPv6:
				ip.NextHeader = p
				if ip.HopByHop != nil {
					ip.HopByHop.NextHeader = p
				}
			}
		}
		payload := rb(r.IntN(100))
		want.L4Off = want.L3Off + uint16(hl)
		l4 := 0
		switch r.IntN(4) {
		case 0:
			tcp := &layers.TCP{SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()), Seq: r.Uint32(), Ack: r.Uint32(),
				SYN: r.IntN(2) == 0, ACK: r.IntN(2) == 0, FIN: r.IntN(2) == 0, RST: r.IntN(2) == 0, PSH: r.IntN(2) == 0,
				URG: r.IntN(2) == 0, ECE: r.IntN(2) == 0, CWR: r.IntN(2) == 0, Window: uint16(r.Uint32())}
			l4 = 20
			if r.IntN(2) == 0 {
				tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
				l4 = 24
			}
			tcp.SetNetworkLayerForChecksum(netLayer)
			setProto(layers.IPProtocolTCP)
			ls = append(ls, tcp)
			for bit, set := range []bool{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG, tcp.ECE, tcp.CWR} {
				if set {
					want.TCPFlags |= 1 << bit
				}
			}
			want.Proto, want.SrcPort, want.DstPort = ProtoTCP, uint16(tcp.SrcPort), uint16(tcp.DstPort)
		case 1:
			udp := &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())} // serialized only: any port
			udp.SetNetworkLayerForChecksum(netLayer)
			setProto(layers.IPProtocolUDP)
			ls = append(ls, udp)
			l4 = 8
			want.Proto, want.SrcPort, want.DstPort = ProtoUDP, uint16(udp.SrcPort), uint16(udp.DstPort)
		case 2:
			s := &layers.SCTP{SrcPort: layers.SCTPPort(r.Uint32()), DstPort: layers.SCTPPort(r.Uint32()), VerificationTag: r.Uint32()}
			setProto(layers.IPProtocolSCTP)
			// A SHUTDOWN-ACK, then a DATA chunk carrying 3 bytes (padded to 4),
			// both serialized by gopacket.
			sa := &layers.SCTPShutdownAck{SCTPChunk: layers.SCTPChunk{Type: layers.SCTPChunkTypeShutdownAck}}
			d := &layers.SCTPData{SCTPChunk: layers.SCTPChunk{Type: layers.SCTPChunkTypeData}, TSN: r.Uint32()}
			ls = append(ls, s, sa, d)
			payload = []byte{1, 2, 3}
			l4 = 12
			want.Proto, want.SrcPort, want.DstPort = ProtoSCTP, uint16(s.SrcPort), uint16(s.DstPort)
			want.SCTPChunk, want.SCTPChunk2 = uint8(layers.SCTPChunkTypeShutdownAck), uint8(layers.SCTPChunkTypeData)
			want.Flags |= FlagSCTPChunk2
		case 3:
			if !v6 {
				c := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(r.Uint32()), uint8(r.Uint32())), Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())}
				setProto(layers.IPProtocolICMPv4)
				ls = append(ls, c)
				want.Proto, want.ICMPType, want.ICMPCode = ProtoICMP, c.TypeCode.Type(), c.TypeCode.Code()
			} else {
				c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(uint8(r.IntN(5)), uint8(r.Uint32()))}
				c.SetNetworkLayerForChecksum(netLayer)
				setProto(layers.IPProtocolICMPv6)
				ls = append(ls, c)
				payload = append(rb(4), payload...) // the rest of the ICMPv6 header
				want.Proto, want.ICMPType, want.ICMPCode = ProtoICMPv6, c.TypeCode.Type(), c.TypeCode.Code()
			}
			l4 = 8
		}
		ls = append(ls, gopacket.Payload(payload))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		b := buf.Bytes()
		want.Flags |= FlagL4
		want.PayOff = want.L4Off + uint16(l4)
		if want.Proto == ProtoSCTP {
			want.Len = want.L4Off + 12 + 4 + 20
		} else {
			want.Len = want.L4Off + uint16(l4+len(payload))
			if want.Proto == ProtoICMPv6 {
				want.Len -= 4
			}
		}
		var p Parsed
		if res := Decode(b, &p); res != OK {
			t.Fatalf("case %d: Decode = %v\n% x", i, res, b)
		}
		if p != want {
			t.Fatalf("case %d:\n got  %+v\n want %+v\n% x", i, p, want, b)
		}
		if !p.V6 && !VerifyIPv4HeaderChecksum(b, &p) {
			t.Fatalf("case %d: gopacket's IPv4 header checksum does not verify", i)
		}
		if want.Proto != ProtoSCTP && !VerifyL4Checksum(b, &p) {
			// gopacket computes no SCTP checksum unless asked per layer; the
			// CRC is checked against a reference in TestSCTPChecksumReference.
			t.Fatalf("case %d: gopacket's %v checksum does not verify\n% x", i, p.Proto, b)
		}
		if want.Proto == ProtoSCTP && SCTP(b[p.L4Off:p.Len]).Checksum() != SCTPChecksum(b[p.L4Off:p.Len]) {
			t.Fatalf("case %d: SCTP checksum differs from gopacket's", i)
		}
	}
}
