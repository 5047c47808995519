package forward

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

const (
	dirTun4   = "10.0.0.1"     // the director: source of its tunnel packets
	routerTun = "10.0.0.254"   // a router between the director and the real server
	vlanTag   = uint16(0x2064) // spec's VLAN
)

// tunnelPacket is the IPv4 packet the director sent to rip4: an outer IPv4
// header (identification 0x0bad, DF, protocol 4 or, with gue, 17), for
// GUE a UDP header (checksum 0) and a GUE header with hlen words of
// options, and the client's packet inner. Built here byte by byte.
func tunnelPacket(inner []byte, gue bool, hlen int) []byte {
	var encap []byte
	proto := uint8(4)
	if gue {
		proto = 17
		encap = make([]byte, 8+4+4*hlen)
		binary.BigEndian.PutUint16(encap[0:], 50000)
		binary.BigEndian.PutUint16(encap[2:], gueTestPort)
		binary.BigEndian.PutUint16(encap[4:], uint16(len(encap)+len(inner)))
		encap[8] = uint8(hlen)
		encap[9] = 4
	}
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(encap)+len(inner)))
	binary.BigEndian.PutUint16(h[4:], 0x0bad)
	h[6], h[8], h[9] = 0x40, 63, proto
	src, dst := netip.MustParseAddr(dirTun4).As4(), netip.MustParseAddr(rip4).As4()
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(s))
	return append(append(h, encap...), inner...)
}

// tunnelErrorFrame is the ICMP error a router sends the director about
// tunnel packet tun, quoting its first quote bytes.
func tunnelErrorFrame(vlan bool, typ, code uint8, rest uint32, tun []byte, quote int) []byte {
	return packet.AppendFrame(nil, &packet.Frame{
		Ethernet: packet.EthernetFields{Dst: macDirector, Src: macServer, HasVLAN: vlan, VLAN: vlanTag},
		IPv4:     &packet.IPv4Fields{TTL: 64, ID: 77, Src: netip.MustParseAddr(routerTun), Dst: netip.MustParseAddr(dirTun4)},
		ICMP:     &packet.ICMPFields{Type: typ, Code: code, Rest: rest},
		Payload:  tun[:min(quote, len(tun))],
	})
}

// decodeTunnelError decodes the error frame, its quoted tunnel packet and
// the client's packet inside (offsets relative to the frame).
func decodeTunnelError(t *testing.T, frame []byte, gue bool) (p, q packet.Parsed) {
	t.Helper()
	p = decode(t, frame)
	var o packet.Parsed
	if r := packet.DecodeEmbedded(frame[:p.Len], int(p.PayOff), &o); r != packet.OK {
		t.Fatalf("quoted tunnel packet: %v", r)
	}
	off := int(o.L4Off)
	if gue {
		off = int(o.PayOff) + packet.GUE(frame[o.PayOff:o.Len]).HeaderLen()
	}
	if r := packet.DecodeEmbedded(frame[:o.Len], off, &q); r != packet.OK {
		t.Fatalf("quoted client packet: %v", r)
	}
	return p, q
}

