package director

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
)

// The ICMP tests run on a director with two ports: port 0 towards the
// clients (dirMAC, dir4/dir6), port 1 towards the real servers (dirMAC1,
// dirS4/dirS6), so that egress ports, source MACs and tunnel sources show
// which side a frame left by. Expected frames are built here from scratch,
// with a checksum written here, independent of internal/packet.

var (
	dirMAC1 = [6]byte{0x02, 0, 0, 0, 0, 0xd2}
	dirS4   = netip.MustParseAddr("10.1.0.254")
	dirS6   = netip.MustParseAddr("2001:db8:1::fe")
	router4 = netip.MustParseAddr("198.51.100.1")
	router6 = netip.MustParseAddr("2001:db8:f::1")
	rsNet4  = netip.MustParsePrefix("10.1.0.0/24")
	rsNet6  = netip.MustParsePrefix("2001:db8:1::/64")
)

// sidedNeighbors resolves real servers to port 1, everything else to 0.
type sidedNeighbors struct{ staticNeighbors }

func (s sidedNeighbors) Resolve(v6 bool, a [16]byte) ([6]byte, uint16, bool) {
	m, _, ok := s.staticNeighbors.Resolve(v6, a)
	addr := netip.AddrFrom16(a).Unmap()
	if rsNet4.Contains(addr) || rsNet6.Contains(addr) {
		return m, 1, ok
	}
	return m, 0, ok
}

func newICMPEngine(t testing.TB, mtu0, mtu1 int) *testEngine {
	t.Helper()
	neigh := staticNeighbors{cip4: clientMAC, cip6: clientMAC}
	e, err := New(Config{Ports: []Port{
		{MAC: dirMAC, Addr4: dir4, Addr6: dir6, MTU: mtu0},
		{MAC: dirMAC1, Addr4: dirS4, Addr6: dirS6, MTU: mtu1},
	}, Neighbors: sidedNeighbors{neigh}, TableBits: 12})
	if err != nil {
		t.Fatal(err)
	}
	return &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: clock.Seconds(1000)}
}

// sendOn runs one frame that came in on port through the worker.
func (te *testEngine) sendOn(frame []byte, port uint16) link.Frame {
	te.t.Helper()
	buf := make([]byte, link.Headroom+len(frame)+64)
	copy(buf[link.Headroom:], frame)
	fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(frame), Port: port}}
	te.w.Process(fr, te.now)
	return fr[0]
}

// icmpSetup adds TCP service VIP:80 with one real server of method m
// (NAT: port 8080) and opens the connection client:1234 → VIP:80.
func (te *testEngine) icmpSetup(fam family, m service.Method) (k service.Key, rip netip.Addr, rport uint16) {
	te.t.Helper()
	k = service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip, rport = fam.rip(1), 80
	if m == service.Masq {
		rport = 8080
	}
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: rport, Weight: 1, Method: m, TunType: service.TunIPIP})
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, 80), packet.TCPSyn, "")); out.Action != link.Tx || out.Port != 1 {
		te.t.Fatalf("SYN: action %v port %d", out.Action, out.Port)
	}
	return k, rip, rport
}

// --- From-scratch building and checking ---

func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func pseudo6(src, dst netip.Addr, l int, proto uint8) uint32 {
	a, b := src.As16(), dst.As16()
	return sum16(a[:]) + sum16(b[:]) + uint32(l>>16) + uint32(l&0xffff) + uint32(proto)
}

// ipSpec is an IP header to build.
type ipSpec struct {
	src, dst netip.Addr
	proto    uint8
	ttl, tos uint8
	id       uint16
	df       bool
}

func (s ipSpec) hdr(payloadLen int) []byte {
	if s.src.Is6() {
		h := make([]byte, 40)
		binary.BigEndian.PutUint32(h, 6<<28|uint32(s.tos)<<20)
		binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
		h[6], h[7] = s.proto, s.ttl
		a, b := s.src.As16(), s.dst.As16()
		copy(h[8:], a[:])
		copy(h[24:], b[:])
		return h
	}
	h := make([]byte, 20)
	h[0], h[1] = 0x45, s.tos
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	binary.BigEndian.PutUint16(h[4:], s.id)
	if s.df {
		h[6] = 0x40
	}
	h[8], h[9] = s.ttl, s.proto
	a, b := s.src.As4(), s.dst.As4()
	copy(h[12:], a[:])
	copy(h[16:], b[:])
	binary.BigEndian.PutUint16(h[10:], ^fold(sum16(h)))
	return h
}

func ethHdr(dst, src [6]byte, v6 bool) []byte {
	h := append(append(append([]byte{}, dst[:]...), src[:]...), 0x08, 0x00)
	if v6 {
		h[12], h[13] = 0x86, 0xdd
	}
	return h
}

func icmpProto(v6 bool) uint8 {
	if v6 {
		return 58
	}
	return 1
}

// icmpMsg builds an ICMP / ICMPv6 message with its checksum.
func icmpMsg(src, dst netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	m := make([]byte, 8, 8+len(body))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	m = append(m, body...)
	var s uint32
	if src.Is6() {
		s = pseudo6(src, dst, len(m), 58)
	}
	binary.BigEndian.PutUint16(m[2:], ^fold(s+sum16(m)))
	return m
}

