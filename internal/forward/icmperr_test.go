package forward

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

type errorKind int

const (
	portUnreach errorKind = iota
	timeExceeded
	fragNeeded
)

func (k errorKind) String() string {
	return [...]string{"port-unreachable", "time-exceeded", "frag-needed"}[k]
}

// send calls the generator for k.
func (k errorKind) send(buf []byte, off, n int, p *packet.Parsed, from [16]byte, mtu int) (int, int, bool) {
	switch k {
	case timeExceeded:
		return TimeExceeded(buf, off, n, p, from)
	case fragNeeded:
		return FragNeeded(buf, off, n, p, from, mtu)
	}
	return PortUnreachable(buf, off, n, p, from)
}

// typeCode is the ICMP type and code of k for the family.
func (k errorKind) typeCode(v6 bool) (uint8, uint8) {
	switch {
	case k == portUnreach && !v6:
		return 3, 3
	case k == portUnreach:
		return 1, 4
	case k == timeExceeded && !v6:
		return 11, 0
	case k == timeExceeded:
		return 3, 0
	case !v6:
		return 3, 4
	}
	return 2, 0
}

type errorCase struct {
	name string
	kind errorKind
	in   spec
	mtu  int
	rest uint32 // the ICMP header's second word
}

var big = make([]byte, 1500-20-8)

var errorCases = []errorCase{
	{name: "tcp4-syn", kind: portUnreach, in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, df: true, id: 0xabcd, tos: 0x10, tcpFlags: packet.TCPSyn}},
	{name: "udp4-vlan", kind: portUnreach, in: spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: http}},
	{name: "tcp4-ipopts", kind: portUnreach, in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, ipOpts: []byte{0x94, 4, 0, 0}, sport: cport, dport: vport, ttl: 64, payload: http}},
	{name: "sctp4", kind: portUnreach, in: spec{src: client4, dst: vip4, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 64}},
	{name: "icmp4-echo", kind: portUnreach, in: spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 8, icmpRest: 0x10002, ttl: 64, payload: []byte("ping")}},
	{name: "udp4-first-fragment", kind: portUnreach, in: spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, mf: true, id: 3, ttl: 64, payload: http}},
	{name: "tcp6", kind: portUnreach, in: spec{src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, tcpFlags: packet.TCPSyn}},
	{name: "udp6-vlan", kind: portUnreach, in: spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: http}},
	{name: "icmp6-echo", kind: portUnreach, in: spec{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 128, ttl: 64, payload: []byte("ping")}},
	{name: "tcp4-ttl1", kind: timeExceeded, in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 1, payload: http}},
	{name: "tcp6-vlan-hop1", kind: timeExceeded, in: spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 1, payload: http}},
	{name: "udp4-1500-df", kind: fragNeeded, mtu: 1400, rest: 1400, in: spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, df: true, payload: big}},
	{name: "udp4-vlan-mtu-clamped", kind: fragNeeded, mtu: 70000, rest: 0xffff, in: spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, df: true, payload: http}},
	{name: "udp6-1500", kind: fragNeeded, mtu: 1280, rest: 1280, in: spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: big[:1500-48]}},
	{name: "udp6-multicast-dst", kind: fragNeeded, mtu: 1400, rest: 1400, in: spec{src: client6, dst: "ff0e::1", proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: big[:1500-48], ethDst: &[6]byte{0x33, 0x33, 0, 0, 0, 1}}},
}

