package forward

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// checksumState records which checksums of a decoded frame are right, as
// judged by package packet's verifiers (not by this package's code).
type checksumState struct {
	ip bool // IPv4 header checksum
	l4 bool // transport checksum (TCP, UDP, SCTP, ICMP, ICMPv6)
}

func checksums(f []byte, p *packet.Parsed) checksumState {
	s := checksumState{ip: !p.V6 && packet.VerifyIPv4HeaderChecksum(f, p)}
	if p.Proto == packet.ProtoUDP {
		s.l4 = udpValid(f, p)
	} else {
		s.l4 = packet.VerifyL4Checksum(f, p)
	}
	return s
}

// udpValid checks a UDP checksum over the length in the UDP header, which is
// what a receiver checks (packet.VerifyL4Checksum sums the whole IP payload,
// which differs when the UDP length is shorter). 0 means "none": valid on
// IPv4 only.
func udpValid(f []byte, p *packet.Parsed) bool {
	if !p.Flags.Has(packet.FlagL4) || partial(p) {
		return false
	}
	seg := f[p.L4Off:p.Len]
	u := packet.UDP(seg)
	if u.Checksum() == 0 {
		return !p.V6
	}
	ulen := int(u.Length())
	return packet.UDP(seg[:ulen]).IsChecksumValid(packet.PseudoSum(p.V6, &p.Src, &p.Dst, packet.ProtoUDP, ulen))
}

