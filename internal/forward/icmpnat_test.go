package forward

import (
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// icmpNATCase is an ICMP error about a quoted packet, and the rewrite
// NATInICMP (out false) or NATOutICMP (out true) must make of it.
type icmpNATCase struct {
	name          string
	out           bool
	vlan          bool
	typ, code     uint8
	rest          uint32
	errSrc        string // the error's outer addresses
	errDst        string
	quoted        spec // the packet the error is about
	quoteL4       int  // bytes of the quoted transport header and payload; -1 = all
	addr          string
	port          uint16
	wantOuterAddr string // rewritten outer destination (in) or source (out)
	wantQuoted    spec   // the quoted packet after the rewrite (transport checksum as before)
}

var icmpNATCases = []icmpNATCase{
	{
		name: "in4-frag-needed-tcp", typ: 3, code: 4, rest: 1400, errSrc: client4, errDst: vip4,
		quoted:  spec{src: vip4, dst: client4, proto: packet.ProtoTCP, sport: vport, dport: cport, ttl: 63, df: true, payload: http},
		quoteL4: 8, addr: rip4, port: rport, wantOuterAddr: rip4,
		wantQuoted: spec{src: rip4, dst: client4, proto: packet.ProtoTCP, sport: rport, dport: cport, ttl: 63, df: true, payload: http},
	},
	{
		name: "in4-vlan-port-unreach-udp-whole", vlan: true, typ: 3, code: 3, errSrc: client4, errDst: vip4,
		quoted:  spec{src: vip4, dst: client4, proto: packet.ProtoUDP, sport: 7777, dport: cport, ttl: 63, ipOpts: []byte{0x94, 4, 0, 0}, payload: http},
		quoteL4: -1, addr: rip4, port: rport, wantOuterAddr: rip4,
		wantQuoted: spec{src: rip4, dst: client4, proto: packet.ProtoUDP, sport: rport, dport: cport, ttl: 63, ipOpts: []byte{0x94, 4, 0, 0}, payload: http},
	},
	{
		name: "in6-packet-too-big-tcp", typ: 2, rest: 1280, errSrc: "2001:db8:ff::1", errDst: vip6,
		quoted:  spec{src: vip6, dst: client6, proto: packet.ProtoTCP, sport: vport, dport: cport, ttl: 63, payload: http},
		quoteL4: 20, addr: rip6, port: rport, wantOuterAddr: rip6,
		wantQuoted: spec{src: rip6, dst: client6, proto: packet.ProtoTCP, sport: rport, dport: cport, ttl: 63, payload: http},
	},
	{
		name: "out4-port-unreach-udp", out: true, typ: 3, code: 3, errSrc: rip4, errDst: client4,
		quoted:  spec{src: client4, dst: rip4, proto: packet.ProtoUDP, sport: cport, dport: rport, ttl: 63, payload: http},
		quoteL4: -1, addr: vip4, port: vport, wantOuterAddr: vip4,
		wantQuoted: spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 63, payload: http},
	},
	{
		name: "out4-icmp-quoted", out: true, typ: 3, code: 1, errSrc: rip4, errDst: client4,
		quoted:  spec{src: client4, dst: rip4, proto: packet.ProtoICMP, icmpType: 8, ttl: 63, payload: http},
		quoteL4: 8, addr: vip4, port: vport, wantOuterAddr: vip4,
		wantQuoted: spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 8, ttl: 63, payload: http},
	},
	{
		name: "out6-vlan-time-exceeded-sctp", out: true, vlan: true, typ: 3, errSrc: rip6, errDst: client6,
		quoted:  spec{src: client6, dst: rip6, proto: packet.ProtoSCTP, sport: cport, dport: rport, ttl: 1},
		quoteL4: -1, addr: vip6, port: vport, wantOuterAddr: vip6,
		wantQuoted: spec{src: client6, dst: vip6, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 1},
	},
}

// quote returns the start of s's IP packet, as an ICMP error quotes it: the
// IP header and l4 bytes after it (all with l4 < 0). With keepL4Csum, the
// transport checksum bytes are taken from keepL4Csum's packet instead.
func quote(t *testing.T, s spec, l4 int, keepL4Csum *spec) []byte {
	b := packet.AppendPacket(nil, s.frame())
	var p packet.Parsed
	if packet.DecodeIP(b, 0, &p) != packet.OK {
		t.Fatalf("quoted packet does not decode")
	}
	if keepL4Csum != nil {
		orig := packet.AppendPacket(nil, keepL4Csum.frame())
		off, n := int(p.L4Off), 0
		switch p.Proto {
		case packet.ProtoTCP:
			off, n = off+16, 2
		case packet.ProtoUDP:
			off, n = off+6, 2
		case packet.ProtoSCTP:
			off, n = off+8, 4
		case packet.ProtoICMP, packet.ProtoICMPv6:
			off, n = off+2, 2
		}
		copy(b[off:off+n], orig[off:off+n])
	}
	if l4 >= 0 {
		b = b[:int(p.L4Off)+l4]
	}
	return b
}

