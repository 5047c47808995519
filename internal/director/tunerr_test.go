package director

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// Tunnel errors: a router between the director and a TUN real server
// (rtrTun, on the real servers' side, port 1) reports an error about the
// director's own IPIP or GUE packet, sent from dirS4.

var (
	rtrTun    = netip.MustParseAddr("10.1.0.250")
	rtrTunMAC = [6]byte{0x02, 0, 0, 0, 0, 0xe1}
)

const gueTunPort = 6080

// tunSetup is icmpSetup for a TUN real server (IPIP, or GUE with tunnel
// port gueTunPort), IPv4.
func (te *testEngine) tunSetup(gue bool) (k service.Key, rip netip.Addr) {
	te.t.Helper()
	fam := families[0]
	k = service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip = fam.rip(1)
	p := service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Tunnel, TunType: service.TunIPIP}
	if gue {
		p.TunType, p.TunPort = service.TunGUE, gueTunPort
	}
	te.addDest(k, 1, p)
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1234), ap(fam.vip, 80), packet.TCPSyn, "")); out.Action != link.Tx || out.Port != 1 {
		te.t.Fatalf("SYN: action %v port %d", out.Action, out.Port)
	}
	return k, rip
}

// tunnelled sends the client's frame through the engine and returns the
// IP packet that left towards the real server (the tunnel packet) and the
// length of its tunnel headers.
func (te *testEngine) tunnelled(client []byte, gue bool) (tun []byte, overhead int) {
	te.t.Helper()
	out := te.sendOn(client, 0)
	if out.Action != link.Tx || out.Port != 1 {
		te.t.Fatalf("client packet: action %v port %d", out.Action, out.Port)
	}
	tun = bytes.Clone(out.Bytes()[14:])
	overhead = 20
	if gue {
		overhead = 32
	}
	if len(tun) != len(client)-14+overhead || tun[9] != map[bool]uint8{false: 4, true: 17}[gue] {
		te.t.Fatalf("tunnel packet: %d bytes, protocol %d", len(tun), tun[9])
	}
	return tun, overhead
}

// tunErrorFrame is the router's error about tunnel packet tun, quoting
// its first quote bytes, to dst (the director: dirS4).
func tunErrorFrame(dst netip.Addr, typ, code uint8, rest uint32, tun []byte, quote int) []byte {
	return icmpFrame(dirMAC1, rtrTunMAC, ipSpec{src: rtrTun, dst: dst, ttl: 64, id: 0x5151}, typ, code, rest, tun[:min(quote, len(tun))])
}

// wantClientError is the error the client must get, from the VIP, about
// its IPv4 packet q (as the tunnel carried it: TTL − 1), quoting qlen
// bytes.
func wantClientError(q []byte, typ, code uint8, rest uint32, qlen int) []byte {
	ip := ipSpec{src: vip4, dst: cip4, ttl: 64, tos: 0xc0 | q[1]&0x1e, id: binary.BigEndian.Uint16(q[4:6])}
	return icmpFrame(clientMAC, dirMAC, ip, typ, code, rest, q[:qlen])
}

// TestTunnelError: errors about the director's IPIP / GUE packets of a
// connection reach the client as errors about its own packet: frag needed
// with the reported MTU less the tunnel overhead (the frame byte for byte,
// checksums checked here), time exceeded, source quench and host
// unreachable with their type and code, from the VIP, out of the client's
// port; counted as icmp_tunnel_error and as an out-packet of the real
// server.
func TestTunnelError(t *testing.T) {
	for _, gue := range []bool{false, true} {
		for _, tc := range []struct {
			typ, code  uint8
			rest, want uint32
			quote      int // bytes of the tunnel packet quoted; 0: up to the client's ports
		}{
			{3, 4, 1400, 0, 548}, // a Linux router: 576 bytes in all
			{3, 4, 1400 | 0xabcd<<16, 0, 0},
			{3, 4, 80, 68, 548},       // the result is never below 68
			{3, 4, 0, 68, 548},        // a router from before RFC 1191
			{11, 0, 0, 0, 548},        // TTL exceeded in transit
			{11, 1, 0, 0, 0},          // reassembly time exceeded
			{4, 0, 0, 0, 0},           // source quench
			{3, 1, 0x1234, 0x1234, 0}, // host unreachable: the unused word as it came
		} {
			t.Run(fmt.Sprintf("gue=%v/type=%d/code=%d/rest=%#x/quote=%d", gue, tc.typ, tc.code, tc.rest, tc.quote), func(t *testing.T) {
				te := newICMPEngine(t, 0, 0)
				k, rip := te.tunSetup(gue)
				client := bigTCP(families[0], 1000, true)
				tun, overhead := te.tunnelled(client, gue)
				want := tc.want
				if tc.typ == 3 && tc.code == 4 && want == 0 {
					want = tc.rest&0xffff - uint32(overhead)
				}
				quote := tc.quote
				if quote == 0 {
					quote = overhead + 20 + 8
				}
				in := tunErrorFrame(dirS4, tc.typ, tc.code, tc.rest, tun, quote)
				out := te.sendOn(in, 1)
				if out.Action != link.Tx || out.Port != 0 {
					t.Fatalf("action %v port %d, counters %+v", out.Action, out.Port, te.e.Counters())
				}
				sameBytes(t, "frame", out.Bytes(), wantClientError(decTTL(client[14:]), tc.typ, tc.code, want, quote-overhead))
				checkICMP(t, out.Bytes()[14:])
				c := te.e.Counters()
				if c.Events[EventICMPTunnelError] != 1 || c.Drop != 0 || c.Events[EventICMPUnrelated] != 0 {
					t.Fatalf("counters %+v", c)
				}
				if s := te.dest(k, rip, 80).Stats.Sum(); s.InPkts != 2 || s.OutPkts != 1 || s.OutBytes != uint64(len(in)-14) {
					t.Fatalf("dest stats %+v: want the SYN and the data in, the error out", s)
				}
			})
		}
	}
}