// icmpFrame is a whole frame carrying an ICMP error from src to dst.
func icmpFrame(dstMAC, srcMAC [6]byte, ip ipSpec, typ, code uint8, rest uint32, quote []byte) []byte {
	ip.proto = icmpProto(ip.src.Is6())
	m := icmpMsg(ip.src, ip.dst, typ, code, rest, quote)
	return append(append(ethHdr(dstMAC, srcMAC, ip.src.Is6()), ip.hdr(len(m))...), m...)
}

// rewriteQuote returns a copy of the IP packet q with its source (or, dst,
// its destination) address and port replaced and, for IPv4, the header
// checksum recomputed; the transport checksum is left as it was.
func rewriteQuote(q []byte, dst bool, a netip.Addr, port uint16) []byte {
	q = append([]byte{}, q...)
	if a.Is6() {
		off, poff := 8, 40
		if dst {
			off, poff = 24, 42
		}
		b := a.As16()
		copy(q[off:], b[:])
		binary.BigEndian.PutUint16(q[poff:], port)
		return q
	}
	off, poff := 12, 20
	if dst {
		off, poff = 16, 22
	}
	b := a.As4()
	copy(q[off:], b[:])
	binary.BigEndian.PutUint16(q[poff:], port)
	refreshIPv4(q)
	return q
}

func refreshIPv4(q []byte) {
	q[10], q[11] = 0, 0
	binary.BigEndian.PutUint16(q[10:], ^fold(sum16(q[:20])))
}

// decTTL returns a copy of IP packet q with TTL / hop limit one less.
func decTTL(q []byte) []byte {
	q = append([]byte{}, q...)
	if q[0]>>4 == 6 {
		q[7]--
		return q
	}
	q[8]--
	refreshIPv4(q)
	return q
}

// checkIP verifies the IPv4 header checksum of the IP packet at b (if v4)
// and returns its header length.
func checkIP(t *testing.T, what string, b []byte) int {
	t.Helper()
	if b[0]>>4 == 6 {
		return 40
	}
	if fold(sum16(b[:20])) != 0xffff {
		t.Fatalf("%s: IPv4 header checksum %#04x is wrong", what, binary.BigEndian.Uint16(b[10:]))
	}
	return 20
}

// checkICMP verifies the ICMP checksum of the IP packet b (ICMP with a
// 20- or 40-byte header) and the IPv4 header checksum of the quote.
func checkICMP(t *testing.T, b []byte) {
	t.Helper()
	hl := checkIP(t, "outer", b)
	m := b[hl:]
	var s uint32
	if hl == 40 {
		src, _ := netip.AddrFromSlice(b[8:24])
		dst, _ := netip.AddrFromSlice(b[24:40])
		s = pseudo6(src, dst, len(m), 58)
	}
	if fold(s+sum16(m)) != 0xffff {
		t.Fatalf("ICMP checksum %#04x is wrong", binary.BigEndian.Uint16(m[2:]))
	}
	checkIP(t, "quoted", m[8:])
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: differs at byte %d: got %#02x want %#02x (len %d/%d)\ngot  %x\nwant %x", what, i, got[i], want[i], len(got), len(want), got, want)
		}
	}
	t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
}

type icmpType struct {
	name       string
	typ, code  uint8
	rest       uint32
	shortQuote bool // quote the IP header and 8 bytes only (RFC 792 minimum)
}

var icmpTypes4 = []icmpType{
	{"host-unreachable", 3, 1, 0, true},
	{"frag-needed", 3, 4, 1400, false},
	{"source-quench", 4, 0, 0, true},
	{"time-exceeded", 11, 0, 0, false},
}

var icmpTypes6 = []icmpType{
	{"dest-unreachable", 1, 3, 0, true},
	{"packet-too-big", 2, 0, 1400, false},
	{"time-exceeded", 3, 0, 0, true},
	{"parameter-problem", 4, 0, 40, false},
}

func typesOf(fam family) []icmpType {
	if fam.vip.Is6() {
		return icmpTypes6
	}
	return icmpTypes4
}

func routerOf(fam family) netip.Addr {
	if fam.vip.Is6() {
		return router6
	}
	return router4
}

func dirSOf(fam family) netip.Addr {
	if fam.vip.Is6() {
		return dirS6
	}
	return dirS4
}

// quoteOf returns the IP packet of frame (no Ethernet header), cut to
// the IP header and 8 bytes if short.
func quoteOf(frame []byte, short bool) []byte {
	q := frame[14:]
	if short {
		n := 28
		if q[0]>>4 == 6 {
			n = 48
		}
		q = q[:n]
	}
	return q
}

