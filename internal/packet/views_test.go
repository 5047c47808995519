package packet

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestEthernetView(t *testing.T) {
	plain := frame(tcp4Frame())
	tagged := frame(&Frame{Ethernet: EthernetFields{Dst: macA, Src: macB, HasVLAN: true, VLAN: 0x6000 | 100},
		IPv6: &IPv6Fields{HopLimit: 1, Src: client6, Dst: vip6}})

	e := Ethernet(plain)
	if !e.IsValid() || e.HasVLAN() || e.HeaderLen() != 14 || e.EtherType() != EtherTypeIPv4 || e.VLANID() != 0 ||
		e.Destination() != macA || e.Source() != macB || len(e.Payload()) != len(plain)-14 {
		t.Errorf("plain frame: valid %v vlan %v hl %d type %#x dst %x src %x", e.IsValid(), e.HasVLAN(), e.HeaderLen(), e.EtherType(), e.Destination(), e.Source())
	}
	v := Ethernet(tagged)
	if !v.IsValid() || !v.HasVLAN() || v.HeaderLen() != 18 || v.EtherType() != EtherTypeIPv6 || v.VLANID() != 100 || v.VLANTCI() != 0x6064 {
		t.Errorf("tagged frame: valid %v vlan %v hl %d type %#x id %d", v.IsValid(), v.HasVLAN(), v.HeaderLen(), v.EtherType(), v.VLANID())
	}
	v.SetDestination(macB)
	v.SetSource(macA)
	v.SetEtherType(EtherTypeARP)
	if v.Destination() != macB || v.Source() != macA || v.EtherType() != EtherTypeARP || v.VLANID() != 100 {
		t.Errorf("setters: %x %x %#x", v.Destination(), v.Source(), v.EtherType())
	}
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{plain[:13], false},
		{plain[:14], true},
		{tagged[:17], false},
		{tagged[:18], true},
	} {
		if got := Ethernet(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid(len %d) = %v", len(tc.b), got)
		}
	}
}

func TestIPv4View(t *testing.T) {
	b := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TOS: 0x10, ID: 0xbeef, DF: true, TTL: 2, Src: client4, Dst: vip4,
		Options: []byte{7, 3, 4}}, UDP: &UDPFields{SrcPort: 9, DstPort: 10}, Payload: []byte{1, 2, 3}})
	h := IPv4(b)
	if !h.IsValid() || h.Version() != 4 || h.HeaderLen() != 24 || h.TOS() != 0x10 || h.TotalLength() != 35 ||
		h.ID() != 0xbeef || !h.DF() || h.MF() || h.FragmentOffset() != 0 || h.TTL() != 2 || h.Protocol() != ProtoUDP ||
		h.SourceAddr() != client4 || h.DestinationAddr() != vip4 || !bytes.Equal(h.Options(), []byte{7, 3, 4, 0}) ||
		len(h.Payload()) != 11 || !h.IsChecksumValid() || h.Checksum() != h.CalculateChecksum() {
		t.Fatalf("accessors wrong on % x", b)
	}
	frag := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{MF: true, FragOffset: 65528, Src: client4, Dst: vip4}})
	if f := IPv4(frag); !f.MF() || f.DF() || f.FragmentOffset() != 65528 {
		t.Errorf("fragment fields: MF %v DF %v off %d", f.MF(), f.DF(), f.FragmentOffset())
	}

	// Every ...WithChecksum setter keeps the header checksum equal to a
	// recomputation.
	steps := []struct {
		name string
		do   func()
	}{
		{"source", func() { h.SetSourceWithChecksum(real4.As4()) }},
		{"destination", func() { h.SetDestinationWithChecksum(dir4.As4()) }},
		{"ttl", func() { h.SetTTLWithChecksum(200) }},
		{"tos", func() { h.SetTOSWithChecksum(0xfe) }},
		{"total length", func() { h.SetTotalLengthWithChecksum(34) }},
		{"id", func() { h.SetIDWithChecksum(1) }},
		{"decrement ttl", func() {
			if old := h.DecrementTTL(); old != 200 || h.TTL() != 199 {
				t.Errorf("DecrementTTL: old %d new %d", old, h.TTL())
			}
		}},
	}
	for _, s := range steps {
		s.do()
		if !h.IsChecksumValid() || h.Checksum() != h.CalculateChecksum() {
			t.Errorf("after %s: checksum %#x, recomputed %#x", s.name, h.Checksum(), h.CalculateChecksum())
		}
	}
	if h.SourceAddr() != real4 || h.DestinationAddr() != dir4 || h.TOS() != 0xfe || h.TotalLength() != 34 || h.ID() != 1 {
		t.Errorf("setters did not stick: % x", b[:24])
	}
	h.SetTTL(0)
	h.UpdateChecksum()
	if h.DecrementTTL() != 0 || h.TTL() != 0 || !h.IsChecksumValid() {
		t.Error("DecrementTTL at 0 must leave the header alone")
	}

	b = AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 2, Src: client4, Dst: vip4, Options: []byte{7, 3, 4}}, Payload: []byte{1, 2, 3}})

	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"ok", b, true},
		{"ok with padding", append(append([]byte{}, b...), 0, 0), true},
		{"19 bytes", b[:19], false},
		{"version 6", with(b, 0, 0x66), false},
		{"ihl 4", with(b, 0, 0x44), false},
		{"ihl beyond", with(b, 0, 0x4f), false},
		{"total length beyond", b[:len(b)-1], false},
		{"total length below header", with(b, 2, 0, 23), false},
		{"total length 0", with(b, 2, 0, 0), false},
	} {
		if got := IPv4(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid %s = %v", tc.name, got)
		}
	}
}

