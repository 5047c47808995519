package director

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// TestDirectRouting: only the MACs and the TTL change; the client's packet
// is otherwise byte for byte what it sent.
func TestDirectRouting(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 12)
			k := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
			te.addService(service.ServiceConfig{Key: k, Sched: "wlc"})
			te.addDest(k, 2, service.DestParams{Addr: fam.rip(2), Port: 80, Weight: 1, Method: service.Route})
			in := tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1229), ap(fam.vip, 80), packet.TCPSyn, "")
			out := te.send(in)
			if out.Action != link.Tx {
				t.Fatalf("action %v", out.Action)
			}
			got := out.Bytes()
			if !bytes.Equal(got[0:6], macSlice(rsMAC(2))) || !bytes.Equal(got[6:12], macSlice(dirMAC)) {
				t.Fatalf("MACs %x %x", got[0:6], got[6:12])
			}
			pk := gp(t, got)
			src, dst, ttl := ipOf(t, pk)
			if src != fam.cip || dst != fam.vip || ttl != 63 {
				t.Fatalf("DR changed the IP header: %v -> %v ttl %d", src, dst, ttl)
			}
			// Everything past the IP header is untouched.
			l3 := 14
			hdr := 20
			if fam.vip.Is6() {
				hdr = 40
			}
			if !bytes.Equal(got[l3+hdr:], in[l3+hdr:]) {
				t.Fatal("DR changed the transport header or payload")
			}
			d := te.dest(k, fam.rip(2), 80)
			if got := counts(d); got != [3]int32{1, 0, 0} {
				t.Fatalf("counters %v", got)
			}
			// Telnet in DR (seed listing): the client's FIN goes through
			// INPUT_ONLY: ESTABLISHED → FIN_WAIT, an inactive state.
			te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1229), ap(fam.vip, 80), packet.TCPAck, ""))
			te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1229), ap(fam.vip, 80), packet.TCPFin|packet.TCPAck, ""))
			if got := counts(d); got != [3]int32{0, 1, 0} {
				t.Fatalf("after FIN counters %v, want 0 1", got)
			}
		})
	}
}

// TestTunnel checks IPIP and GUE encapsulation with IPv4 and IPv6 outer
// headers: the outer header goes from the director to the real server and
// the inner packet is the client's, with the TTL decremented.
func TestTunnel(t *testing.T) {
	for _, fam := range families {
		for _, tt := range []service.TunType{service.TunIPIP, service.TunGUE} {
			t.Run(fam.name+"/"+tt.String(), func(t *testing.T) {
				te := newTestEngine(t, 12)
				k := service.Key{Proto: packet.ProtoUDP, Addr: fam.vip, Port: 9000}
				te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
				rip := fam.rip(3)
				te.addDest(k, 3, service.DestParams{Addr: rip, Port: 9000, Weight: 1, Method: service.Tunnel, TunType: tt, TunPort: 6080})
				in := udpFrame(clientMAC, dirMAC, ap(fam.cip, 5353), ap(fam.vip, 9000), "query")
				out := te.send(in)
				if out.Action != link.Tx {
					t.Fatalf("action %v (counters %+v)", out.Action, te.e.Counters())
				}
				pk := gp(t, out.Bytes())
				src, dst, _ := ipOf(t, pk)
				wantSrc := dir4
				if fam.vip.Is6() {
					wantSrc = dir6
				}
				if src != wantSrc || dst != rip {
					t.Fatalf("outer %v -> %v, want %v -> %v", src, dst, wantSrc, rip)
				}
				if tt == service.TunGUE {
					udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
					if udp.DstPort != 6080 {
						t.Fatalf("GUE port %d", udp.DstPort)
					}
				}
				// The inner packet is the client's original (TTL - 1).
				inner := out.Bytes()[len(out.Bytes())-(len(in)-14):]
				var p packet.Parsed
				buf := append(append([]byte{}, in[:14]...), inner...)
				if packet.Decode(buf, &p) != packet.OK {
					t.Fatal("inner packet does not decode")
				}
				if netip.AddrFrom16(p.Src).Unmap() != fam.cip || netip.AddrFrom16(p.Dst).Unmap() != fam.vip || p.TTL != 63 {
					t.Fatalf("inner %v -> %v ttl %d", netip.AddrFrom16(p.Src), netip.AddrFrom16(p.Dst), p.TTL)
				}
			})
		}
	}
}