// TestICMPFromClient: for every related ICMP type and every method, an
// error about a reply the client got reaches the connection's real server:
// NAT rewritten (outer destination, quoted source address and port, every
// checksum), DR as it came (TTL − 1), TUN encapsulated. Checked byte for
// byte against frames built here.
func TestICMPFromClient(t *testing.T) {
	for _, fam := range families {
		for _, m := range []service.Method{service.Masq, service.Route, service.Tunnel} {
			for _, ty := range typesOf(fam) {
				t.Run(fmt.Sprintf("%s/%v/%s", fam.name, m, ty.name), func(t *testing.T) {
					te := newICMPEngine(t, 0, 0)
					k, rip, rport := te.icmpSetup(fam, m)
					// What the client got: VIP:80 → client:1234.
					got := tcpFrame(dirMAC, clientMAC, ap(fam.vip, 80), ap(fam.cip, 1234), packet.TCPSyn|packet.TCPAck, "hello, client")
					quote := quoteOf(got, ty.shortQuote)
					ip := ipSpec{src: routerOf(fam), dst: fam.vip, ttl: 64, id: 0x4242}
					in := icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, ty.rest, quote)
					out := te.sendOn(in, 0)
					if out.Action != link.Tx || out.Port != 1 {
						t.Fatalf("action %v port %d, counters %+v", out.Action, out.Port, te.e.Counters())
					}
					ip.ttl = 63
					var want []byte
					switch m {
					case service.Masq:
						ip.dst = rip
						want = icmpFrame(rsMAC(1), dirMAC1, ip, ty.typ, ty.code, ty.rest, rewriteQuote(quote, false, rip, rport))
					case service.Route:
						want = icmpFrame(rsMAC(1), dirMAC1, ip, ty.typ, ty.code, ty.rest, quote)
					case service.Tunnel:
						inner := icmpFrame(rsMAC(1), dirMAC1, ip, ty.typ, ty.code, ty.rest, quote)[14:]
						proto := uint8(4)
						if fam.vip.Is6() {
							proto = 41
						}
						outer := ipSpec{src: dirSOf(fam), dst: rip, proto: proto, ttl: 63}.hdr(len(inner))
						b := out.Bytes()
						if !fam.vip.Is6() {
							// The identification is the worker's counter:
							// take it, and check the checksum over it.
							copy(outer[4:6], b[18:20])
							refreshIPv4(outer)
						}
						want = append(append(ethHdr(rsMAC(1), dirMAC1, fam.vip.Is6()), outer...), inner...)
						// The encapsulated packet decodes to the ICMP error.
						var p packet.Parsed
						if packet.DecodeIP(b, 14+len(outer), &p) != packet.OK || p.Proto != packet.Proto(icmpProto(fam.vip.Is6())) || p.ICMPType != ty.typ {
							t.Fatalf("inner packet: proto %v type %d", p.Proto, p.ICMPType)
						}
						checkIP(t, "outer", b[14:])
						checkICMP(t, b[14+len(outer):])
					}
					sameBytes(t, "frame", out.Bytes(), want)
					if m != service.Tunnel {
						checkICMP(t, out.Bytes()[14:])
					}
					c := te.e.Counters()
					if c.Events[EventICMPForward] != 1 || c.Drop != 0 {
						t.Fatalf("counters %+v", c)
					}
					if s := te.dest(k, rip, rport).Stats.Sum(); s.InPkts != 2 || s.OutPkts != 0 {
						t.Fatalf("dest stats %+v: want the SYN and the ICMP error in", s)
					}
				})
			}
		}
	}
}

// TestICMPFromNATServer: an error a NAT real server sends about a client's
// packet reaches the client as an error about the packet it sent to the
// VIP (outer source, quoted destination address and port rewritten); for
// DR and TUN the error is counted and left to the host (kernel: accepted).
func TestICMPFromNATServer(t *testing.T) {
	for _, fam := range families {
		for _, ty := range typesOf(fam) {
			t.Run(fam.name+"/"+ty.name, func(t *testing.T) {
				te := newICMPEngine(t, 0, 0)
				k, rip, rport := te.icmpSetup(fam, service.Masq)
				// What the real server got: client:1234 → RIP:8080.
				got := tcpFrame(dirMAC1, rsMAC(1), ap(fam.cip, 1234), ap(rip, rport), packet.TCPAck, "request data")
				quote := quoteOf(got, ty.shortQuote)
				ip := ipSpec{src: rip, dst: fam.cip, ttl: 64, id: 99}
				in := icmpFrame(dirMAC1, rsMAC(1), ip, ty.typ, ty.code, ty.rest, quote)
				out := te.sendOn(in, 1)
				if out.Action != link.Tx || out.Port != 0 {
					t.Fatalf("action %v port %d, counters %+v", out.Action, out.Port, te.e.Counters())
				}
				ip.src, ip.ttl = fam.vip, 63
				want := icmpFrame(clientMAC, dirMAC, ip, ty.typ, ty.code, ty.rest, rewriteQuote(quote, true, fam.vip, 80))
				sameBytes(t, "frame", out.Bytes(), want)
				checkICMP(t, out.Bytes()[14:])
				if c := te.e.Counters(); c.Events[EventICMPReply] != 1 || c.Drop != 0 {
					t.Fatalf("counters %+v", c)
				}
				if s := te.dest(k, rip, rport).Stats.Sum(); s.InPkts != 1 || s.OutPkts != 1 {
					t.Fatalf("dest stats %+v: want the SYN in, the error out", s)
				}
			})
		}
		for _, m := range []service.Method{service.Route, service.Tunnel} {
			t.Run(fam.name+"/"+m.String(), func(t *testing.T) {
				te := newICMPEngine(t, 0, 0)
				k, rip, rport := te.icmpSetup(fam, m)
				// A DR/TUN real server got client:1234 → VIP:80.
				quote := quoteOf(tcpFrame(dirMAC1, rsMAC(1), ap(fam.cip, 1234), ap(fam.vip, 80), packet.TCPAck, "x"), true)
				ty := typesOf(fam)[0]
				in := icmpFrame(dirMAC1, rsMAC(1), ipSpec{src: rip, dst: fam.cip, ttl: 64}, ty.typ, ty.code, 0, quote)
				out := te.sendOn(in, 1)
				if out.Action != link.Pass || !bytes.Equal(out.Bytes(), in) {
					t.Fatalf("action %v (changed %v)", out.Action, !bytes.Equal(out.Bytes(), in))
				}
				if c := te.e.Counters(); c.Events[EventICMPOutPass] != 1 {
					t.Fatalf("counters %+v", c)
				}
				if s := te.dest(k, rip, rport).Stats.Sum(); s.OutPkts != 1 {
					t.Fatalf("dest stats %+v: want the error out", s)
				}
			})
		}
	}
}