func TestIPv6View(t *testing.T) {
	b := AppendPacket(nil, &Frame{IPv6: &IPv6Fields{TrafficClass: 0xb9, FlowLabel: 0xabcde, HopLimit: 1, Src: client6, Dst: vip6,
		ExtHeaders: []IPv6ExtHeader{{Type: ProtoHopByHop}}}, ICMP: &ICMPFields{Type: ICMPv6EchoRequest}})
	h := IPv6(b)
	if !h.IsValid() || h.Version() != 6 || h.TrafficClass() != 0xb9 || h.FlowLabel() != 0xabcde || h.PayloadLength() != 16 ||
		h.NextHeader() != ProtoHopByHop || h.HopLimit() != 1 || h.SourceAddr() != client6 || h.DestinationAddr() != vip6 ||
		len(h.Payload()) != 16 || b[40] != byte(ProtoICMPv6) {
		t.Fatalf("accessors wrong on % x", b[:48])
	}
	h.SetTrafficClass(0x03)
	h.SetFlowLabel(0xfffff)
	h.SetPayloadLength(0)
	h.SetNextHeader(ProtoIPv6NoNext)
	h.SetSource(real6.As16())
	h.SetDestination(dir6.As16())
	if old := h.DecrementHopLimit(); old != 1 || h.HopLimit() != 0 || h.DecrementHopLimit() != 0 || h.HopLimit() != 0 {
		t.Error("DecrementHopLimit")
	}
	h.SetHopLimit(77)
	if h.Version() != 6 || h.TrafficClass() != 0x03 || h.FlowLabel() != 0xfffff || h.PayloadLength() != 0 ||
		h.NextHeader() != ProtoIPv6NoNext || h.HopLimit() != 77 || h.SourceAddr() != real6 || h.DestinationAddr() != dir6 {
		t.Errorf("setters did not stick: % x", b[:40])
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"ok", b, true},
		{"39 bytes", b[:39], false},
		{"version 4", with(b, 0, 0x40), false},
		{"payload beyond", with(b, 4, 0, 17), false},
	} {
		if got := IPv6(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid %s = %v", tc.name, got)
		}
	}
}

// natCase is a frame whose transport checksum is checked after a NAT.
type natCase struct {
	name string
	f    *Frame
}