// fuzzAddrs are the addresses the fuzzer rewrites to, chosen by sel.
var fuzzAddrs4 = [...][16]byte{addr16(rip4), addr16("0.0.0.0"), addr16("255.255.255.255"), addr16("10.255.0.1")}
var fuzzAddrs6 = [...][16]byte{addr16(rip6), addr16("::"), addr16("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), addr16("2001:db8::ffff")}

// FuzzRewrite runs every frame that packet.Decode accepts through the
// rewrites and the generators. None may panic; each result must decode
// again, match the Parsed the function updated, and keep right every
// checksum that was right before (for the generators and encapsulations:
// have right checksums, and leave the inner packet unchanged).
func FuzzRewrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte, port uint16, sel uint8) {
		var p packet.Parsed
		if packet.Decode(frame, &p) != packet.OK {
			return
		}
		addr := fuzzAddrs4[sel%4]
		if p.V6 {
			addr = fuzzAddrs6[sel%4]
		}
		before := checksums(frame, &p)

		rewrites := []struct {
			name string
			fn   func(f []byte, q *packet.Parsed)
		}{
			{"NATIn", func(f []byte, q *packet.Parsed) { NATIn(f, q, addr, port) }},
			{"NATOut", func(f []byte, q *packet.Parsed) { NATOut(f, q, addr, port) }},
			{"DecTTL", func(f []byte, q *packet.Parsed) {
				ttl := q.TTL
				if ok := DecTTL(f, q); ok != (ttl > 1) {
					t.Errorf("DecTTL(TTL %d) = %v", ttl, ok)
				}
			}},
			{"SetMACs", func(f []byte, q *packet.Parsed) { SetMACs(f, macDirector, macServer) }},
			{"NATInDecTTL", func(f []byte, q *packet.Parsed) { checkNATInDecTTL(t, f, q, addr, port) }},
		}
		for _, rw := range rewrites {
			fr := bytes.Clone(frame)
			q := p
			rw.fn(fr, &q)
			var r packet.Parsed
			if res := packet.Decode(fr, &r); res != packet.OK {
				t.Fatalf("%s: result does not decode: %v", rw.name, res)
			}
			if r != q {
				t.Fatalf("%s: Parsed\n%+v\ndoes not match the frame\n%+v", rw.name, q, r)
			}
			after := checksums(fr, &r)
			if before.ip && !after.ip {
				t.Errorf("%s broke the IPv4 header checksum", rw.name)
			}
			if before.l4 && !after.l4 {
				t.Errorf("%s broke the %v checksum", rw.name, p.Proto)
			}
		}

		// ICMP errors of NAT connections: the quoted packet is rewritten too.
		var inner packet.Parsed
		if p.Flags.Has(packet.FlagL4) && (p.Proto == packet.ProtoICMP && !p.V6 || p.Proto == packet.ProtoICMPv6 && p.V6) &&
			packet.DecodeEmbedded(frame[:p.Len], int(p.PayOff), &inner) == packet.OK {
			innerIPOK := !inner.V6 && packet.IPv4(frame[inner.L3Off:inner.L4Off]).IsChecksumValid()
			for _, out := range []bool{false, true} {
				fr := bytes.Clone(frame)
				q, qi := p, inner
				var ok bool
				if out {
					ok = NATOutICMP(fr, &q, &qi, addr, port)
				} else {
					ok = NATInICMP(fr, &q, &qi, addr, port)
				}
				if ok != (inner.V6 == p.V6) {
					t.Fatalf("ICMP NAT (out %v) = %v for a quoted packet of the other family: %v", out, ok, inner.V6 != p.V6)
				}
				if !ok {
					continue
				}
				var r, ri packet.Parsed
				if res := packet.Decode(fr, &r); res != packet.OK || r != q {
					t.Fatalf("ICMP NAT (out %v): outer decodes as %v %+v, want %+v", out, res, r, q)
				}
				if res := packet.DecodeEmbedded(fr[:r.Len], int(r.PayOff), &ri); res != packet.OK || ri != qi {
					t.Fatalf("ICMP NAT (out %v): quoted packet decodes as %v %+v, want %+v", out, res, ri, qi)
				}
				after := checksums(fr, &r)
				if before.ip && !after.ip || before.l4 && !after.l4 {
					t.Errorf("ICMP NAT (out %v) broke a checksum: before %+v after %+v", out, before, after)
				}
				if innerIPOK && !packet.IPv4(fr[ri.L3Off:ri.L4Off]).IsChecksumValid() {
					t.Errorf("ICMP NAT (out %v) broke the quoted IPv4 header checksum", out)
				}
			}
		}

		// Encapsulation: ok unless the outer length overflows; the inner
		// packet stays as it was.
		innerLen := int(p.Len) - int(p.L3Off)
		for _, gue := range []bool{false, true} {
			for _, v6 := range []bool{false, true} {
				buf, off, n := withHeadroom(frame)
				q := p
				o := outer(v6, uint16(port), sel&1 != 0)
				var newOff, newLen int
				var ok bool
				if gue {
					newOff, newLen, ok = EncapGUE(buf, off, n, &q, o, FlowPort(&q), port, sel&2 != 0)
				} else {
					newOff, newLen, ok = EncapIPIP(buf, off, n, &q, o)
				}
				payload := innerLen + TunnelOverhead(v6, gue)
				if v6 {
					payload -= ipv6HeaderLen
				}
				if ok != (payload <= 0xffff) {
					t.Fatalf("encap (gue %v, v6 %v) of a %d-byte packet: ok = %v", gue, v6, innerLen, ok)
				}
				if !ok {
					continue
				}
				if q != p {
					t.Fatal("encap changed Parsed")
				}
				if !bytes.Equal(buf[off+int(p.L3Off):off+int(p.Len)], frame[p.L3Off:p.Len]) {
					t.Fatal("encap changed the inner packet")
				}
				out := buf[newOff : newOff+newLen]
				if len(out) > 0xffff {
					continue // beyond what Decode takes
				}
				var r packet.Parsed
				if res := packet.Decode(out, &r); res != packet.OK {
					t.Fatalf("encapsulated frame does not decode: %v", res)
				}
				if !v6 && !packet.VerifyIPv4HeaderChecksum(out, &r) {
					t.Error("outer IPv4 header checksum wrong")
				}
				if gue && !packet.VerifyL4Checksum(out, &r) {
					t.Error("outer UDP checksum wrong")
				}
			}
		}

		// Generated errors: right checksums, a bounded quote of the
		// original, never about an ICMP error.
		for _, kind := range []errorKind{portUnreach, timeExceeded, fragNeeded} {
			buf, off, n := withHeadroom(frame)
			q := p
			newOff, newLen, ok := kind.send(buf, off, n, &q, p.Dst, int(port))
			if !ok {
				if !bytes.Equal(buf[off:off+n], frame) {
					t.Fatalf("%v refused but changed the frame", kind)
				}
				continue
			}
			if p.Flags&packet.FlagNonFirstFrag != 0 {
				t.Errorf("%v about a non-first fragment", kind)
			}
			icmpErr4 := p.ICMPType == 3 || p.ICMPType == 4 || p.ICMPType == 5 || p.ICMPType == 11 || p.ICMPType == 12
			if (p.Proto == packet.ProtoICMP && !p.V6 && icmpErr4) ||
				(p.Proto == packet.ProtoICMPv6 && p.V6 && p.ICMPType < 128) {
				t.Errorf("%v about ICMP type %d", kind, p.ICMPType)
			}
			out := buf[newOff : newOff+newLen]
			limit := 576
			if p.V6 {
				limit = 1280
			}
			if len(out)-int(p.L3Off) > limit {
				t.Errorf("%v: %d-byte error packet", kind, len(out)-int(p.L3Off))
			}
			var r packet.Parsed
			if res := packet.Decode(out, &r); res != packet.OK {
				t.Fatalf("%v: error frame does not decode: %v", kind, res)
			}
			if !packet.VerifyL4Checksum(out, &r) {
				t.Errorf("%v: ICMP checksum wrong", kind)
			}
			if !p.V6 && !packet.VerifyIPv4HeaderChecksum(out, &r) {
				t.Errorf("%v: IPv4 header checksum wrong", kind)
			}
		}
	})
}

