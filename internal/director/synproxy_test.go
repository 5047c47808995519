package director

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

func tcpSeg(srcMAC, dstMAC [6]byte, src, dst netip.AddrPort, flags packet.TCPFlags, seq, ack uint32, payload string, opts []byte) []byte {
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: srcMAC, Dst: dstMAC},
		TCP:      &packet.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 29200, Options: opts},
		Payload:  []byte(payload),
	}
	if src.Addr().Is4() {
		f.IPv4 = &packet.IPv4Fields{TTL: 64, Src: src.Addr(), Dst: dst.Addr(), ID: 7, DF: true}
	} else {
		f.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()}
	}
	return packet.AppendFrame(nil, &f)
}

func tcpOf(t *testing.T, fr link.Frame) (*layers.TCP, []byte, netip.Addr, netip.Addr) {
	t.Helper()
	pk := gp(t, fr.Bytes())
	l, ok := pk.TransportLayer().(*layers.TCP)
	if !ok {
		t.Fatalf("not TCP: %v", pk)
	}
	src, dst := pk.NetworkLayer().NetworkFlow().Endpoints()
	s, _ := netip.AddrFromSlice(src.Raw())
	d, _ := netip.AddrFromSlice(dst.Raw())
	return l, pk.LinkLayer().LayerContents(), s.Unmap(), d.Unmap()
}