// TestICMPRefused: bad checksums are dropped (both directions), quotes
// without ports dropped as icmp_truncated, errors about no connection and
// informational ICMP passed to the host, and no_icmp_forward passes the
// errors of connections unchanged. Each case counts where it should.
func TestICMPRefused(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newICMPEngine(t, 0, 0)
			_, rip, rport := te.icmpSetup(fam, service.Masq)
			ty := typesOf(fam)[0]
			ip := ipSpec{src: routerOf(fam), dst: fam.vip, ttl: 64}
			reply := tcpFrame(dirMAC, clientMAC, ap(fam.vip, 80), ap(fam.cip, 1234), packet.TCPAck, "")
			good := icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, quoteOf(reply, true))
			l4 := 14 + 20
			if fam.vip.Is6() {
				l4 = 14 + 40
			}
			type verdict struct {
				action link.Action
				reason Reason
				event  Event
			}
			check := func(name string, frame []byte, port uint16, want verdict) {
				t.Helper()
				before := te.e.Counters()
				out := te.sendOn(frame, port)
				after := te.e.Counters()
				if out.Action != want.action {
					t.Fatalf("%s: action %v, want %v", name, out.Action, want.action)
				}
				if want.action == link.Drop && after.Drops[want.reason] != before.Drops[want.reason]+1 {
					t.Fatalf("%s: not counted as %v", name, want.reason)
				}
				if want.action == link.Pass {
					if after.Events[want.event] != before.Events[want.event]+1 {
						t.Fatalf("%s: not counted as %v", name, want.event)
					}
					if !bytes.Equal(out.Bytes(), frame) {
						t.Fatalf("%s: passed frame changed", name)
					}
				}
			}

			bad := append([]byte{}, good...)
			bad[l4+2] ^= 0x40
			check("bad checksum", bad, 0, verdict{action: link.Drop, reason: ReasonICMPBadChecksum})
			badBody := append([]byte{}, good...)
			badBody[len(badBody)-1] ^= 1 // a quoted byte, checksum not fixed
			check("bad checksum (body)", badBody, 0, verdict{action: link.Drop, reason: ReasonICMPBadChecksum})

			server := tcpFrame(dirMAC1, rsMAC(1), ap(fam.cip, 1234), ap(rip, rport), packet.TCPAck, "")
			out := icmpFrame(dirMAC1, rsMAC(1), ipSpec{src: rip, dst: fam.cip, ttl: 64}, ty.typ, ty.code, 0, quoteOf(server, true))
			out[l4+3] ^= 0x01
			check("bad checksum from server", out, 1, verdict{action: link.Drop, reason: ReasonICMPBadChecksum})

			q := quoteOf(reply, true)
			check("quote with 4 bytes of TCP", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, q[:len(q)-4]), 0,
				verdict{action: link.Drop, reason: ReasonICMPTruncated})
			check("quote with half an IP header", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, q[:10]), 0,
				verdict{action: link.Drop, reason: ReasonICMPTruncated})
			check("empty quote", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, nil), 0,
				verdict{action: link.Drop, reason: ReasonICMPTruncated})

			ttl1 := ip
			ttl1.ttl = 1
			check("ttl 1 (never an error about an error)", icmpFrame(dirMAC, clientMAC, ttl1, ty.typ, ty.code, 0, quoteOf(reply, true)), 0,
				verdict{action: link.Drop, reason: ReasonTTL})

			other := tcpFrame(dirMAC, clientMAC, ap(fam.vip, 80), ap(fam.cip, 4321), packet.TCPAck, "")
			check("no such connection of a service", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, quoteOf(other, true)), 0,
				verdict{action: link.Drop, reason: ReasonICMPErrorNoConn})
			// About the host's own traffic (not from a virtual service):
			// the host's business.
			own := tcpFrame(dirMAC, clientMAC, ap(fam.vip, 22), ap(fam.cip, 4321), packet.TCPAck, "")
			check("about the host's own traffic", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, quoteOf(own, true)), 0,
				verdict{action: link.Pass, event: EventICMPUnrelated})
			ping := packet.AppendFrame(nil, &packet.Frame{
				Ethernet: packet.EthernetFields{Src: dirMAC, Dst: clientMAC},
				IPv4:     v4Fields(fam, fam.vip, fam.cip),
				IPv6:     v6Fields(fam, fam.vip, fam.cip),
				ICMP:     &packet.ICMPFields{Type: echoType(fam), Rest: 0x10001},
				Payload:  []byte("ping"),
			})
			check("about a ping", icmpFrame(dirMAC, clientMAC, ip, ty.typ, ty.code, 0, quoteOf(ping, false)), 0,
				verdict{action: link.Pass, event: EventICMPUnrelated})
			echo := packet.AppendFrame(nil, &packet.Frame{
				Ethernet: packet.EthernetFields{Src: clientMAC, Dst: dirMAC},
				IPv4:     v4Fields(fam, fam.cip, fam.vip),
				IPv6:     v6Fields(fam, fam.cip, fam.vip),
				ICMP:     &packet.ICMPFields{Type: echoType(fam), Rest: 0x10001},
				Payload:  []byte("ping"),
			})
			check("echo request", echo, 0, verdict{action: link.Pass, event: EventPassNoService})

			te.tune(func(tu *Tunables) { tu.NoICMPForward = true })
			check("no_icmp_forward", good, 0, verdict{action: link.Pass, event: EventICMPNoForward})
			server = icmpFrame(dirMAC1, rsMAC(1), ipSpec{src: rip, dst: fam.cip, ttl: 64}, ty.typ, ty.code, 0, quoteOf(server, true))
			check("no_icmp_forward from server", server, 1, verdict{action: link.Pass, event: EventICMPNoForward})
			te.tune(func(tu *Tunables) {})
			before := te.e.Counters().Events[EventICMPForward]
			if o := te.sendOn(good, 0); o.Action != link.Tx || te.e.Counters().Events[EventICMPForward] != before+1 {
				t.Fatalf("forwarding back on: action %v", o.Action)
			}
		})
	}
}