// TestNoDestinationICMP: a service without a usable real server answers
// with ICMP port unreachable, as the kernel does.
func TestNoDestinationICMP(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 12)
			k := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
			te.addDest(k, 1, service.DestParams{Addr: fam.rip(1), Port: 80, Weight: 0, Method: service.Route})
			out := te.send(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1000), ap(fam.vip, 80), packet.TCPSyn, ""))
			if out.Action != link.Tx {
				t.Fatalf("action %v", out.Action)
			}
			pk := gp(t, out.Bytes())
			src, dst, _ := ipOf(t, pk)
			if src != fam.vip || dst != fam.cip {
				t.Fatalf("ICMP %v -> %v", src, dst)
			}
			if fam.vip.Is4() {
				ic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 3) {
					t.Fatalf("ICMP %v", ic.TypeCode)
				}
			} else {
				ic := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
				if ic.TypeCode != layers.CreateICMPv6TypeCode(1, 4) {
					t.Fatalf("ICMPv6 %v", ic.TypeCode)
				}
			}
			if c := te.e.Counters(); c.Events[EventNoDestICMP] != 1 || te.e.Table().Len() != 0 {
				t.Fatalf("events %v, table %d", c.Events, te.e.Table().Len())
			}
		})
	}
}

// TestPersistence: a client keeps its real server across connections while
// its template lives; the template outlives its timeout while it controls
// connections and goes after that.
func TestPersistence(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 443}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr", Flags: service.FlagPersistent, Timeout: 360})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 443, Weight: 1, Method: service.Route})
	}
	dstOf := func(cip netip.Addr, port uint16) int {
		out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip, port), ap(vip4, 443), packet.TCPSyn, ""))
		if out.Action != link.Tx {
			t.Fatalf("action %v", out.Action)
		}
		return int(out.Bytes()[5])
	}
	a := dstOf(cip4, 2000)
	for p := uint16(2001); p < 2010; p++ {
		if got := dstOf(cip4, p); got != a {
			t.Fatalf("connection from port %d went to server %d, template says %d", p, got, a)
		}
	}
	// Another client gets the next server from rr.
	other := netip.MustParseAddr("192.0.2.99")
	te.neigh[other] = clientMAC
	b := dstOf(other, 2000)
	if b == a {
		t.Fatalf("second client went to the same server %d under rr", b)
	}
	d := te.dest(k, families[0].rip(a), 443)
	if got := d.Persist.Load(); got != 1 {
		t.Fatalf("PersistConn %d, want 1", got)
	}
	// 10 minutes later (SYN_RECV conns: 60 s; templates 360 s) all is gone.
	for i := 0; i < 20; i++ {
		te.now = te.now.Add(time.Minute)
		te.e.Maintain(te.now, time.Hour)
	}
	if n := te.e.Table().Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
	if got := counts(d); got != [3]int32{0, 0, 0} {
		t.Fatalf("counters %v after expiry", got)
	}
	// With the template gone the client is scheduled afresh: rr moves on
	// to the third server.
	if c := dstOf(cip4, 3000); c == a || c == b {
		t.Fatalf("after the template expired the client went to server %d again (a=%d b=%d)", c, a, b)
	}
}

// TestWeightZeroKeepsOldConnections: a quiesced server takes no new
// connections, but its established ones keep flowing to it.
func TestWeightZeroKeepsOldConnections(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	r1, r2 := families[0].rip(1), families[0].rip(2)
	te.addDest(k, 1, service.DestParams{Addr: r1, Port: 80, Weight: 1, Method: service.Route})
	old := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 3000), ap(vip4, 80), packet.TCPSyn, ""))
	if old.Bytes()[5] != 1 {
		t.Fatal("first connection not on server 1")
	}
	te.addDest(k, 2, service.DestParams{Addr: r2, Port: 80, Weight: 1, Method: service.Route})
	if err := te.set.EditDest(k, service.DestParams{Addr: r1, Port: 80, Weight: 0, Method: service.Route}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	for p := uint16(3001); p < 3010; p++ {
		if out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, p), ap(vip4, 80), packet.TCPSyn, "")); out.Bytes()[5] != 2 {
			t.Fatalf("new connection went to server %d while 1 is quiesced", out.Bytes()[5])
		}
	}
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 3000), ap(vip4, 80), packet.TCPAck, "data")); out.Action != link.Tx || out.Bytes()[5] != 1 {
		t.Fatalf("old connection moved: action %v server %d", out.Action, out.Bytes()[5])
	}
}

