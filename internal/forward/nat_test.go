package forward

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// Addresses of the NAT tests: client, virtual service, real server.
const (
	client4, vip4, rip4 = "192.0.2.10", "198.51.100.1", "10.0.0.2"
	client6, vip6, rip6 = "2001:db8::10", "2001:db8:1::1", "fd00::2"
	vport, rport        = 80, 8080
	cport               = 40000
)

var http = []byte("GET / HTTP/1.0\r\n\r\n")

// natCases are client → VIP packets; NATIn must turn each into the same
// packet addressed to rip:rport, and NATOut must turn the real server's
// reply (the mirror image from rip:rport) into one from vip:vport.
var natCases = []struct {
	name string
	in   spec
	rip  string
}{
	{"tcp4", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, df: true, id: 0x1c46, payload: http}, rip4},
	{"tcp4-vlan", spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, tos: 0x10, tcpFlags: packet.TCPSyn, tcpOpts: []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}}, rip4},
	{"tcp4-ipopts", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 9, ipOpts: []byte{0x94, 4, 0, 0}, payload: http[:5]}, rip4},
	{"udp4", spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: []byte("\x12\x34\x01\x00\x00\x01")}, rip4},
	{"udp4-odd-payload", spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: 1, dport: 7777, ttl: 64, payload: []byte("abc")}, rip4},
	{"udp4-vlan", spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: http}, rip4},
	{"sctp4", spec{src: client4, dst: vip4, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 64}, rip4},
	{"icmp4-echo", spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 8, icmpRest: 0x00010002, ttl: 64, payload: []byte("ping")}, rip4},
	{"tcp6", spec{src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, payload: http}, rip6},
	{"tcp6-vlan", spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 2, tcpFlags: packet.TCPFin}, rip6},
	{"tcp6-hopbyhop", spec{src: client6, dst: vip6, proto: packet.ProtoTCP, hopByHop: true, sport: cport, dport: vport, ttl: 64, payload: http}, rip6},
	{"udp6", spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, tos: 0xb8, payload: http}, rip6},
	{"udp6-vlan", spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, payload: []byte{1}}, rip6},
	{"sctp6", spec{src: client6, dst: vip6, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 64}, rip6},
	{"sctp6-vlan", spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 64}, rip6},
	{"icmp6-echo", spec{src: client6, dst: vip6, proto: packet.ProtoICMPv6, icmpType: 128, icmpRest: 0x00010002, ttl: 64, payload: []byte("ping6")}, rip6},
}

// natted returns s rewritten the way NATIn should: destination rip:rport.
func natted(s spec, rip string) spec {
	s.dst = rip
	if s.dport != 0 {
		s.dport = rport
	}
	return s
}

// mirror returns the reply to s: addresses and ports swapped.
func mirror(s spec) spec {
	s.src, s.dst = s.dst, s.src
	s.sport, s.dport = s.dport, s.sport
	return s
}

func TestNATIn(t *testing.T) {
	for _, tc := range natCases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.in.bytes()
			p := decode(t, f)
			NATIn(f, &p, addr16(tc.rip), rport)
			want := natted(tc.in, tc.rip).bytes()
			equalBytes(t, "frame", f, want)
			checkParsed(t, f, &p)
			if verifyChecksums(t, f) == 0 {
				t.Error("gopacket verified no checksum")
			}
		})
	}
}

func TestNATOut(t *testing.T) {
	for _, tc := range natCases {
		t.Run(tc.name, func(t *testing.T) {
			reply := mirror(natted(tc.in, tc.rip))
			f := reply.bytes()
			p := decode(t, f)
			NATOut(f, &p, addr16(tc.in.dst), tc.in.dport)
			want := mirror(tc.in)
			want.ttl = reply.ttl
			equalBytes(t, "frame", f, want.bytes())
			checkParsed(t, f, &p)
			verifyChecksums(t, f)
		})
	}
}