func natCases() []natCase {
	return []natCase{
		{"tcp4", tcp4Frame()},
		{"tcp6", tcp6Frame()},
		{"udp4", &Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 5000, DstPort: 53}, Payload: []byte("query")}},
		{"udp6", &Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{{Type: ProtoIPv6Opts}}},
			UDP: &UDPFields{SrcPort: 5000, DstPort: 53}, Payload: []byte("query!")}},
		{"sctp4", &Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, SCTP: &SCTPFields{SrcPort: 5000, DstPort: 3868, VerificationTag: 9,
			Chunks: []SCTPChunk{{Type: SCTPData, Value: []byte("abc")}}}}},
		{"sctp6", &Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: client6, Dst: vip6}, SCTP: &SCTPFields{SrcPort: 5000, DstPort: 3868,
			Chunks: []SCTPChunk{{Type: SCTPInit, Value: make([]byte, 16)}}}}},
	}
}

// TestNATRewrite does a DNAT (VIP:port → real:port) and then the reverse
// SNAT on the reply direction's fields with the incremental setters, and
// checks the checksums against full recomputation.
func TestNATRewrite(t *testing.T) {
	for _, tc := range natCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := frame(tc.f)
			var p Parsed
			if r := Decode(b, &p); r != OK {
				t.Fatalf("Decode = %v", r)
			}
			newDst, newSrc := real4, dir4
			if p.V6 {
				newDst, newSrc = real6, dir6
			}
			oldDst, oldSrc := p.Dst, p.Src
			n16d, n16s := a16(newDst), a16(newSrc)
			var oldD, newD, oldS, newS []byte
			if p.V6 {
				ip := IPv6(b[p.L3Off:])
				ip.SetDestination(n16d)
				ip.SetSource(n16s)
				oldD, newD, oldS, newS = oldDst[:], n16d[:], oldSrc[:], n16s[:]
			} else {
				ip := IPv4(b[p.L3Off:])
				ip.SetDestinationWithChecksum(newDst.As4())
				ip.SetSourceWithChecksum(newSrc.As4())
				ip.DecrementTTL()
				if !ip.IsChecksumValid() {
					t.Fatal("IPv4 header checksum after NAT")
				}
				oldD, newD, oldS, newS = oldDst[12:], n16d[12:], oldSrc[12:], n16s[12:]
			}
			seg := b[p.L4Off:p.Len]
			switch p.Proto {
			case ProtoTCP:
				l4 := TCP(seg)
				l4.UpdateChecksumForAddress(oldD, newD)
				l4.UpdateChecksumForAddress(oldS, newS)
				l4.SetDestinationPortWithChecksum(8080)
				l4.SetSourcePortWithChecksum(61000)
				l4.SetSeqWithChecksum(0xfffffff0)
				l4.SetAckWithChecksum(12345)
			case ProtoUDP:
				l4 := UDP(seg)
				l4.UpdateChecksumForAddress(oldD, newD)
				l4.UpdateChecksumForAddress(oldS, newS)
				l4.SetDestinationPortWithChecksum(8080)
				l4.SetSourcePortWithChecksum(61000)
			case ProtoSCTP:
				l4 := SCTP(seg)
				l4.SetDestinationPort(8080)
				l4.SetSourcePort(61000)
				l4.UpdateChecksum()
			}
			var q Parsed
			if r := Decode(b, &q); r != OK {
				t.Fatalf("Decode after NAT = %v", r)
			}
			if q.Dst != n16d || q.Src != n16s || q.DstPort != 8080 || q.SrcPort != 61000 {
				t.Errorf("after NAT: %+v", q)
			}
			if !VerifyL4Checksum(b, &q) {
				t.Errorf("transport checksum wrong after incremental NAT")
			}
			// The stored checksum equals the recomputed one exactly (not only
			// up to the ±0 ambiguity).
			ps := q.PseudoSum()
			switch q.Proto {
			case ProtoTCP:
				if c, w := TCP(seg).Checksum(), TCP(seg).CalculateChecksum(ps); c != w {
					t.Errorf("TCP checksum %#x, recomputed %#x", c, w)
				}
			case ProtoUDP:
				if c, w := UDP(seg).Checksum(), UDP(seg).CalculateChecksum(ps); c != w {
					t.Errorf("UDP checksum %#x, recomputed %#x", c, w)
				}
			}
		})
	}
}