// TestTunnelErrorRefused: what is not the director's tunnel packet of a
// connection goes on as before (to the host, icmp_unrelated, unchanged);
// a bad checksum, a quote cut inside the client's headers, frag needed
// about a packet without DF are dropped and counted; no_icmp_forward
// passes the error unchanged.
func TestTunnelErrorRefused(t *testing.T) {
	type result struct {
		action link.Action
		reason Reason // for a drop
		event  Event  // for a pass
	}
	unrelated := result{link.Pass, 0, EventICMPUnrelated}
	for _, gue := range []bool{false, true} {
		te := newICMPEngine(t, 0, 0)
		_, rip := te.tunSetup(gue)
		client := bigTCP(families[0], 1000, true)
		tun, overhead := te.tunnelled(client, gue)
		// Another TUN real server, 10.1.0.2, of another service.
		k2 := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 81}
		te.addService(service.ServiceConfig{Key: k2, Sched: "rr"})
		p2 := te.dest(service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}, rip, 80).Config()
		te.addDest(k2, 2, service.DestParams{Addr: families[0].rip(2), Port: 80, Weight: 1, Method: service.Tunnel, TunType: p2.TunType, TunPort: p2.TunPort})
		withTun := func(f func(tun []byte)) []byte { c := bytes.Clone(tun); f(c); return c }
		refreshOuter := func(c []byte) { refreshIPv4(c) }
		noConn := withTun(func(c []byte) { binary.BigEndian.PutUint16(c[overhead+20:], 9999); refreshOuter(c) })
		otherRIP := withTun(func(c []byte) { c[19] = 99; refreshOuter(c) }) // 10.1.0.99: no destination
		otherDest := withTun(func(c []byte) { c[19] = 2; refreshOuter(c) }) // 10.1.0.2: a TUN destination, not the connection's
		noDF, _ := te.tunnelled(bigTCP(families[0], 1000, false), gue)
		frag := withTun(func(c []byte) { binary.BigEndian.PutUint16(c[6:], 0x2000|100); refreshOuter(c) })
		badCsum := tunErrorFrame(dirS4, 3, 4, 1400, tun, 548)
		badCsum[14+20+2]++
		cases := []struct {
			name  string
			frame []byte
			tune  func(*Tunables)
			want  result
		}{
			{"unknown-tunnel-address", tunErrorFrame(dirS4, 3, 4, 1400, otherRIP, 548), nil, unrelated},
			{"no-connection", tunErrorFrame(dirS4, 3, 4, 1400, noConn, 548), nil, unrelated},
			{"another-dest-address", tunErrorFrame(dirS4, 3, 4, 1400, otherDest, 548), nil, unrelated},
			{"not-to-the-director", tunErrorFrame(cip4, 3, 4, 1400, tun, 548), nil, unrelated},
			{"tunnel-non-first-fragment", tunErrorFrame(dirS4, 3, 4, 1400, frag, 548), nil, unrelated},
			{"bad-checksum", badCsum, nil, result{link.Drop, ReasonICMPBadChecksum, 0}},
			{"quote-cut-in-client-header", tunErrorFrame(dirS4, 3, 4, 1400, tun, overhead+8), nil, result{link.Drop, ReasonICMPTruncated, 0}},
			{"quote-cut-before-client-ports", tunErrorFrame(dirS4, 11, 0, 0, tun, overhead+20+4), nil, result{link.Drop, ReasonICMPTruncated, 0}},
			{"frag-needed-without-df", tunErrorFrame(dirS4, 3, 4, 1400, noDF, 548), nil, result{link.Drop, ReasonTunnelConsumed, 0}},
			{"no-icmp-forward", tunErrorFrame(dirS4, 3, 4, 1400, tun, 548), func(tu *Tunables) { tu.NoICMPForward = true }, result{link.Pass, 0, EventICMPNoForward}},
		}
		if gue {
			ctl := withTun(func(c []byte) { c[28] |= 0x20 }) // GUE control message
			v1 := withTun(func(c []byte) { c[28] = 0x40 })   // GUE version 1
			ipv6 := withTun(func(c []byte) { c[29] = 41 })   // GUE carrying IPv6
			port := withTun(func(c []byte) { binary.BigEndian.PutUint16(c[22:], gueTunPort+1) })
			cases = append(cases, []struct {
				name  string
				frame []byte
				tune  func(*Tunables)
				want  result
			}{
				{"gue-control", tunErrorFrame(dirS4, 3, 4, 1400, ctl, 548), nil, unrelated},
				{"gue-version-1", tunErrorFrame(dirS4, 3, 4, 1400, v1, 548), nil, unrelated},
				{"gue-ipv6-inside", tunErrorFrame(dirS4, 3, 4, 1400, ipv6, 548), nil, unrelated},
				{"gue-other-port", tunErrorFrame(dirS4, 3, 4, 1400, port, 548), nil, unrelated},
				{"gue-header-cut", tunErrorFrame(dirS4, 3, 4, 1400, tun, 20+8+2), nil, result{link.Drop, ReasonICMPTruncated, 0}},
			}...)
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("gue=%v/%s", gue, tc.name), func(t *testing.T) {
				te.tune(func(tu *Tunables) {
					if tc.tune != nil {
						tc.tune(tu)
					}
				})
				before := te.e.Counters()
				out := te.sendOn(tc.frame, 1)
				after := te.e.Counters()
				if out.Action != tc.want.action {
					t.Fatalf("action %v, want %v; counters %+v", out.Action, tc.want.action, after)
				}
				switch tc.want.action {
				case link.Drop:
					if after.Drops[tc.want.reason] != before.Drops[tc.want.reason]+1 {
						t.Fatalf("drop not counted as %v: %+v", tc.want.reason, after)
					}
				case link.Pass:
					if after.Events[tc.want.event] != before.Events[tc.want.event]+1 {
						t.Fatalf("pass not counted as %v: %+v", tc.want.event, after)
					}
					if !bytes.Equal(out.Bytes(), tc.frame) {
						t.Fatal("passed frame changed")
					}
				}
				if after.Events[EventICMPTunnelError] != before.Events[EventICMPTunnelError] {
					t.Fatal("an error was sent to the client")
				}
			})
		}
	}
}