// TestNATRoundTrip sends a request through DecTTL + NATIn, lets the real
// server answer it (mirror image), sends the reply through NATOut, and
// checks that the mirror image of what the client gets is the original
// request, apart from the TTL.
func TestNATRoundTrip(t *testing.T) {
	for _, tc := range natCases {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.in.bytes()
			f := tc.in.bytes()
			p := decode(t, f)
			if !DecTTL(f, &p) {
				t.Fatal("DecTTL refused")
			}
			NATIn(f, &p, addr16(tc.rip), rport)
			mirrorFrame(f, &p)
			p = decode(t, f)
			NATOut(f, &p, addr16(tc.in.dst), tc.in.dport)
			mirrorFrame(f, &p)
			verifyChecksums(t, f)

			// Restore the TTL (with the header checksum) and compare.
			p = decode(t, f)
			if p.TTL != tc.in.ttl-1 {
				t.Errorf("TTL %d, want %d", p.TTL, tc.in.ttl-1)
			}
			if p.V6 {
				packet.IPv6(f[p.L3Off:]).SetHopLimit(tc.in.ttl)
			} else {
				packet.IPv4(f[p.L3Off:p.L4Off]).SetTTLWithChecksum(tc.in.ttl)
			}
			equalBytes(t, "frame after the round trip", f, orig)
		})
	}
}

// mirrorFrame swaps the addresses, ports and MAC addresses of the frame in
// place. Internet checksums do not change (the sums are the same); the SCTP
// CRC does and is recomputed.
func mirrorFrame(f []byte, p *packet.Parsed) {
	swap := func(a, b []byte) {
		for i := range a {
			a[i], b[i] = b[i], a[i]
		}
	}
	swap(f[0:6], f[6:12])
	l3, l4 := int(p.L3Off), int(p.L4Off)
	if p.V6 {
		swap(f[l3+8:l3+24], f[l3+24:l3+40])
	} else {
		swap(f[l3+12:l3+16], f[l3+16:l3+20])
	}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		swap(f[l4:l4+2], f[l4+2:l4+4])
	case packet.ProtoSCTP:
		swap(f[l4:l4+2], f[l4+2:l4+4])
		packet.SCTP(f[l4:p.Len]).UpdateChecksum()
	}
}