// TestUDPChecksumZero covers the two UDP corner cases: a datagram without a
// checksum keeps 0 through NAT, and an update that computes 0 stores 0xFFFF.
func TestUDPChecksumZero(t *testing.T) {
	f := &Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 5000, DstPort: 53, NoChecksum: true}, Payload: []byte("x")}
	b := frame(f)
	var p Parsed
	Decode(b, &p)
	u := UDP(b[p.L4Off:p.Len])
	u.SetDestinationPortWithChecksum(99)
	u.UpdateChecksumForAddress([]byte{1, 2, 3, 4}, []byte{5, 6, 7, 8})
	if u.Checksum() != 0 || !VerifyL4Checksum(b, &p) {
		t.Errorf("no-checksum datagram got checksum %#x", u.Checksum())
	}

	f.UDP.NoChecksum = false
	b = frame(f)
	Decode(b, &p)
	u = UDP(b[p.L4Off:p.Len])
	ps := p.PseudoSum()
	found := false
	for port := 0; port < 0x10000; port++ {
		c := UDP(append([]byte(nil), u...))
		c.SetDestinationPort(uint16(port))
		if c.CalculateChecksum(ps) == 0xffff { // a computed 0, sent as 0xFFFF
			u.SetDestinationPortWithChecksum(uint16(port))
			found = true
			break
		}
	}
	if !found {
		t.Fatal("no port gives a zero checksum")
	}
	if u.Checksum() != 0xffff || !VerifyL4Checksum(b, &p) {
		t.Errorf("checksum %#x, want 0xffff and valid", u.Checksum())
	}

	// UDP over IPv6 with a zero checksum does not verify.
	b6 := frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: client6, Dst: vip6}, UDP: &UDPFields{SrcPort: 1, DstPort: 2, NoChecksum: true}})
	Decode(b6, &p)
	if VerifyL4Checksum(b6, &p) {
		t.Error("IPv6 UDP with checksum 0 verified")
	}
}

func TestTCPView(t *testing.T) {
	seg := make([]byte, 0, 64)
	seg = (&TCPFields{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: TCPFin | TCPAck, Window: 5, Checksum: 6, Urgent: 7,
		Options: []byte{1, 1, 1}}).AppendTo(seg)
	seg = append(seg, "data"...)
	s := TCP(seg)
	if !s.IsValid() || s.SourcePort() != 1 || s.DestinationPort() != 2 || s.Seq() != 3 || s.Ack() != 4 || s.DataOffset() != 24 ||
		s.Flags() != TCPFin|TCPAck || s.Window() != 5 || s.Checksum() != 6 || s.Urgent() != 7 ||
		!bytes.Equal(s.Options(), []byte{1, 1, 1, 0}) || string(s.Payload()) != "data" {
		t.Fatalf("accessors wrong on % x", seg)
	}
	s.SetFlags(TCPRst)
	s.SetWindow(9)
	if s.Flags() != TCPRst || s.Window() != 9 {
		t.Error("setters")
	}
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{seg, true}, {seg[:19], false}, {with(seg, 12, 0x40), false}, {with(seg, 12, 0xf0), false}, {seg[:24], true}, {seg[:23], false},
	} {
		if got := TCP(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid(% x) = %v", tc.b[:min(len(tc.b), 14)], got)
		}
	}
}

func TestUDPView(t *testing.T) {
	d := (&UDPFields{SrcPort: 1, DstPort: 2, Length: 10, Checksum: 3}).AppendTo(nil)
	d = append(d, 'h', 'i', 'x')
	u := UDP(d)
	if !u.IsValid() || u.SourcePort() != 1 || u.DestinationPort() != 2 || u.Length() != 10 || u.Checksum() != 3 || string(u.Payload()) != "hi" {
		t.Fatalf("accessors wrong on % x", d)
	}
	u.SetLength(11)
	if u.Length() != 11 || !u.IsValid() {
		t.Error("SetLength")
	}
	for _, tc := range []struct {
		b    []byte
		want bool
	}{{d[:7], false}, {with(d, 4, 0, 7), false}, {with(d, 4, 0, 12), false}, {with(d, 4, 0, 8), true}} {
		if got := UDP(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid(% x) = %v", tc.b, got)
		}
	}
}