// TestOnePacketScheduling: with -o every UDP datagram is scheduled on its
// own and no entry is kept.
func TestOnePacketScheduling(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 9000}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr", Flags: service.FlagOnePacket})
	for i := 1; i <= 2; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 9000, Weight: 1, Method: service.Route})
	}
	var seq []byte
	for i := 0; i < 4; i++ {
		out := te.send(udpFrame(clientMAC, dirMAC, ap(cip4, 5000), ap(vip4, 9000), "q"))
		if out.Action != link.Tx {
			t.Fatalf("datagram %d: action %v, counters %+v", i, out.Action, te.e.Counters())
		}
		seq = append(seq, out.Bytes()[5])
	}
	if seq[0] == seq[1] || seq[0] != seq[2] || seq[1] != seq[3] {
		t.Fatalf("datagrams of one flow went to %v; one-packet scheduling should alternate", seq)
	}
	if n := te.e.Table().Len(); n != 0 {
		t.Fatalf("%d entries kept for a one-packet service", n)
	}
}

// TestConnReuse: a SYN that hits a TIME_WAIT entry (conn_reuse_mode 1) is
// scheduled as a new connection.
func TestConnReuse(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	for i := 1; i <= 2; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 80, Weight: 1, Method: service.Masq})
	}
	c := ap(cip4, 4000)
	out := te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	first := out.Bytes()[5]
	rip := families[0].rip(int(first))
	te.send(tcpFrame(rsMAC(int(first)), dirMAC, ap(rip, 80), c, packet.TCPSyn|packet.TCPAck, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""))
	te.send(tcpFrame(rsMAC(int(first)), dirMAC, ap(rip, 80), c, packet.TCPFin|packet.TCPAck, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPFin|packet.TCPAck, ""))
	// OUTPUT fin: ES→FW; INPUT fin in FW → TW.
	out = te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	if out.Action != link.Tx || out.Bytes()[5] == first {
		t.Fatalf("reused port stayed on server %d (action %v)", first, out.Action)
	}
	if ev := te.e.Counters().Events[EventReschedule]; ev != 1 {
		t.Fatalf("reschedule events %d", ev)
	}
}

// TestNotOurs: traffic for no service passes to the host, malformed frames
// are dropped and counted.
func TestNotOurs(t *testing.T) {
	te := newTestEngine(t, 12)
	out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 1), ap(dir4, 22), packet.TCPSyn, ""))
	if out.Action != link.Pass {
		t.Fatalf("ssh to the director: %v", out.Action)
	}
	bad := tcpFrame(clientMAC, dirMAC, ap(cip4, 1), ap(vip4, 80), packet.TCPSyn, "")
	bad[14] = 0x44 // IHL 4
	if out := te.send(bad); out.Action != link.Drop {
		t.Fatalf("malformed: %v", out.Action)
	}
	if c := te.e.Counters(); c.Drops[ReasonMalformed] != 1 || c.Drop != 1 || c.Frames != 2 || c.Pass != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// TestLocalNode: a LocalNode destination hands the packet, unchanged, to
// the director's own stack; the connection is still tracked.
func TestLocalNode(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: vip4, Port: 80, Weight: 1, Method: service.Local})
	in := tcpFrame(clientMAC, dirMAC, ap(cip4, 1), ap(vip4, 80), packet.TCPSyn, "")
	out := te.send(in)
	if out.Action != link.Pass || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("LocalNode: action %v, frame changed %v", out.Action, !bytes.Equal(out.Bytes(), in))
	}
	if te.e.Table().Len() != 1 {
		t.Fatal("LocalNode connection not tracked")
	}
}