func echoType(fam family) uint8 {
	if fam.vip.Is6() {
		return packet.ICMPv6EchoRequest
	}
	return packet.ICMPv4Echo
}

func v4Fields(fam family, src, dst netip.Addr) *packet.IPv4Fields {
	if fam.vip.Is6() {
		return nil
	}
	return &packet.IPv4Fields{TTL: 64, Src: src, Dst: dst}
}

func v6Fields(fam family, src, dst netip.Addr) *packet.IPv6Fields {
	if !fam.vip.Is6() {
		return nil
	}
	return &packet.IPv6Fields{HopLimit: 64, Src: src, Dst: dst}
}

// bigTCP is a client data segment whose IP packet is ipLen bytes.
func bigTCP(fam family, ipLen int, df bool) []byte {
	hdr := 20 + 20
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: clientMAC, Dst: dirMAC},
		TCP:      &packet.TCPFields{SrcPort: 1234, DstPort: 80, Seq: 1, Ack: 1, Flags: packet.TCPAck, Window: 1000},
	}
	if fam.vip.Is6() {
		hdr = 40 + 20
		f.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: fam.cip, Dst: fam.vip}
	} else {
		f.IPv4 = &packet.IPv4Fields{TTL: 64, Src: fam.cip, Dst: fam.vip, ID: 0x77, DF: df, TOS: 0x08}
	}
	f.Payload = bytes.Repeat([]byte{0xab}, ipLen-hdr)
	return packet.AppendFrame(nil, &f)
}

// wantTooBig is the error the director must send about IP packet q (as
// quoted) from src to dst with MTU mtu, out of the port q came in by.
func wantTooBig(dstMAC, srcMAC [6]byte, src, dst netip.Addr, q []byte, mtu uint32) []byte {
	if src.Is6() {
		return icmpFrame(dstMAC, srcMAC, ipSpec{src: src, dst: dst, ttl: 64}, 2, 0, mtu, q[:min(len(q), 1280-48)])
	}
	ip := ipSpec{src: src, dst: dst, ttl: 64, tos: 0xc0 | q[1]&0x1e, id: binary.BigEndian.Uint16(q[4:])}
	return icmpFrame(dstMAC, srcMAC, ip, 3, 4, mtu, q[:min(len(q), 576-28)])
}