// TestNATSpecialChecksums covers the checksum rules that are not a plain
// incremental update.
func TestNATSpecialChecksums(t *testing.T) {
	t.Run("udp4-no-checksum-gets-one", func(t *testing.T) {
		in := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, udpNoCsum: true, payload: http}
		f := in.bytes()
		p := decode(t, f)
		NATIn(f, &p, addr16(rip4), rport)
		equalBytes(t, "frame", f, natted(in, rip4).withUDPChecksum().bytes())
		if verifyChecksums(t, f) != 2 {
			t.Error("gopacket did not verify a UDP checksum")
		}
	})
	t.Run("udp6-zero-checksum-gets-one", func(t *testing.T) {
		in := spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, udpNoCsum: true, payload: http}
		f := in.bytes()
		p := decode(t, f)
		NATOut(f, &p, addr16(rip6), 5000)
		want := in
		want.src, want.sport, want.udpNoCsum = rip6, 5000, false
		equalBytes(t, "frame", f, want.bytes())
		verifyChecksums(t, f)
	})
	// A result of 0 must go out as 0xFFFF, through the incremental path and
	// through the full computation.
	for _, noCsum := range []bool{false, true} {
		name := "udp-result-zero-incremental"
		if noCsum {
			name = "udp-result-zero-full"
		}
		t.Run(name, func(t *testing.T) {
			after := spec{src: client4, dst: rip4, proto: packet.ProtoUDP, sport: cport, dport: rport, ttl: 64, payload: make([]byte, 8)}
			after.payload = zeroSumPayload(t, after)
			in := after
			in.dst, in.dport, in.udpNoCsum = vip4, vport, noCsum
			f := in.bytes()
			p := decode(t, f)
			NATIn(f, &p, addr16(rip4), rport)
			if c := binary.BigEndian.Uint16(f[p.L4Off+6:]); c != 0xffff {
				t.Errorf("UDP checksum %#04x, want 0xffff", c)
			}
			equalBytes(t, "frame", f, after.bytes())
		})
	}
	t.Run("udp4-first-fragment-incremental", func(t *testing.T) {
		in := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, mf: true, id: 7, payload: http}
		f := in.bytes()
		p := decode(t, f)
		NATIn(f, &p, addr16(rip4), rport)
		equalBytes(t, "frame", f, natted(in, rip4).bytes())
		checkParsed(t, f, &p)
	})
	t.Run("udp4-first-fragment-no-checksum-stays", func(t *testing.T) {
		in := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 64, mf: true, id: 7, udpNoCsum: true, payload: http}
		f := in.bytes()
		p := decode(t, f)
		NATIn(f, &p, addr16(rip4), rport)
		equalBytes(t, "frame", f, natted(in, rip4).bytes())
	})
	t.Run("tcp6-first-fragment-incremental", func(t *testing.T) {
		in := spec{src: client6, dst: vip6, proto: packet.ProtoTCP, frag6: true, mf: true, fragID: 99, sport: cport, dport: vport, ttl: 64, payload: http}
		f := in.bytes()
		p := decode(t, f)
		NATIn(f, &p, addr16(rip6), rport)
		equalBytes(t, "frame", f, natted(in, rip6).bytes())
		checkParsed(t, f, &p)
	})
	for _, in := range []spec{
		{src: client4, dst: vip4, proto: packet.ProtoTCP, fragOff: 1480, id: 7, ttl: 64, payload: http},
		{src: client6, dst: vip6, proto: packet.ProtoUDP, frag6: true, fragOff: 1448, fragID: 5, ttl: 64, payload: http},
	} {
		t.Run("non-first-fragment-"+map[bool]string{false: "4", true: "6"}[in.v6()], func(t *testing.T) {
			f := in.bytes()
			p := decode(t, f)
			NATIn(f, &p, addr16(map[bool]string{false: rip4, true: rip6}[in.v6()]), rport)
			want := in
			want.dst = map[bool]string{false: rip4, true: rip6}[in.v6()]
			equalBytes(t, "frame (address only)", f, want.bytes())
			checkParsed(t, f, &p)
		})
	}
	t.Run("sctp4-first-fragment-keeps-crc", func(t *testing.T) {
		// The CRC covers the reassembled packet: it cannot be redone here.
		in := spec{src: client4, dst: vip4, proto: packet.ProtoSCTP, sport: cport, dport: vport, mf: true, id: 4, ttl: 64}
		f := in.bytes()
		p := decode(t, f)
		crc := packet.SCTP(f[p.L4Off:p.Len]).Checksum()
		NATIn(f, &p, addr16(rip4), rport)
		if got := packet.SCTP(f[p.L4Off:p.Len]).Checksum(); got != crc {
			t.Errorf("CRC changed %#x → %#x", crc, got)
		}
		checkParsed(t, f, &p)
		if p.DstPort != rport {
			t.Errorf("port %d, want %d", p.DstPort, rport)
		}
	})
	// An IPv6 atomic fragment (RFC 6946) is a whole packet: full checksums
	// are computed as for any other (found by FuzzRewrite).
	for _, in := range []spec{
		{src: client6, dst: vip6, proto: packet.ProtoSCTP, frag6: true, fragID: 1, sport: cport, dport: vport, ttl: 64},
		{src: client6, dst: vip6, proto: packet.ProtoUDP, frag6: true, fragID: 2, sport: cport, dport: vport, ttl: 64, udpNoCsum: true, payload: http},
	} {
		t.Run("atomic-fragment6-"+in.proto.String(), func(t *testing.T) {
			f := in.bytes()
			p := decode(t, f)
			NATIn(f, &p, addr16(rip6), rport)
			equalBytes(t, "frame", f, natted(in, rip6).withUDPChecksum().bytes())
			checkParsed(t, f, &p)
		})
	}
	t.Run("sctp-same-port-keeps-crc", func(t *testing.T) {
		in := spec{src: client4, dst: vip4, proto: packet.ProtoSCTP, sport: cport, dport: rport, ttl: 64}
		f := in.bytes()
		p := decode(t, f)
		crc := packet.SCTP(f[p.L4Off:p.Len]).Checksum()
		NATIn(f, &p, addr16(rip4), rport)
		if got := packet.SCTP(f[p.L4Off:p.Len]).Checksum(); got != crc {
			t.Errorf("CRC changed %#x → %#x", crc, got)
		}
		equalBytes(t, "frame", f, natted(in, rip4).bytes())
	})
}

func (s spec) withUDPChecksum() spec { s.udpNoCsum = false; return s }

// zeroSumPayload returns s's payload with its first two bytes chosen so
// that the UDP checksum of s comes out as 0 (sent as 0xFFFF).
func zeroSumPayload(t *testing.T, s spec) []byte {
	s.payload = append([]byte{0, 0}, s.payload[2:]...)
	f := s.bytes()
	p := decode(t, f)
	seg := f[p.L4Off:p.Len]
	// Sum of everything but the checksum field and the two bytes we choose.
	sum := packet.Fold(packet.Sum(packet.PseudoSum(false, &p.Src, &p.Dst, packet.ProtoUDP, len(seg)), append(append([]byte{}, seg[:6]...), seg[8:]...)))
	// Choose w with sum + w ≡ 0xFFFF (ones' complement), so the checksum is 0.
	w := 0xffff - sum
	if w == 0 {
		w = 0xffff
	}
	binary.BigEndian.PutUint16(s.payload, w)
	return s.payload
}