// wantError builds the error the generators must produce for frame (tc.in).
func wantError(t *testing.T, tc *errorCase, frame []byte, from string) []byte {
	p := decode(t, frame)
	ipPkt := frame[p.L3Off:p.Len]
	limit := 576 - 20 - 8
	if p.V6 {
		limit = 1280 - 40 - 8
	}
	ethDst := macDirector
	if tc.in.ethDst != nil {
		ethDst = *tc.in.ethDst
	}
	fr := &packet.Frame{Ethernet: packet.EthernetFields{Dst: macClient, Src: ethDst, HasVLAN: tc.in.vlan, VLAN: 0x2064}}
	typ, code := tc.kind.typeCode(p.V6)
	fr.ICMP = &packet.ICMPFields{Type: typ, Code: code, Rest: tc.rest}
	fr.Payload = ipPkt[:min(len(ipPkt), limit)]
	if p.V6 {
		fr.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: netip.MustParseAddr(from), Dst: netip.MustParseAddr(tc.in.src)}
	} else {
		fr.IPv4 = &packet.IPv4Fields{TOS: 0xc0 | tc.in.tos&0x1e, ID: tc.in.id, TTL: 64, Src: netip.MustParseAddr(from), Dst: netip.MustParseAddr(tc.in.src)}
	}
	return packet.AppendFrame(nil, fr)
}

func TestICMPErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.kind.String()+"/"+tc.name, func(t *testing.T) {
			buf, off, n := tc.in.buf()
			from := tc.in.dst
			if tc.name == "udp6-multicast-dst" {
				from = dir6
			}
			want := wantError(t, &tc, buf[off:off+n], from)
			p := decode(t, buf[off:off+n])
			orig := bytes.Clone(buf[off+int(p.L3Off) : off+int(p.Len)])

			newOff, newLen, ok := tc.kind.send(buf, off, n, &p, addr16(from), tc.mtu)
			if !ok {
				t.Fatal("refused")
			}
			out := buf[newOff : newOff+newLen]
			equalBytes(t, "error frame", out, want)
			if got := verifyChecksums(t, out); got < 1 {
				t.Error("gopacket verified no checksum")
			}

			// packet.Decode sees the error, DecodeEmbedded the original.
			ep := decode(t, out)
			typ, code := tc.kind.typeCode(p.V6)
			if ep.ICMPType != typ || ep.ICMPCode != code || ep.Src != addr16(from) || ep.Dst != p.Src {
				t.Errorf("error decodes as %+v", ep)
			}
			if !packet.VerifyL4Checksum(out, &ep) {
				t.Error("packet.VerifyL4Checksum: ICMP checksum wrong")
			}
			var inner packet.Parsed
			if r := packet.DecodeEmbedded(out, int(ep.PayOff), &inner); r != packet.OK {
				t.Fatalf("DecodeEmbedded: %v", r)
			}
			if inner.Src != p.Src || inner.Dst != p.Dst || inner.SrcPort != p.SrcPort || inner.DstPort != p.DstPort || inner.Proto != p.Proto {
				t.Errorf("quoted packet decodes as %+v, want %+v", inner, p)
			}
			quoted := out[ep.PayOff:]
			if !bytes.HasPrefix(orig, quoted) || len(quoted) < min(len(orig), 548) {
				t.Errorf("quote is %d bytes of the %d-byte original, or not its start", len(quoted), len(orig))
			}
		})
	}
}