// TestTooBig: a DF (IPv4) or any IPv6 packet longer than the egress MTU —
// tunnel header included — is answered with fragmentation needed / packet
// too big carrying that MTU, from the VIP, back out of the ingress port,
// about the client's packet; packets that fit, and IPv4 packets without DF,
// are forwarded.
func TestTooBig(t *testing.T) {
	for _, fam := range families {
		for _, tc := range []struct {
			m       service.Method
			mtu     int
			ipLen   int
			wantMTU uint32 // 0: forwarded
		}{
			{service.Masq, 1400, 1500, 1400},
			{service.Masq, 1400, 1400, 0},
			{service.Route, 1400, 1401, 1400},
			{service.Route, 1500, 1500, 0},
			{service.Tunnel, 1500, 1500, 1480}, // IPIP: 20 bytes (IPv6 outer: 40)
			{service.Tunnel, 1500, 1480, 0},
		} {
			wantMTU, ipLen := tc.wantMTU, tc.ipLen
			if fam.vip.Is6() && tc.m == service.Tunnel {
				wantMTU, ipLen = max(wantMTU, 20)-20, ipLen-20 // 1460, and a packet that fits is 1460
				if tc.wantMTU == 0 {
					wantMTU = 0
				}
			}
			t.Run(fmt.Sprintf("%s/%v/mtu%d/len%d", fam.name, tc.m, tc.mtu, ipLen), func(t *testing.T) {
				te := newICMPEngine(t, 0, tc.mtu)
				te.icmpSetup(fam, tc.m)
				in := bigTCP(fam, ipLen, true)
				out := te.sendOn(in, 0)
				if wantMTU == 0 {
					if out.Action != link.Tx || out.Port != 1 {
						t.Fatalf("a packet that fits: action %v port %d", out.Action, out.Port)
					}
					return
				}
				if out.Action != link.Tx || out.Port != 0 {
					t.Fatalf("action %v port %d, counters %+v", out.Action, out.Port, te.e.Counters())
				}
				q := in[14:]
				if tc.m == service.Tunnel {
					q = decTTL(q) // the tunnel decrements before it knows the size
				}
				want := wantTooBig(clientMAC, dirMAC, fam.vip, fam.cip, q, wantMTU)
				sameBytes(t, "frame", out.Bytes(), want)
				checkICMP(t, out.Bytes()[14:])
				if c := te.e.Counters(); c.Events[EventFragNeededICMP] != 1 {
					t.Fatalf("counters %+v", c)
				}
			})
		}
	}
	t.Run("ipv4-without-DF", func(t *testing.T) {
		// Not the size check's business: a non-DF packet is fragmented
		// on output (frag.go), the first fragment in place, the rest in
		// the outbox.
		te := newICMPEngine(t, 0, 1400)
		te.icmpSetup(families[0], service.Masq)
		out := te.sendOn(bigTCP(families[0], 1500, false), 0)
		if out.Action != link.Tx || out.Port != 1 || out.Len > 1414 || len(te.w.Outbox()) != 1 {
			t.Fatalf("action %v port %d len %d, %d more in the outbox", out.Action, out.Port, out.Len, len(te.w.Outbox()))
		}
		if c := te.e.Counters(); c.Events[EventFragNeededICMP] != 0 || c.Events[EventFragOut] != 1 {
			t.Fatalf("frag needed %d, frag out %d", c.Events[EventFragNeededICMP], c.Events[EventFragOut])
		}
	})
	t.Run("ipv4-tunnel-pmtu_disc-off", func(t *testing.T) {
		te := newICMPEngine(t, 0, 1500)
		te.icmpSetup(families[0], service.Tunnel)
		te.tune(func(tu *Tunables) { tu.PMTUDisc = false })
		out := te.sendOn(bigTCP(families[0], 1500, true), 0)
		if out.Action != link.Tx || out.Port != 1 || out.Bytes()[14+6]&0x40 != 0 {
			t.Fatalf("action %v port %d outer DF %v", out.Action, out.Port, out.Bytes()[14+6]&0x40 != 0)
		}
	})
	t.Run("nat-reply", func(t *testing.T) {
		// A real server's reply too big for the client side: the error
		// goes back to the real server from the director's address on
		// that port, about the reply as received (TTL − 1).
		te := newICMPEngine(t, 1400, 0)
		_, rip, _ := te.icmpSetup(families[0], service.Masq)
		reply := packet.AppendFrame(nil, &packet.Frame{
			Ethernet: packet.EthernetFields{Src: rsMAC(1), Dst: dirMAC1},
			IPv4:     &packet.IPv4Fields{TTL: 64, Src: rip, Dst: cip4, ID: 5, DF: true},
			TCP:      &packet.TCPFields{SrcPort: 8080, DstPort: 1234, Flags: packet.TCPAck, Window: 1},
			Payload:  bytes.Repeat([]byte{1}, 1460),
		})
		out := te.sendOn(reply, 1)
		if out.Action != link.Tx || out.Port != 1 {
			t.Fatalf("action %v port %d", out.Action, out.Port)
		}
		want := wantTooBig(rsMAC(1), dirMAC1, dirS4, rip, decTTL(reply[14:]), 1400)
		sameBytes(t, "frame", out.Bytes(), want)
		checkICMP(t, out.Bytes()[14:])
	})
}