func TestSCTPView(t *testing.T) {
	p := (&SCTPFields{SrcPort: 1, DstPort: 2, VerificationTag: 0xabcdef01, Checksum: 0x11223344,
		Chunks: []SCTPChunk{{Type: SCTPAbort, Flags: 1, Value: []byte{9, 9}}}}).AppendTo(nil)
	s := SCTP(p)
	if !s.IsValid() || s.SourcePort() != 1 || s.DestinationPort() != 2 || s.VerificationTag() != 0xabcdef01 ||
		s.Checksum() != 0x11223344 || s.FirstChunkType() != SCTPAbort || !bytes.Equal(s.Chunks(), []byte{6, 1, 0, 6, 9, 9, 0, 0}) {
		t.Fatalf("accessors wrong on % x", p)
	}
	if !bytes.Equal(p[8:12], []byte{0x44, 0x33, 0x22, 0x11}) {
		t.Errorf("checksum not stored least significant byte first: % x", p[8:12])
	}
	s.SetVerificationTag(5)
	s.UpdateChecksum()
	if s.VerificationTag() != 5 || !s.IsChecksumValid() {
		t.Error("setters")
	}
	for _, tc := range []struct {
		b    []byte
		want bool
	}{{p[:15], false}, {with(p, 14, 0, 3), false}, {with(p, 14, 0, 9), false}, {p[:17], false}, {p[:18], true}} {
		if got := SCTP(tc.b).IsValid(); got != tc.want {
			t.Errorf("IsValid(% x) = %v", tc.b, got)
		}
	}
}

func TestICMPView(t *testing.T) {
	emb := AppendPacket(nil, tcp4Frame())[:28]
	b := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: client4},
		ICMP: &ICMPFields{Type: ICMPv4DestUnreach, Code: ICMPv4FragNeeded, Rest: 1500}, Payload: emb})
	var p Parsed
	Decode(b, &p)
	m := ICMP(b[p.L4Off:p.Len])
	if !m.IsValid() || m.Type() != 3 || m.Code() != 4 || m.Rest() != 1500 || m.NextHopMTU() != 1500 || m.Ident() != 0 ||
		!bytes.Equal(m.Payload(), emb) || !m.IsChecksumValid(0) {
		t.Fatalf("accessors wrong on % x", m[:8])
	}
	// Rewrite the embedded destination (as un-NAT of an ICMP error does) and
	// patch the ICMP checksum incrementally.
	inner := IPv4(m.Payload())
	old := inner.Destination()
	inner.SetDestinationWithChecksum(real4.As4())
	nw := inner.Destination()
	m.UpdateChecksumForChange(old[:], nw[:])
	if !inner.IsChecksumValid() {
		t.Error("inner header checksum")
	}
	if m.IsChecksumValid(0) {
		t.Error("the inner header checksum changed too; patching only the address must leave the ICMP checksum wrong")
	}
	m.UpdateChecksum(0)
	if !m.IsChecksumValid(0) || m.Checksum() != m.CalculateChecksum(0) {
		t.Error("UpdateChecksum")
	}
	m.SetType(ICMPv4Echo)
	m.SetCode(0)
	m.SetRest(0x00070008)
	if m.Ident() != 7 || m.Sequence() != 8 || m.Type() != ICMPv4Echo {
		t.Error("setters")
	}

	// ICMPv6: the checksum covers the pseudo-header.
	b6 := frame(&Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: dir6, Dst: client6}, ICMP: &ICMPFields{Type: ICMPv6EchoReply, Rest: 0x10002}})
	Decode(b6, &p)
	m6 := ICMP(b6[p.L4Off:p.Len])
	if !m6.IsChecksumValid(p.PseudoSum()) || m6.IsChecksumValid(0) {
		t.Fatal("ICMPv6 checksum must cover the pseudo-header")
	}
	d := a16(real6)
	IPv6(b6[p.L3Off:]).SetDestination(d)
	m6.UpdateChecksumForAddress(p.Dst[:], d[:])
	Decode(b6, &p)
	if !VerifyL4Checksum(b6, &p) {
		t.Error("ICMPv6 checksum after destination change")
	}
	if ICMP(b6[:7]).IsValid() {
		t.Error("7 bytes valid")
	}
}

