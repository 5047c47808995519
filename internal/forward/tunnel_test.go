package forward

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// Tunnel endpoints: the director and a real server, in both families.
const (
	dir4, server4 = "172.16.0.1", "172.16.0.2"
	dir6, server6 = "fd00:1::1", "fd00:1::2"
)

func outer(v6 bool, id uint16, pmtu bool) Outer {
	if v6 {
		return Outer{V6: true, Src: addr16(dir6), Dst: addr16(server6), ID: id, PMTUDisc: pmtu}
	}
	return Outer{Src: addr16(dir4), Dst: addr16(server4), ID: id, PMTUDisc: pmtu}
}

type encapCase struct {
	name    string
	in      spec
	o       Outer
	gue     bool
	csum    bool  // GUE: csum argument
	wantDF  bool  // outer IPv4 DF
	wantTOS uint8 // outer TOS / traffic class
	pad     int   // Ethernet padding after the IP packet
}

var encapCases = []encapCase{
	{name: "ipip-4in4-df-pmtu", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, payload: http}, o: outer(false, 0x1234, true), wantDF: true},
	{name: "ipip-4in4-df-no-pmtu", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, payload: http}, o: outer(false, 0x1234, false)},
	{name: "ipip-4in4-no-df-pmtu", in: spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 63, payload: http}, o: outer(false, 1, true)},
	{name: "ipip-4in4-vlan", in: spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, payload: http}, o: outer(false, 2, true), wantDF: true},
	{name: "ipip-4in4-ecn-ce", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, tos: 0xb8 | 3}, o: outer(false, 3, true), wantTOS: 0xb8 | 2},
	{name: "ipip-4in4-ecn-ect1", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, tos: 0x28 | 1}, o: outer(false, 3, true), wantTOS: 0x28 | 1},
	{name: "ipip-4in4-padded", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, tcpFlags: packet.TCPSyn}, o: outer(false, 4, true), pad: 6},
	{name: "ipip-6in4-pmtu", in: spec{src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, tos: 0x2b, payload: http}, o: outer(false, 5, true), wantDF: true, wantTOS: 0x2a},
	{name: "ipip-6in4-no-pmtu", in: spec{src: client6, dst: vip6, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 63}, o: outer(false, 5, false)},
	{name: "ipip-4in6", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 17, df: true, tos: 0x01, payload: http}, o: outer(true, 0, true), wantTOS: 0x01},
	{name: "ipip-6in6-vlan", in: spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 63, tos: 0xbb, payload: http}, o: outer(true, 0, true), wantTOS: 0xba},
	{name: "gue-4in4-nocsum", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, payload: http}, o: outer(false, 7, true), gue: true, wantDF: true},
	{name: "gue-4in4-csum", in: spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, payload: http}, o: outer(false, 8, true), gue: true, csum: true},
	{name: "gue-6in4-vlan-csum", in: spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 63, payload: http}, o: outer(false, 9, false), gue: true, csum: true},
	{name: "gue-4in6-nocsum-computed", in: spec{src: client4, dst: vip4, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 63, tos: 3}, o: outer(true, 0, true), gue: true, wantTOS: 2},
	{name: "gue-6in6-csum-padded", in: spec{src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 1, tcpFlags: packet.TCPSyn}, o: outer(true, 0, true), gue: true, csum: true, pad: 2},
}

// want builds the frame EncapIPIP / EncapGUE must produce.
func (tc *encapCase) want(srcPort uint16) []byte {
	fr := tc.in.frame()
	if tc.o.V6 {
		fr.OuterIPv6 = &packet.IPv6Fields{TrafficClass: tc.wantTOS, HopLimit: tc.in.ttl,
			Src: netip.AddrFrom16(tc.o.Src), Dst: netip.AddrFrom16(tc.o.Dst)}
	} else {
		fr.OuterIPv4 = &packet.IPv4Fields{TOS: tc.wantTOS, ID: tc.o.ID, DF: tc.wantDF, TTL: tc.in.ttl,
			Src: netip.AddrFrom16(tc.o.Src).Unmap(), Dst: netip.AddrFrom16(tc.o.Dst).Unmap()}
	}
	if tc.gue {
		// Over IPv6 the checksum is always computed (see EncapGUE).
		fr.OuterUDP = &packet.UDPFields{SrcPort: srcPort, DstPort: gueTestPort, NoChecksum: !tc.csum && !tc.o.V6}
		fr.GUE = &packet.GUEFields{}
	}
	return packet.AppendFrame(nil, fr)
}