// TestTooBigRateLimit: icmp_ratelimit errors per second and worker; the
// packet over the limit is dropped and counted; a second later the bucket
// is full again.
func TestTooBigRateLimit(t *testing.T) {
	const rate = 5
	te := newICMPEngine(t, 0, 1400)
	te.icmpSetup(families[0], service.Masq)
	te.tune(func(tu *Tunables) { tu.ICMPRatelimit = rate })
	in := bigTCP(families[0], 1500, true)
	for i := range rate {
		te.now = te.now.Add(time.Millisecond) // within the same second
		if out := te.sendOn(in, 0); out.Action != link.Tx || out.Port != 0 {
			t.Fatalf("error %d: action %v", i+1, out.Action)
		}
	}
	if out := te.sendOn(in, 0); out.Action != link.Drop || te.e.Counters().Drops[ReasonICMPRateLimit] != 1 {
		t.Fatalf("error %d: action %v, counters %+v", rate+1, out.Action, te.e.Counters())
	}
	te.now = te.now.Add(time.Second)
	if out := te.sendOn(in, 0); out.Action != link.Tx {
		t.Fatalf("a second later: action %v", out.Action)
	}
	if c := te.e.Counters(); c.Events[EventFragNeededICMP] != rate+1 {
		t.Fatalf("frag needed sent %d, want %d", c.Events[EventFragNeededICMP], rate+1)
	}
	// The rate refills steadily: 1/rate s later exactly one more.
	te.now = te.now.Add(time.Second)
	for range rate {
		te.sendOn(in, 0)
	}
	te.now = te.now.Add(time.Second / rate)
	if out := te.sendOn(in, 0); out.Action != link.Tx {
		t.Fatalf("after 1/rate s: action %v", out.Action)
	}
	if out := te.sendOn(in, 0); out.Action != link.Drop {
		t.Fatalf("second after 1/rate s: action %v", out.Action)
	}
}

// TestErrorBucket: the bucket alone, with rates that do not divide a
// second and steps far shorter than a token.
func TestErrorBucket(t *testing.T) {
	var b errorBucket
	now := clock.Seconds(10)
	n := 0
	for range 3000 { // 3 s in 1 ms steps at 7/s: 7 at once, then 7 per second
		now = now.Add(time.Millisecond)
		if b.allow(7, now) {
			n++
		}
	}
	if n < 7+20 || n > 7+21 {
		t.Fatalf("%d allowed in 3 s at 7/s with a burst of 7", n)
	}
	if !b.allow(0, now) {
		t.Fatal("rate 0 must not limit")
	}
}

// TestICMPPathAllocatesNothing: forwarding an ICMP error (NAT, both
// directions), answering a packet with frag needed and turning a tunnel
// error into the client's allocate nothing.
func TestICMPPathAllocatesNothing(t *testing.T) {
	fam := families[0]
	te := newICMPEngine(t, 0, 1400)
	_, rip, rport := te.icmpSetup(fam, service.Masq)
	te.tune(func(tu *Tunables) { tu.ICMPRatelimit = 0 })
	reply := tcpFrame(dirMAC, clientMAC, ap(fam.vip, 80), ap(fam.cip, 1234), packet.TCPAck, "")
	fromClient := icmpFrame(dirMAC, clientMAC, ipSpec{src: router4, dst: fam.vip, ttl: 64}, 3, 4, 1400, quoteOf(reply, false))
	server := tcpFrame(dirMAC1, rsMAC(1), ap(fam.cip, 1234), ap(rip, rport), packet.TCPAck, "")
	fromServer := icmpFrame(dirMAC1, rsMAC(1), ipSpec{src: rip, dst: fam.cip, ttl: 64}, 3, 3, 0, quoteOf(server, true))
	tooBig := bigTCP(fam, 1500, true)
	// A TUN connection (VIP:81 → rip(2), IPIP) and a router's frag needed
	// about its tunnel packet (tunerr.go).
	k2 := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 81}
	te.addService(service.ServiceConfig{Key: k2, Sched: "rr"})
	te.addDest(k2, 2, service.DestParams{Addr: fam.rip(2), Port: 81, Weight: 1, Method: service.Tunnel, TunType: service.TunIPIP})
	te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, 81), packet.TCPSyn, ""))
	tun, _ := te.tunnelled(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, 81), packet.TCPAck, "data"), false)
	tunErr := tunErrorFrame(dirS4, 3, 4, 1400, tun, 548)
	buf := make([]byte, link.Headroom+1600)
	fr := make([]link.Frame, 1)
	for _, tc := range []struct {
		name  string
		frame []byte
		port  uint16
		out   uint16
	}{{"icmp-from-client", fromClient, 0, 1}, {"icmp-from-server", fromServer, 1, 0}, {"frag-needed", tooBig, 0, 0}, {"tunnel-error", tunErr, 1, 0}} {
		allocs := testing.AllocsPerRun(1000, func() {
			copy(buf[link.Headroom:], tc.frame)
			fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(tc.frame), Port: tc.port}
			te.w.Process(fr, te.now)
			if fr[0].Action != link.Tx || fr[0].Port != tc.out {
				t.Fatalf("%s: action %v port %d", tc.name, fr[0].Action, fr[0].Port)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per packet", tc.name, allocs)
		}
	}
}