// TestICMPErrorInnerRewrite follows what the forward package does with an
// ICMP error for a NATed connection: change the embedded source address and
// port and the embedded IP checksum, updating the outer ICMP checksum
// incrementally for each changed 16-bit word.
func TestICMPErrorInnerRewrite(t *testing.T) {
	emb := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 64, Src: real4, Dst: client4}, UDP: &UDPFields{SrcPort: 8080, DstPort: 5000}})
	b := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: real4},
		ICMP: &ICMPFields{Type: ICMPv4DestUnreach, Code: ICMPv4PortUnreach}, Payload: emb[:28]})
	var p, e Parsed
	Decode(b, &p)
	if r := DecodeEmbedded(b, int(p.PayOff), &e); r != OK {
		t.Fatal(r)
	}
	m := ICMP(b[p.L4Off:p.Len])
	inner := IPv4(b[e.L3Off:e.L4Off])
	before := append([]byte(nil), b[e.L3Off:e.L4Off+8]...)
	inner.SetSourceWithChecksum(vip4.As4())
	UDP(b[e.L4Off : e.L4Off+8]).SetSourcePort(80) // the embedded UDP checksum is left, as the kernel does
	after := b[e.L3Off : e.L4Off+8]
	// Offsets inside the ICMP message are even (PayOff - L4Off = 8), so each
	// changed region can be passed as it is.
	m.UpdateChecksumForChange(before, after)
	if !VerifyL4Checksum(b, &p) {
		t.Error("ICMP checksum after inner rewrite")
	}
	if !inner.IsChecksumValid() {
		t.Error("inner IP checksum")
	}
}

func TestGUEView(t *testing.T) {
	g := (&GUEFields{Control: true, Proto: 7, Flags: 0x8001, Options: []byte{1, 2, 3, 4}}).AppendTo(nil)
	g = append(g, 0x45)
	v := GUE(g)
	if !v.IsValid() || v.Version() != 0 || !v.Control() || v.HLen() != 1 || v.HeaderLen() != 8 || v.Proto() != 7 ||
		v.Flags() != 0x8001 || !bytes.Equal(v.Options(), []byte{1, 2, 3, 4}) || !bytes.Equal(v.Payload(), []byte{0x45}) {
		t.Fatalf("accessors wrong on % x", g)
	}
	if GUE(g[:7]).IsValid() || GUE(g[:3]).IsValid() {
		t.Error("short GUE valid")
	}
	// The frame builder fills in the inner protocol.
	b := frame(&Frame{OuterIPv6: &IPv6Fields{HopLimit: 1, Src: dir6, Dst: real6}, OuterUDP: &UDPFields{SrcPort: 1, DstPort: 6080},
		GUE: &GUEFields{}, IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}})
	var p Parsed
	if r := Decode(b, &p); r != OK || !VerifyL4Checksum(b, &p) {
		t.Fatalf("GUE frame: %v %+v", r, p)
	}
	gv := GUE(b[p.PayOff:p.Len])
	if gv.Proto() != uint8(ProtoIPIP) || gv.Control() || gv.HeaderLen() != 4 {
		t.Errorf("GUE header % x", b[p.PayOff:p.PayOff+4])
	}
	var in Parsed
	if r := DecodeIP(b, int(p.PayOff)+gv.HeaderLen(), &in); r != OK || in.Src != a16(client4) || in.Len != p.Len {
		t.Errorf("inner: %v %+v", r, in)
	}
}

// TestAppendFrameHeadroom checks that AppendFrame appends after the
// headroom and leaves it alone.
func TestAppendFrameHeadroom(t *testing.T) {
	f := tcp4Frame()
	head := bytes.Repeat([]byte{0xaa}, 64)
	buf := make([]byte, 64, 256)
	copy(buf, head)
	out := AppendFrame(buf, f)
	if &out[0] != &buf[0] {
		t.Error("AppendFrame reallocated a buffer with enough capacity")
	}
	if !bytes.Equal(out[:64], head) || !bytes.Equal(out[64:], frame(f)) || len(out)-64 != f.Len() {
		t.Errorf("headroom or frame wrong (len %d, Len %d)", len(out), f.Len())
	}
}