// TestQuotedError: the client gets, from the VIP, the error about its own
// packet as the tunnel error quoted it (IPIP and GUE, with and without
// GUE options and VLAN, a long quote as Linux routers send and the
// shortest one that still has the ports), byte for byte against a frame
// built with packet.AppendFrame, its checksums verified by gopacket.
func TestQuotedError(t *testing.T) {
	big := make([]byte, 1400)
	for i := range big {
		big[i] = byte(i)
	}
	client := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, id: 0x1234, tos: 0x2b, tcpFlags: packet.TCPAck, payload: big}
	for _, tc := range []struct {
		gue, vlan bool
		hlen      int
		typ, code uint8
		rest      uint32
		quote     int // bytes of the tunnel packet the router quotes; 0: up to the client's ports
	}{
		{typ: 3, code: 4, rest: 1380, quote: 548},
		{typ: 3, code: 4, rest: 1380, vlan: true, quote: 548},
		{typ: 11, code: 0, quote: 548},
		{typ: 3, code: 1},
		{gue: true, typ: 3, code: 4, rest: 1368, quote: 548},
		{gue: true, hlen: 2, typ: 4, code: 0, quote: 548, vlan: true},
		{gue: true, typ: 11, code: 1},
	} {
		t.Run(fmt.Sprintf("gue=%v/hlen=%d/vlan=%v/type=%d/code=%d/quote=%d", tc.gue, tc.hlen, tc.vlan, tc.typ, tc.code, tc.quote), func(t *testing.T) {
			inner := client.bytes()[14:]
			tun := tunnelPacket(inner, tc.gue, tc.hlen)
			encap := len(tun) - len(inner)
			quote := tc.quote
			if quote == 0 {
				quote = encap + 20 + 8
			}
			frame := tunnelErrorFrame(tc.vlan, tc.typ, tc.code, 999, tun, quote)
			buf, off, n := withHeadroom(frame)
			p, q := decodeTunnelError(t, buf[off:off+n], tc.gue)
			newOff, newLen, ok := QuotedError(buf, off, n, &p, &q, addr16(vip4), tc.typ, tc.code, tc.rest)
			if !ok {
				t.Fatal("refused")
			}
			want := packet.AppendFrame(nil, &packet.Frame{
				Ethernet: packet.EthernetFields{Dst: macServer, Src: macDirector, HasVLAN: tc.vlan, VLAN: vlanTag},
				IPv4:     &packet.IPv4Fields{TOS: 0xc0 | client.tos&0x1e, ID: client.id, TTL: 64, Src: netip.MustParseAddr(vip4), Dst: netip.MustParseAddr(client4)},
				ICMP:     &packet.ICMPFields{Type: tc.typ, Code: tc.code, Rest: tc.rest},
				Payload:  inner[:quote-encap],
			})
			out := buf[newOff : newOff+newLen]
			equalBytes(t, "error frame", out, want)
			if got := verifyChecksums(t, out); got < 2 {
				t.Errorf("gopacket verified %d checksums, want the IPv4 header's and the ICMP one", got)
			}
		})
	}
}

// TestQuotedErrorRefused: nothing is written, and no error made, about a
// client packet no error may be sent about, or with offsets that do not
// describe a quote inside an ICMP error.
func TestQuotedErrorRefused(t *testing.T) {
	client := spec{src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: 7777, ttl: 63, payload: http}
	with := func(f func(*spec)) spec { s := client; f(&s); return s }
	for _, tc := range []struct {
		name   string
		client spec
		mangle func(p, q *packet.Parsed)
	}{
		{"src-multicast", with(func(s *spec) { s.src = "224.0.0.9" }), nil},
		{"src-zero", with(func(s *spec) { s.src = "0.0.0.0" }), nil},
		{"dst-broadcast", with(func(s *spec) { s.dst = "255.255.255.255" }), nil},
		{"non-first-fragment", with(func(s *spec) { s.fragOff = 1480 }), nil},
		{"icmp-error", spec{src: client4, dst: vip4, proto: packet.ProtoICMP, icmpType: 3, icmpCode: 3, ttl: 63, payload: make([]byte, 28)}, nil},
		{"quote-inside-icmp-header", client, func(p, q *packet.Parsed) {
			d := q.L3Off - (p.L3Off + 27)
			q.L3Off, q.L4Off, q.PayOff = q.L3Off-d, q.L4Off-d, q.PayOff-d
		}},
		{"quote-past-frame", client, func(p, q *packet.Parsed) { q.Len = p.Len + 1 }},
		{"empty-quote", client, func(p, q *packet.Parsed) { q.Len, q.L4Off, q.PayOff = q.L3Off, q.L3Off, q.L3Off }},
		{"no-ethernet", client, func(p, q *packet.Parsed) { p.L3Off = 13 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tun := tunnelPacket(tc.client.bytes()[14:], false, 0)
			buf, off, n := withHeadroom(tunnelErrorFrame(false, 3, 4, 1400, tun, 548))
			p, q := decodeTunnelError(t, buf[off:off+n], false)
			if tc.mangle != nil {
				tc.mangle(&p, &q)
			}
			before := bytes.Clone(buf)
			if _, _, ok := QuotedError(buf, off, n, &p, &q, addr16(vip4), 3, 4, 1380); ok {
				t.Fatal("error sent")
			}
			equalBytes(t, "buffer", buf, before)
		})
	}
}

// TestQuotedErrorAllocatesNothing: the builder is on the packet path.
func TestQuotedErrorAllocatesNothing(t *testing.T) {
	client := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 63, df: true, payload: http}
	frame := tunnelErrorFrame(false, 3, 4, 1400, tunnelPacket(client.bytes()[14:], true, 0), 548)
	buf, off, n := withHeadroom(frame)
	p, q := decodeTunnelError(t, buf[off:off+n], true)
	from := addr16(vip4)
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf[off:], frame)
		if _, _, ok := QuotedError(buf, off, n, &p, &q, from, 3, 4, 1368); !ok {
			t.Fatal("refused")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