func TestICMPErrorRefused(t *testing.T) {
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast := [6]byte{0x01, 0x00, 0x5e, 0, 0, 5}
	tcp4 := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64}
	udp6 := spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64}
	with := func(s spec, f func(*spec)) spec { f(&s); return s }
	tests := []struct {
		name     string
		kind     errorKind
		in       spec
		headroom int
	}{
		{"icmp4-dest-unreach", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 3, icmpCode: 1, ttl: 64, payload: make([]byte, 28)}, 64},
		{"icmp4-time-exceeded", timeExceeded, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 11, ttl: 1, payload: make([]byte, 28)}, 64},
		{"icmp4-redirect", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 5, ttl: 64, payload: make([]byte, 28)}, 64},
		{"icmp4-parameter-problem", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 12, ttl: 64, payload: make([]byte, 28)}, 64},
		{"icmp4-source-quench", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 4, ttl: 64, payload: make([]byte, 28)}, 64},
		{"icmp4-unknown-type", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 42, ttl: 64}, 64},
		{"icmp6-dest-unreach", portUnreach, spec{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 1, ttl: 64, payload: make([]byte, 48)}, 64},
		{"icmp6-packet-too-big", fragNeeded, spec{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 2, ttl: 64, payload: make([]byte, 48)}, 64},
		{"icmp6-redirect", portUnreach, spec{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 137, ttl: 64, payload: make([]byte, 32)}, 64},
		{"non-first-fragment4", portUnreach, spec{src: client4, dst: vip4, proto: packet.ProtoTCP, fragOff: 1480, ttl: 64, payload: http}, 64},
		{"non-first-fragment6", timeExceeded, spec{src: client6, dst: vip6, proto: packet.ProtoUDP, frag6: true, fragOff: 8, ttl: 1, payload: http}, 64},
		{"dst-multicast4", portUnreach, with(tcp4, func(s *spec) { s.dst = "224.0.0.5"; s.ethDst = &mcast }), 64},
		{"dst-multicast4-unicast-mac", timeExceeded, with(tcp4, func(s *spec) { s.dst = "239.1.2.3"; s.ttl = 1 }), 64},
		{"dst-broadcast4", portUnreach, with(tcp4, func(s *spec) { s.dst = "255.255.255.255" }), 64},
		{"eth-broadcast", portUnreach, with(tcp4, func(s *spec) { s.ethDst = &bcast }), 64},
		{"eth-multicast-frag-needed4", fragNeeded, with(tcp4, func(s *spec) { s.ethDst = &mcast; s.df = true }), 64},
		{"src-zero4", portUnreach, with(tcp4, func(s *spec) { s.src = "0.0.0.0" }), 64},
		{"src-loopback4", portUnreach, with(tcp4, func(s *spec) { s.src = "127.0.0.1" }), 64},
		{"src-multicast4", portUnreach, with(tcp4, func(s *spec) { s.src = "224.1.1.1" }), 64},
		{"src-class-e4", portUnreach, with(tcp4, func(s *spec) { s.src = "240.0.0.1" }), 64},
		{"src-broadcast4", portUnreach, with(tcp4, func(s *spec) { s.src = "255.255.255.255" }), 64},
		{"dst-multicast6", portUnreach, with(udp6, func(s *spec) { s.dst = "ff02::1" }), 64},
		{"dst-multicast6-time-exceeded", timeExceeded, with(udp6, func(s *spec) { s.dst = "ff0e::1"; s.ttl = 1 }), 64},
		{"eth-multicast6", portUnreach, with(udp6, func(s *spec) { s.ethDst = &[6]byte{0x33, 0x33, 0, 0, 0, 1} }), 64},
		{"src-unspecified6", portUnreach, with(udp6, func(s *spec) { s.src = "::" }), 64},
		{"src-loopback6", portUnreach, with(udp6, func(s *spec) { s.src = "::1" }), 64},
		{"src-multicast6", fragNeeded, with(udp6, func(s *spec) { s.src = "ff02::2" }), 64},
		{"headroom4", portUnreach, tcp4, 27},
		{"headroom6", portUnreach, udp6, 47},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.in.bytes()
			buf := make([]byte, tc.headroom+len(frame))
			copy(buf[tc.headroom:], frame)
			before := bytes.Clone(buf)
			p := decode(t, buf[tc.headroom:])
			from := addr16(vip4)
			if p.V6 {
				from = addr16(vip6)
			}
			if _, _, ok := tc.kind.send(buf, tc.headroom, len(frame), &p, from, 1280); ok {
				t.Fatal("error sent")
			}
			equalBytes(t, "buffer", buf, before)
		})
	}
}

// TestTimeExceededAfterDecTTL is the path the director takes: DecTTL
// refuses, and the error quotes the packet as received.
func TestTimeExceededAfterDecTTL(t *testing.T) {
	in := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 1, payload: http}
	buf, off, n := in.buf()
	p := decode(t, buf[off:off+n])
	if DecTTL(buf[off:off+n], &p) {
		t.Fatal("DecTTL accepted TTL 1")
	}
	tc := errorCase{kind: timeExceeded, in: in}
	want := wantError(t, &tc, in.bytes(), vip4)
	newOff, newLen, ok := TimeExceeded(buf, off, n, &p, addr16(vip4))
	if !ok {
		t.Fatal("refused")
	}
	equalBytes(t, "error frame", buf[newOff:newOff+newLen], want)
}