// TestSynProxyNAT walks a proxied NAT connection through its life, in
// both families: the SYN is answered with a cookie and leaves nothing; the
// ACK with the cookie makes the entry and the SYN to the real server;
// the request that follows is kept and sent as the SYN again; the real
// server's SYN+ACK releases the request, its acknowledgement shifted into
// the server's sequence space; the server's data reaches the client shifted
// back, from the VIP. A SYN flood leaves the table empty, and an ACK with a
// wrong cookie is dropped as bad_cookie.
func TestSynProxyNAT(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 10)
			vip, cip := fam.vip, fam.cip
			k := service.Key{Proto: packet.ProtoTCP, Addr: vip, Port: 80}
			te.addService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless})
			rip := fam.rip(1)
			te.addDest(k, 1, service.DestParams{Addr: rip, Port: 8080, Weight: 1, Method: service.Masq})
			client, virt, real := ap(cip, 40000), ap(vip, 80), ap(rip, 8080)
			const cisn, rsisn = 1_000_000, 3_000_000_000

			// 1. SYN → SYN+ACK with a cookie, no entry.
			synack := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPSyn, cisn, 0, "", []byte{2, 4, 0x05, 0xb4}))
			if synack.Action != link.Tx {
				t.Fatalf("SYN: %v", synack.Action)
			}
			l, eth, src, dst := tcpOf(t, synack)
			if src != vip || dst != cip || l.SrcPort != 80 || l.DstPort != 40000 || !l.SYN || !l.ACK || l.Ack != cisn+1 {
				t.Fatalf("SYN+ACK %v→%v %d→%d syn %v ack %v %d", src, dst, l.SrcPort, l.DstPort, l.SYN, l.ACK, l.Ack)
			}
			if string(eth[0:6]) != string(clientMAC[:]) || string(eth[6:12]) != string(dirMAC[:]) {
				t.Errorf("SYN+ACK MACs % x", eth[:12])
			}
			cookie := l.Seq
			if n := te.e.Table().Len(); n != 0 {
				t.Fatalf("the SYN left %d entries", n)
			}

			// 2. A wrong cookie is refused.
			bad := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, cisn+1, cookie+2, "", nil))
			if bad.Action != link.Drop || te.e.Counters().Drops[ReasonBadCookie] != 1 || te.e.Table().Len() != 0 {
				t.Fatalf("bad cookie: %v, bad_cookie %d, entries %d", bad.Action, te.e.Counters().Drops[ReasonBadCookie], te.e.Table().Len())
			}

			// 3. The right ACK → SYN to the real server, entry in SYN_RECV.
			syn := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, cisn+1, cookie+1, "", nil))
			if syn.Action != link.Tx {
				t.Fatalf("ACK: %v", syn.Action)
			}
			l, eth, src, dst = tcpOf(t, syn)
			if src != cip || dst != rip || l.SrcPort != 40000 || l.DstPort != 8080 || !l.SYN || l.ACK || l.Seq != cisn {
				t.Fatalf("SYN to server %v→%v %d→%d syn %v ack %v seq %d", src, dst, l.SrcPort, l.DstPort, l.SYN, l.ACK, l.Seq)
			}
			if string(eth[0:6]) != string(macSlice(rsMAC(1))) {
				t.Errorf("SYN to server MAC % x", eth[:6])
			}
			if len(l.Options) == 0 || l.Options[0].OptionType != layers.TCPOptionKindMSS {
				t.Errorf("SYN to server has no MSS option: %v", l.Options)
			}
			d := te.dest(k, rip, 8080)
			if n := te.e.Table().Len(); n != 1 || d.Inactive.Load() != 1 || d.Active.Load() != 0 {
				t.Fatalf("entries %d, dest active %d inactive %d", n, d.Active.Load(), d.Inactive.Load())
			}
			var c conntrack.Conn
			te.e.Table().Range(func(idx uint32, _ *conntrack.Entry) bool {
				c = te.e.Table().ConnLocked(idx, te.now)
				return false
			})
			if state.TCPState(c.State) != state.TCPSynRecv || !c.SeqProxy {
				t.Fatalf("entry %+v", c)
			}

			// 4. The request before the server answered: kept, sent as SYN.
			const req = "GET / HTTP/1.1\r\n\r\n"
			resyn := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck|packet.TCPPsh, cisn+1, cookie+1, req, nil))
			if l, _, _, dst = tcpOf(t, resyn); resyn.Action != link.Tx || dst != rip || !l.SYN || l.Seq != cisn || len(l.Payload) != 0 {
				t.Fatalf("request while pending: %v syn %v seq %d payload %d", resyn.Action, l.SYN, l.Seq, len(l.Payload))
			}

			// 5. The server's SYN+ACK → the kept request, shifted.
			out := te.send(tcpSeg(rsMAC(1), dirMAC, real, client, packet.TCPSyn|packet.TCPAck, rsisn, cisn+1, "", []byte{2, 4, 0x05, 0xb4}))
			if out.Action != link.Tx {
				t.Fatalf("server SYN+ACK: %v", out.Action)
			}
			l, eth, src, dst = tcpOf(t, out)
			if src != cip || dst != rip || l.DstPort != 8080 || l.SYN || !l.ACK || l.Seq != cisn+1 || l.Ack != rsisn+1 || string(l.Payload) != req {
				t.Fatalf("kept request %v→%v syn %v seq %d ack %d payload %q", src, dst, l.SYN, l.Seq, l.Ack, l.Payload)
			}
			if string(eth[0:6]) != string(macSlice(rsMAC(1))) {
				t.Errorf("request MAC % x", eth[:6])
			}
			if d.Active.Load() != 1 || d.Inactive.Load() != 0 {
				t.Errorf("after the join: active %d inactive %d", d.Active.Load(), d.Inactive.Load())
			}

			// 6. Server data → client, from the VIP, in the cookie's sequence space.
			back := te.send(tcpSeg(rsMAC(1), dirMAC, real, client, packet.TCPAck|packet.TCPPsh, rsisn+1, cisn+1+uint32(len(req)), "HTTP/1.1 200 OK\r\n", nil))
			l, _, src, dst = tcpOf(t, back)
			if back.Action != link.Tx || src != vip || dst != cip || l.SrcPort != 80 || l.Seq != cookie+1 || l.Ack != cisn+1+uint32(len(req)) {
				t.Fatalf("reply %v %v→%v port %d seq %d (want %d)", back.Action, src, dst, l.SrcPort, l.Seq, cookie+1)
			}
			// Client's next ACK → server, shifted.
			ack := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, cisn+1+uint32(len(req)), cookie+1+17, "", nil))
			if l, _, _, _ = tcpOf(t, ack); l.Ack != rsisn+1+17 {
				t.Errorf("client ACK to server: ack %d, want %d", l.Ack, rsisn+1+17)
			}
			ev := te.e.Counters().Events
			if ev[EventSynCookie] != 1 || ev[EventSynProxyConn] != 1 || ev[EventSynProxyOpen] != 1 || ev[EventSynProxyResyn] != 1 {
				t.Errorf("events cookie %d conn %d open %d resyn %d", ev[EventSynCookie], ev[EventSynProxyConn], ev[EventSynProxyOpen], ev[EventSynProxyResyn])
			}

			// 7. A SYN flood from many sources leaves nothing behind.
			for i := range 2000 {
				src := ap(floodSource(fam.vip.Is6(), i), uint16(1024+i))
				if te.send(tcpSeg(clientMAC, dirMAC, src, virt, packet.TCPSyn, uint32(i), 0, "", nil)).Action != link.Tx {
					t.Fatalf("flood SYN %d not answered", i)
				}
			}
			if n := te.e.Table().Len(); n != 1 {
				t.Fatalf("after the flood: %d entries, want the 1 real one", n)
			}
		})
	}
}

// A proxied connection whose real server answers before the client sends
// anything is joined by a bare ACK; a repeated SYN+ACK is ACKed again.
func TestSynProxyBareJoin(t *testing.T) {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "mh", Flags: service.FlagSynStateless})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Masq})
	client, virt, real := ap(cip4, 50000), ap(vip4, 80), ap(rip, 80)
	sa := te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPSyn, 77, 0, "", nil))
	l, _, _, _ := tcpOf(t, sa)
	te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, 78, l.Seq+1, "", nil))
	for range 2 {
		out := te.send(tcpSeg(rsMAC(1), dirMAC, real, client, packet.TCPSyn|packet.TCPAck, 5000, 78, "", nil))
		m, _, src, dst := tcpOf(t, out)
		if out.Action != link.Tx || src != cip4 || dst != rip || m.SYN || !m.ACK || m.Seq != 78 || m.Ack != 5001 || len(m.Payload) != 0 {
			t.Fatalf("join ACK %v→%v syn %v seq %d ack %d", src, dst, m.SYN, m.Seq, m.Ack)
		}
	}
	if ev := te.e.Counters().Events; ev[EventSynProxyOpen] != 1 {
		t.Errorf("syn_proxy_open %d, want 1", ev[EventSynProxyOpen])
	}
}