// TestIncrementalEqualsFull rewrites random TCP and UDP packets and compares
// each with the same packet built from scratch (every checksum computed in
// full by the builder): the RFC 1624 updates must give the same bytes.
func TestIncrementalEqualsFull(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randAddr := func(v6 bool) string {
		if v6 {
			var a [16]byte
			for i := range a {
				a[i] = byte(r.Uint32())
			}
			a[0] = 0x20 | a[0]&0x0f // not an IPv4-mapped address
			return netip.AddrFrom16(a).String()
		}
		return netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}).String()
	}
	for i := range 2000 {
		v6 := i%2 == 1
		s := spec{
			src: randAddr(v6), dst: randAddr(v6), sport: uint16(r.Uint32()), dport: uint16(r.Uint32()),
			ttl: uint8(r.Uint32()), tos: uint8(r.Uint32()), id: uint16(r.Uint32()),
			payload: make([]byte, r.IntN(64)),
		}
		for j := range s.payload {
			s.payload[j] = byte(r.Uint32())
		}
		switch r.IntN(3) {
		case 0:
			s.proto = packet.ProtoTCP
		case 1:
			s.proto = packet.ProtoUDP
		default:
			s.proto = packet.ProtoSCTP
		}
		newAddr, newPort := randAddr(v6), uint16(r.Uint32())
		f := s.bytes()
		p := decode(t, f)
		want := s
		if i%4 < 2 {
			NATIn(f, &p, addr16(newAddr), newPort)
			want.dst, want.dport = newAddr, newPort
		} else {
			NATOut(f, &p, addr16(newAddr), newPort)
			want.src, want.sport = newAddr, newPort
		}
		equalBytes(t, "rewritten frame vs. built from scratch", f, want.bytes())
		if t.Failed() {
			t.Fatalf("case %d: %+v → %s:%d", i, s, newAddr, newPort)
		}
	}
}

// checkNATInDecTTL runs NATInDecTTL on f and checks it against the two
// steps it fuses (NATIn, then DecTTL) on a copy: when it declines, f and q
// must be unchanged; when it accepts, the frames and Parsed must be equal.
func checkNATInDecTTL(t testing.TB, f []byte, q *packet.Parsed, addr [16]byte, port uint16) bool {
	t.Helper()
	two, q2 := bytes.Clone(f), *q
	ok := NATInDecTTL(f, q, &addr, port)
	if !ok {
		if !bytes.Equal(f, two) || *q != q2 {
			t.Errorf("NATInDecTTL declined but changed the packet")
		}
		return false
	}
	NATIn(two, &q2, addr, port)
	if !DecTTL(two, &q2) {
		t.Errorf("NATInDecTTL accepted a packet DecTTL refuses")
	}
	if !bytes.Equal(f, two) {
		t.Errorf("NATInDecTTL\n% x\nNATIn+DecTTL\n% x", f, two)
	}
	if *q != q2 {
		t.Errorf("NATInDecTTL Parsed %+v, NATIn+DecTTL %+v", *q, q2)
	}
	return true
}

// TestNATInDecTTL: the fused rewrite takes exactly the whole IPv4 TCP
// segments with TTL > 1 and gives the same bytes as NATIn then DecTTL.
func TestNATInDecTTL(t *testing.T) {
	for _, tc := range natCases {
		for _, ttl := range []uint8{0, 1, 2, 64, 255} {
			for _, frag := range []bool{false, true} {
				s := tc.in
				s.ttl, s.mf = ttl, frag
				t.Run(fmt.Sprintf("%s/ttl%d/mf=%v", tc.name, ttl, frag), func(t *testing.T) {
					f := s.bytes()
					p := decode(t, f)
					want := !p.V6 && p.Proto == packet.ProtoTCP && ttl > 1 && !frag
					if got := checkNATInDecTTL(t, f, &p, addr16(tc.rip), rport); got != want {
						t.Fatalf("NATInDecTTL = %v, want %v", got, want)
					}
					if want {
						checkParsed(t, f, &p)
						verifyChecksums(t, f)
					}
				})
			}
		}
	}
}