// writeFuzzSeeds writes the seed corpus of FuzzRewrite (TestGolden calls
// it with -update): every frame of the table tests, plus a few odd ones.
func writeFuzzSeeds(t *testing.T) {
	var frames [][]byte
	for _, tc := range natCases {
		frames = append(frames, tc.in.bytes(), mirror(natted(tc.in, tc.rip)).bytes())
	}
	for _, tc := range encapCases {
		frames = append(frames, append(tc.in.bytes(), make([]byte, tc.pad)...))
	}
	for _, tc := range errorCases {
		frames = append(frames, tc.in.bytes())
	}
	for _, tc := range icmpNATCases {
		origOuter := tc.errDst
		if tc.out {
			origOuter = tc.errSrc
		}
		frames = append(frames, tc.frame(t, origOuter, quote(t, tc.quoted, tc.quoteL4, nil)))
	}
	odd := []spec{
		{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 1, udpNoCsum: true, payload: http},
		{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 0, udpNoCsum: true, payload: http},
		{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, mf: true, id: 1, payload: http},
		{src: client4, dst: vip4, proto: packet.ProtoTCP, fragOff: 8, ttl: 64, payload: http},
		{src: client6, dst: vip6, proto: packet.ProtoSCTP, frag6: true, mf: true, sport: cport, dport: vport, ttl: 64},
		{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 3, icmpCode: 3, ttl: 64, payload: make([]byte, 28)},
		{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 1, ttl: 64, payload: make([]byte, 48)},
		{src: client4, dst: "224.0.0.1", proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 1},
		{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, df: true, payload: make([]byte, 0xffff-14-20-20)},
	}
	for _, s := range odd {
		frames = append(frames, s.bytes())
	}
	// A UDP datagram shorter than its IP packet (trailing bytes).
	short := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, udpNoCsum: true, payload: http}.bytes()
	short[14+20+5] = 8 + 4 // UDP length
	frames = append(frames, short)

	dir := filepath.Join("testdata", "fuzz", "FuzzRewrite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nuint8(%d)\n", fr, 8080+i, i%8)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