// The proxied path allocates nothing: a SYN answered with a cookie and an
// established segment of a proxied connection.
func TestSynProxyNoAllocs(t *testing.T) {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Masq})
	client, virt := ap(cip4, 50000), ap(vip4, 80)
	synFrame := tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPSyn, 77, 0, "", nil)
	sa := te.send(synFrame)
	l, _, _, _ := tcpOf(t, sa)
	te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, 78, l.Seq+1, "", nil))
	te.send(tcpSeg(rsMAC(1), dirMAC, ap(rip, 80), client, packet.TCPSyn|packet.TCPAck, 5000, 78, "", nil))
	data := tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, 78, l.Seq+1, "x", nil)
	other := tcpSeg(clientMAC, dirMAC, ap(cip4, 50001), virt, packet.TCPSyn, 9, 0, "", nil)
	buf := make([]byte, 2048)
	fr := make([]link.Frame, 1)
	for name, frame := range map[string][]byte{"cookie SYN": other, "proxied data": data} {
		n := testing.AllocsPerRun(200, func() {
			copy(buf[link.Headroom:], frame)
			fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(frame)}
			te.w.Process(fr, te.now)
			if fr[0].Action != link.Tx {
				t.Fatalf("%s: %v", name, fr[0].Action)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per packet", name, n)
		}
	}
}

// floodSource is the i-th spoofed source of a flood.
func floodSource(v6 bool, i int) netip.Addr {
	if v6 {
		a := netip.MustParseAddr("2001:db8:ff::").As16()
		a[14], a[15] = byte(i>>8), byte(i)
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
}

// A late packet of an older connection on the same ports (or a TIME_WAIT
// server's ACK) while the proxy waits for the SYN+ACK is dropped and
// counted, and the attempt survives it.
func TestSynProxyPendingIgnoresStrays(t *testing.T) {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Masq})
	client, virt, real := ap(cip4, 50000), ap(vip4, 80), ap(rip, 80)
	l, _, _, _ := tcpOf(t, te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPSyn, 77, 0, "", nil)))
	te.send(tcpSeg(clientMAC, dirMAC, client, virt, packet.TCPAck, 78, l.Seq+1, "", nil))
	for _, fl := range []packet.TCPFlags{packet.TCPAck, packet.TCPAck | packet.TCPFin, packet.TCPRst | packet.TCPAck} {
		if a := te.send(tcpSeg(rsMAC(1), dirMAC, real, client, fl, 123, 456, "", nil)).Action; a != link.Drop {
			t.Fatalf("stray %v while pending: %v", fl, a)
		}
	}
	if got := te.e.Counters().Drops[ReasonSynProxyPending]; got != 3 {
		t.Errorf("syn_proxy_pending %d, want 3", got)
	}
	out := te.send(tcpSeg(rsMAC(1), dirMAC, real, client, packet.TCPSyn|packet.TCPAck, 5000, 78, "", nil))
	if m, _, _, _ := tcpOf(t, out); out.Action != link.Tx || !m.ACK || m.SYN || m.Ack != 5001 {
		t.Fatalf("join after strays: %v", out.Action)
	}
}

// The proxy offers the MSS the port towards the real server carries.
func TestSynProxyMSSFromPortMTU(t *testing.T) {
	for _, tt := range []struct {
		mtu  int
		want uint16
	}{{0, 1460}, {1500, 1460}, {9000, 1460}, {1400, 1360}, {576, 536}} {
		neigh := staticNeighbors{cip4: clientMAC}
		e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6, MTU: tt.mtu}}, Neighbors: neigh})
		if err != nil {
			t.Fatal(err)
		}
		te := &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: 1e12}
		k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
		te.addService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless})
		te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 80, Weight: 1, Method: service.Masq})
		sa := te.send(tcpSeg(clientMAC, dirMAC, ap(cip4, 5000), ap(vip4, 80), packet.TCPSyn, 1, 0, "", []byte{2, 4, 0x23, 0x28}))
		l, _, _, _ := tcpOf(t, sa)
		var got uint16
		for _, o := range l.Options {
			if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
				got = uint16(o.OptionData[0])<<8 | uint16(o.OptionData[1])
			}
		}
		if got != tt.want {
			t.Errorf("port MTU %d: SYN+ACK offers MSS %d, want %d", tt.mtu, got, tt.want)
		}
	}
}