func (tc *icmpNATCase) frame(t *testing.T, outerAddr string, q []byte) []byte {
	src, dst := tc.errSrc, tc.errDst
	if tc.out {
		src = outerAddr
	} else {
		dst = outerAddr
	}
	fr := &packet.Frame{Ethernet: packet.EthernetFields{Dst: macDirector, Src: macClient, HasVLAN: tc.vlan, VLAN: 7},
		ICMP: &packet.ICMPFields{Type: tc.typ, Code: tc.code, Rest: tc.rest}, Payload: q}
	if netip.MustParseAddr(src).Is6() {
		fr.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}
	} else {
		fr.IPv4 = &packet.IPv4Fields{TTL: 64, ID: 77, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}
	}
	return packet.AppendFrame(nil, fr)
}

func decodeICMPError(t *testing.T, f []byte) (packet.Parsed, packet.Parsed) {
	t.Helper()
	p := decode(t, f)
	var inner packet.Parsed
	if r := packet.DecodeEmbedded(f[:p.Len], int(p.PayOff), &inner); r != packet.OK {
		t.Fatalf("DecodeEmbedded: %v", r)
	}
	return p, inner
}

func TestNATICMP(t *testing.T) {
	for _, tc := range icmpNATCases {
		t.Run(tc.name, func(t *testing.T) {
			origOuter := tc.errDst
			if tc.out {
				origOuter = tc.errSrc
			}
			f := tc.frame(t, origOuter, quote(t, tc.quoted, tc.quoteL4, nil))
			want := tc.frame(t, tc.wantOuterAddr, quote(t, tc.wantQuoted, tc.quoteL4, &tc.quoted))
			p, inner := decodeICMPError(t, f)

			var ok bool
			if tc.out {
				ok = NATOutICMP(f, &p, &inner, addr16(tc.addr), tc.port)
			} else {
				ok = NATInICMP(f, &p, &inner, addr16(tc.addr), tc.port)
			}
			if !ok {
				t.Fatal("refused")
			}
			equalBytes(t, "frame", f, want)
			if verifyChecksums(t, f) == 0 {
				t.Error("gopacket verified no checksum")
			}
			wp, winner := decodeICMPError(t, f)
			if p != wp {
				t.Errorf("outer Parsed\n%+v\nwant %+v", p, wp)
			}
			if inner != winner {
				t.Errorf("quoted Parsed\n%+v\nwant %+v", inner, winner)
			}
			if !packet.VerifyL4Checksum(f, &wp) {
				t.Error("packet.VerifyL4Checksum: ICMP checksum wrong")
			}
			if !wp.V6 && !packet.IPv4(f[winner.L3Off:winner.L4Off]).IsChecksumValid() {
				t.Error("quoted IPv4 header checksum wrong")
			}
		})
	}
}

func TestNATICMPRefused(t *testing.T) {
	tc := icmpNATCases[0]
	f := tc.frame(t, tc.errDst, quote(t, tc.quoted, tc.quoteL4, nil))
	p, inner := decodeICMPError(t, f)
	orig := append([]byte(nil), f...)

	mismatch := inner
	mismatch.V6 = true
	echo := decode(t, spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: 1, dport: 2, ttl: 9}.bytes())
	outside := inner
	outside.Len = p.Len + 1
	overlap := inner
	overlap.L3Off = p.L4Off + 4
	for name, c := range map[string]struct{ p, inner packet.Parsed }{
		"family mismatch":      {p, mismatch},
		"not ICMP":             {echo, inner},
		"quote beyond the end": {p, outside},
		"quote in ICMP header": {p, overlap},
	} {
		q, in := c.p, c.inner
		if NATInICMP(f, &q, &in, addr16(rip4), rport) || NATOutICMP(f, &q, &in, addr16(rip4), rport) {
			t.Errorf("%s: rewritten", name)
		}
		equalBytes(t, name, f, orig)
	}
}