func TestEncap(t *testing.T) {
	for _, tc := range encapCases {
		t.Run(tc.name, func(t *testing.T) {
			orig := append(tc.in.bytes(), make([]byte, tc.pad)...)
			buf, off, n := withHeadroom(orig)
			p := decode(t, buf[off:off+n])
			saved := p
			var newOff, newLen int
			var ok bool
			srcPort := FlowPort(&p)
			if tc.gue {
				newOff, newLen, ok = EncapGUE(buf, off, n, &p, tc.o, srcPort, gueTestPort, tc.csum)
			} else {
				newOff, newLen, ok = EncapIPIP(buf, off, n, &p, tc.o)
			}
			if !ok {
				t.Fatal("encapsulation refused")
			}
			if p != saved {
				t.Errorf("Parsed changed:\nhave %+v\nwant %+v", p, saved)
			}
			if want := off - TunnelOverhead(tc.o.V6, tc.gue); newOff != want {
				t.Errorf("newOff %d, want %d", newOff, want)
			}
			out := buf[newOff : newOff+newLen]
			equalBytes(t, "frame", out, tc.want(srcPort))

			// The inner packet did not move: p still describes it.
			l3, end := int(p.L3Off), int(p.Len)
			equalBytes(t, "inner packet", buf[off+l3:off+end], orig[l3:end])

			// packet.Decode sees the outer header, DecodeIP the inner packet.
			op := decode(t, out)
			wantProto := packet.ProtoIPIP
			switch {
			case tc.gue:
				wantProto = packet.ProtoUDP
			case p.V6:
				wantProto = packet.ProtoIPv6
			}
			if op.V6 != tc.o.V6 || op.Proto != wantProto || op.Src != tc.o.Src || op.Dst != tc.o.Dst || op.TTL != p.TTL || op.TOS != tc.wantTOS {
				t.Errorf("outer header decodes as %+v", op)
			}
			if tc.gue && (op.SrcPort != srcPort || op.DstPort != gueTestPort) {
				t.Errorf("outer UDP ports %d → %d", op.SrcPort, op.DstPort)
			}
			var ip packet.Parsed
			if r := packet.DecodeIP(buf[off:off+end], l3, &ip); r != packet.OK {
				t.Fatalf("inner packet: DecodeIP %v", r)
			}
			if ip.Src != p.Src || ip.Dst != p.Dst || ip.SrcPort != p.SrcPort || ip.DstPort != p.DstPort || ip.Proto != p.Proto || ip.Len != p.Len || ip.L4Off != p.L4Off {
				t.Errorf("inner packet decodes as %+v, want %+v", ip, p)
			}

			// gopacket: outer IPv4 header, (GUE's UDP) and the inner
			// packet's checksums.
			min := 1
			if !tc.o.V6 {
				min++
			}
			if got := verifyChecksums(t, out); got < min {
				t.Errorf("gopacket verified %d checksums, want at least %d", got, min)
			}
			if !tc.gue {
				pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
				nets := 0
				for _, l := range pkt.Layers() {
					if _, ok := l.(gopacket.NetworkLayer); ok {
						nets++
					}
				}
				if nets != 2 {
					t.Errorf("gopacket sees %d IP layers, want 2 (outer and inner)", nets)
				}
			}
		})
	}
}

func TestEncapRefused(t *testing.T) {
	in := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, payload: http}
	frame := in.bytes()
	for _, tc := range []struct {
		name     string
		headroom int
		v6, gue  bool
	}{
		{"ipip4-19", 19, false, false},
		{"ipip6-39", 39, true, false},
		{"gue4-31", 31, false, true},
		{"gue6-51", 51, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, tc.headroom+len(frame))
			copy(buf[tc.headroom:], frame)
			before := bytes.Clone(buf)
			p := decode(t, buf[tc.headroom:])
			var ok bool
			if tc.gue {
				_, _, ok = EncapGUE(buf, tc.headroom, len(frame), &p, outer(tc.v6, 1, true), 40000, gueTestPort, true)
			} else {
				_, _, ok = EncapIPIP(buf, tc.headroom, len(frame), &p, outer(tc.v6, 1, true))
			}
			if ok {
				t.Fatal("encapsulated without enough headroom")
			}
			equalBytes(t, "buffer", buf, before)
		})
	}

	// An outer IPv4 total length beyond 65535.
	t.Run("too-long", func(t *testing.T) {
		big := in
		big.payload = make([]byte, 0xffff-14-20-20) // the largest frame Decode accepts
		buf, off, n := big.buf()
		p := decode(t, buf[off:off+n])
		if _, _, ok := EncapIPIP(buf, off, n, &p, outer(false, 1, true)); ok {
			t.Error("IPv4 outer header with a total length beyond 65535")
		}
		if _, _, ok := EncapIPIP(buf, off, n, &p, outer(true, 1, true)); !ok {
			t.Error("IPv6 outer header refused for a 65535-byte inner packet")
		}
	})
}