// TestTunnelErrorRateLimit: the errors sent to clients count against
// icmp_ratelimit like every error the director makes; over it the tunnel
// error is dropped as icmp_ratelimit.
func TestTunnelErrorRateLimit(t *testing.T) {
	const rate = 3
	te := newICMPEngine(t, 0, 0)
	te.tunSetup(false)
	tun, _ := te.tunnelled(bigTCP(families[0], 1000, true), false)
	te.tune(func(tu *Tunables) { tu.ICMPRatelimit = rate })
	in := tunErrorFrame(dirS4, 3, 4, 1400, tun, 548)
	for i := range rate {
		te.now = te.now.Add(time.Millisecond)
		if out := te.sendOn(in, 1); out.Action != link.Tx {
			t.Fatalf("error %d: action %v", i+1, out.Action)
		}
	}
	if out := te.sendOn(in, 1); out.Action != link.Drop || te.e.Counters().Drops[ReasonICMPRateLimit] != 1 {
		t.Fatalf("error %d: action %v, counters %+v", rate+1, out.Action, te.e.Counters())
	}
	te.now = te.now.Add(time.Second)
	if out := te.sendOn(in, 1); out.Action != link.Tx {
		t.Fatalf("a second later: action %v", out.Action)
	}
	if c := te.e.Counters(); c.Events[EventICMPTunnelError] != rate+1 {
		t.Fatalf("sent %d, want %d", c.Events[EventICMPTunnelError], rate+1)
	}
}

func TestTunnelMTU(t *testing.T) {
	for _, c := range [][3]int{{1500, 20, 1480}, {1500, 32, 1468}, {89, 20, 69}, {88, 20, 68}, {80, 20, 68}, {0, 32, 68}, {65535, 20, 65515}} {
		if got := tunnelMTU(c[0], c[1]); got != c[2] {
			t.Errorf("tunnelMTU(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