func TestAppendFramePanicsOnInconsistentFrame(t *testing.T) {
	for _, f := range []*Frame{
		{IPv4: &IPv4Fields{}, IPv6: &IPv6Fields{}},
		{IPv4: &IPv4Fields{}, TCP: &TCPFields{}, UDP: &UDPFields{}},
		{TCP: &TCPFields{}},
		{OuterIPv4: &IPv4Fields{}, OuterIPv6: &IPv6Fields{}, IPv4: &IPv4Fields{}},
		{OuterIPv4: &IPv4Fields{}},
		{OuterIPv4: &IPv4Fields{}, GUE: &GUEFields{}, IPv4: &IPv4Fields{}},
		{GUE: &GUEFields{}, OuterUDP: &UDPFields{}, IPv4: &IPv4Fields{}},
		{IPv4: &IPv4Fields{Options: make([]byte, 41)}},
		{IPv4: &IPv4Fields{}, TCP: &TCPFields{Options: make([]byte, 41)}},
		{OuterIPv4: &IPv4Fields{}, OuterUDP: &UDPFields{}, GUE: &GUEFields{Options: make([]byte, 3)}, IPv4: &IPv4Fields{}},
		{IPv6: &IPv6Fields{}, Payload: make([]byte, 65536-40)},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic for %+v", f)
				}
			}()
			AppendFrame(nil, f)
		}()
	}
}

// TestBuilderRandomRoundTrip builds random frames and decodes them back.
func TestBuilderRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		f, want := randomFrame(r)
		b := AppendFrame(nil, f)
		var p Parsed
		if res := Decode(b, &p); res != OK {
			t.Fatalf("case %d: Decode = %v for %+v", i, res, f)
		}
		if p != want {
			t.Fatalf("case %d:\n got  %+v\n want %+v", i, p, want)
		}
		// A fragment of a larger packet cannot be checked alone.
		whole := p.Flags&(FlagMoreFrags|FlagNonFirstFrag) == 0
		if got := VerifyL4Checksum(b, &p); got != whole {
			t.Fatalf("case %d: VerifyL4Checksum = %v for %+v\n% x", i, got, p, b)
		}
		if !p.V6 && !VerifyIPv4HeaderChecksum(b, &p) {
			t.Fatalf("case %d: IPv4 header checksum", i)
		}
	}
}

// randomFrame returns a random single-packet frame and the Parsed Decode
// must produce for it.
func randomFrame(r *rand.Rand) (*Frame, Parsed) {
	rb := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	s := frameSpec{
		v6: r.IntN(2) == 0, hasVLAN: r.IntN(2) == 0, vlanTCI: uint16(r.Uint32()), l4: uint8(r.IntN(4)),
		sport: uint16(r.Uint32()), dport: uint16(r.Uint32()), seq: r.Uint32(), ack: r.Uint32(), tcpFlags: uint8(r.Uint32()),
		ttl: uint8(r.Uint32()), tos: uint8(r.Uint32()), id: uint16(r.Uint32()), more: r.IntN(4) == 0,
		addrs: rb(32), payload: rb(r.IntN(64)),
	}
	if r.IntN(4) == 0 {
		s.fragOff = uint16(r.Uint32())
	}
	if r.IntN(2) == 0 {
		s.ipOpts = rb(r.IntN(41))
	}
	if r.IntN(2) == 0 {
		s.ext = rb(r.IntN(9))
	}
	if r.IntN(2) == 0 {
		s.l4Opts = rb(r.IntN(41))
	}
	return s.build()
}

// TestDecrementTTLMatchesRecomputation checks the constant-folded TTL
// update for every TTL and many header contents.
func TestDecrementTTLMatchesRecomputation(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 2000; i++ {
		h := IPv4(AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TOS: uint8(r.Uint32()), ID: uint16(r.Uint32()), TTL: uint8(1 + r.IntN(255)),
			Protocol: Proto(r.Uint32()), Src: client4, Dst: vip4}}))
		binaryPutChecksum(h, 12, uint16(r.Uint32())) // random source address bits
		h.UpdateChecksum()
		ttl := h.TTL()
		if old := h.DecrementTTL(); old != ttl || h.TTL() != ttl-1 {
			t.Fatalf("DecrementTTL: %d -> %d", old, h.TTL())
		}
		if h.Checksum() != h.CalculateChecksum() {
			t.Fatalf("TTL %d: checksum %#x, recomputed %#x", ttl, h.Checksum(), h.CalculateChecksum())
		}
	}
}