func TestTunnelOverhead(t *testing.T) {
	for _, tc := range []struct {
		v6, gue bool
		want    int
	}{{false, false, 20}, {true, false, 40}, {false, true, 32}, {true, true, 52}} {
		if got := TunnelOverhead(tc.v6, tc.gue); got != tc.want {
			t.Errorf("TunnelOverhead(v6 %v, gue %v) = %d, want %d", tc.v6, tc.gue, got, tc.want)
		}
		if TunnelOverhead(tc.v6, tc.gue) > link.Headroom {
			t.Errorf("link.Headroom %d is smaller than the tunnel overhead", link.Headroom)
		}
	}
}

func TestFlowPort(t *testing.T) {
	seen := map[uint16]bool{}
	for i := range 1000 {
		s := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: uint16(10000 + i), dport: vport, ttl: 64}
		if i%2 == 1 {
			s.src, s.dst = client6, vip6
		}
		f := s.bytes()
		p := decode(t, f)
		port := FlowPort(&p)
		if port < 32768 || port >= 60999 {
			t.Fatalf("FlowPort %d outside [32768, 60999)", port)
		}
		if FlowPort(&p) != port {
			t.Fatal("FlowPort not deterministic")
		}
		seen[port] = true
	}
	// 1000 flows into 28231 ports: a fair hash leaves about 17 collisions.
	if len(seen) < 950 {
		t.Errorf("1000 flows got only %d distinct ports", len(seen))
	}

	// All fragments of one datagram share a port.
	first := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 64, mf: true, id: 9, payload: http}
	rest := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, fragOff: 1480, id: 9, ttl: 64, payload: http}
	pf, pr := decode(t, first.bytes()), decode(t, rest.bytes())
	if FlowPort(&pf) != FlowPort(&pr) {
		t.Errorf("first fragment → %d, later fragment → %d", FlowPort(&pf), FlowPort(&pr))
	}
	// Different ports of unfragmented packets do matter.
	a := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 64}
	b := a
	b.sport++
	pa, pb := decode(t, a.bytes()), decode(t, b.bytes())
	if FlowPort(&pa) == FlowPort(&pb) {
		t.Error("neighbouring source ports hash to the same GUE port")
	}
}

func TestEncapDS(t *testing.T) {
	for in, want := range map[uint8]uint8{0x00: 0x00, 0x01: 0x01, 0x02: 0x02, 0x03: 0x02, 0xb8: 0xb8, 0xbb: 0xba, 0xfd: 0xfd, 0xff: 0xfe} {
		if got := encapDS(in); got != want {
			t.Errorf("encapDS(%#02x) = %#02x, want %#02x", in, got, want)
		}
	}
}

// TestEncapGUEChecksumZero checks that a computed UDP checksum of 0 goes
// out as 0xFFFF.
func TestEncapGUEChecksumZero(t *testing.T) {
	in := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 64, udpNoCsum: true, payload: make([]byte, 8)}
	o := outer(false, 1, true)
	buf, off, n := in.buf()
	p := decode(t, buf[off:off+n])
	newOff, newLen, ok := EncapGUE(buf, off, n, &p, o, 0, gueTestPort, true)
	if !ok {
		t.Fatal("refused")
	}
	out := buf[newOff : newOff+newLen]
	c := binary.BigEndian.Uint16(out[14+20+6:])
	// With source port 0 the checksum is c = ^sum; source port c brings
	// the sum to sum + ^sum = 0xFFFF, and the checksum to 0.
	port := c
	buf, off, n = in.buf()
	p = decode(t, buf[off:off+n])
	newOff, newLen, _ = EncapGUE(buf, off, n, &p, o, port, gueTestPort, true)
	out = buf[newOff : newOff+newLen]
	if got := binary.BigEndian.Uint16(out[14+20+6:]); got != 0xffff {
		t.Errorf("checksum %#04x, want 0xffff", got)
	}
	verifyChecksums(t, out)
}