// FuzzICMP feeds arbitrary frames, from either side, to a two-port engine
// with MTUs and open NAT, DR and TUN connections: nothing panics, every
// frame gets one verdict, every drop is counted under a reason, a Tx frame
// stays inside its buffer and decodes, and an ICMP message the director
// sends (forwarded or generated) has a correct ICMP checksum.
func FuzzICMP(f *testing.F) {
	te := newICMPEngine(f, 1500, 1400)
	te.tune(func(tu *Tunables) { tu.ICMPRatelimit = 0 })
	for _, fam := range families {
		for i, m := range []service.Method{service.Masq, service.Route, service.Tunnel} {
			k := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: uint16(80 + i)}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
			te.addDest(k, i+1, service.DestParams{Addr: fam.rip(i + 1), Port: uint16(8080 + i), Weight: 1, Method: m, TunType: service.TunIPIP})
			if out := te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, uint16(80+i)), packet.TCPSyn, "")); out.Action != link.Tx {
				f.Fatalf("SYN %v: %v", m, out.Action)
			}
			if m == service.Tunnel && !fam.vip.Is6() {
				// Errors about the director's IPIP packet (tunerr.go).
				tun, _ := te.tunnelled(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, uint16(80+i)), packet.TCPAck, "data"), false)
				f.Add(true, tunErrorFrame(dirS4, 3, 4, 1400, tun, 548))
				f.Add(true, tunErrorFrame(dirS4, 11, 0, 0, tun, 48))
			}
			reply := tcpFrame(dirMAC, clientMAC, ap(fam.vip, uint16(80+i)), ap(fam.cip, 1234), packet.TCPAck, "reply")
			for _, ty := range typesOf(fam) {
				f.Add(false, icmpFrame(dirMAC, clientMAC, ipSpec{src: routerOf(fam), dst: fam.vip, ttl: 64}, ty.typ, ty.code, ty.rest, quoteOf(reply, ty.shortQuote)))
			}
			sent := tcpFrame(dirMAC1, rsMAC(i+1), ap(fam.cip, 1234), ap(fam.rip(i+1), uint16(8080+i)), packet.TCPAck, "")
			f.Add(true, icmpFrame(dirMAC1, rsMAC(i+1), ipSpec{src: fam.rip(i + 1), dst: fam.cip, ttl: 64}, typesOf(fam)[0].typ, 0, 0, quoteOf(sent, true)))
		}
		f.Add(false, bigTCP(fam, 1500, true))
	}
	// A GUE real server and errors about the director's GUE packet.
	kg := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 83}
	te.addService(service.ServiceConfig{Key: kg, Sched: "rr"})
	te.addDest(kg, 4, service.DestParams{Addr: families[0].rip(4), Port: 83, Weight: 1, Method: service.Tunnel, TunType: service.TunGUE, TunPort: gueTunPort})
	te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 1234), ap(vip4, 83), packet.TCPSyn, ""))
	gtun, _ := te.tunnelled(tcpFrame(clientMAC, dirMAC, ap(cip4, 1234), ap(vip4, 83), packet.TCPAck, "data"), true)
	f.Add(true, tunErrorFrame(dirS4, 3, 4, 1400, gtun, 548))
	f.Add(true, tunErrorFrame(dirS4, 4, 0, 0, gtun, 60))
	f.Fuzz(func(t *testing.T, fromServer bool, frame []byte) {
		if len(frame) > 1900 {
			return
		}
		buf := make([]byte, link.Headroom+len(frame)+64)
		copy(buf[link.Headroom:], frame)
		port := uint16(0)
		if fromServer {
			port = 1
		}
		fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(frame), Port: port}}
		before := te.e.Counters()
		r := te.w.Process(fr, te.now)
		after := te.e.Counters()
		// One frame in; the outbox may add fragments (released or made),
		// and a non-first fragment may be held.
		if r.Tx+r.Pass+r.Drop+r.Held != 1+len(te.w.Outbox()) || after.Frames-before.Frames != 1 {
			t.Fatalf("result %+v for one frame and %d extra", r, len(te.w.Outbox()))
		}
		var reasons uint64
		for i := range after.Drops {
			reasons += after.Drops[i] - before.Drops[i]
		}
		if reasons != after.Drop-before.Drop {
			t.Fatalf("%d drops, %d counted by reason", after.Drop-before.Drop, reasons)
		}
		te.now = te.now.Add(1e6)
		if fr[0].Action != link.Tx {
			return
		}
		if fr[0].Off < 0 || fr[0].Off+fr[0].Len > len(buf) || fr[0].Len < 14 {
			t.Fatalf("tx frame out of its buffer: off %d len %d cap %d", fr[0].Off, fr[0].Len, len(buf))
		}
		var p packet.Parsed
		out := fr[0].Bytes()
		if res := packet.Decode(out, &p); res != packet.OK {
			t.Fatalf("tx frame does not decode: %v", res)
		}
		icmp := p.Proto == packet.ProtoICMP && !p.V6 || p.Proto == packet.ProtoICMPv6 && p.V6
		if icmp && p.Flags.Has(packet.FlagL4) && !p.Flags.Has(packet.FlagFragment) {
			msg := packet.ICMP(out[p.L4Off:p.Len])
			var ps uint32
			if p.V6 {
				ps = packet.PseudoSum(true, &p.Src, &p.Dst, packet.ProtoICMPv6, len(msg))
			}
			if !msg.IsChecksumValid(ps) {
				t.Fatalf("sent ICMP type %d with a wrong checksum", p.ICMPType)
			}
		}
	})
}
