package director

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// Regression tests from a review against the kernel's behaviour.

// sendWith runs a frame through the worker as if its batch had started
// under snap (a worker still on an older snapshot).
func (te *testEngine) sendWith(snap *service.Snapshot, frame []byte) link.Frame {
	buf := make([]byte, link.Headroom+len(frame)+64)
	copy(buf[link.Headroom:], frame)
	fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(frame)}}
	b := batch{now: te.now, snap: snap, tun: te.e.tun.Load(), to: te.e.timeouts.Load(), def: te.e.def.Load()}
	te.w.neigh.gen = te.e.neighGen.Load()
	te.w.chunk(fr, &b)
	return fr[0]
}

// A worker still on the previous snapshot handles a reply of a conn bound to
// a destination added in the newer snapshot: FlagInactive flips without
// counters; at expiry Unbind (current snapshot) decrements the wrong counter.
func TestRegressStaleSnapshotCounterDrift(t *testing.T) {
	te := newTestEngine(t, 8)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	r1, r2 := families[0].rip(1), families[0].rip(2)
	te.addDest(k, 1, service.DestParams{Addr: r1, Port: 80, Weight: 1, Method: service.Masq})
	old := te.e.Snapshot()
	te.addDest(k, 2, service.DestParams{Addr: r2, Port: 80, Weight: 1, Method: service.Masq})
	if err := te.set.EditDest(k, service.DestParams{Addr: r1, Port: 80, Weight: 0, Method: service.Masq}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	c := ap(cip4, 7000)
	out := te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	if out.Action != link.Tx {
		t.Fatalf("syn: %v", out.Action)
	}
	d2 := te.dest(k, r2, 80)
	// server RST handled by a worker on the old snapshot
	out = te.sendWith(old, tcpFrame(rsMAC(2), dirMAC, ap(r2, 80), c, packet.TCPRst, ""))
	if got := counts(d2); got != [3]int32{0, 1, 0} {
		t.Fatalf("after the RST on the older snapshot: %v, want inactive (CLOSE)", got)
	}
	te.now = te.now.Add(time.Minute)
	te.e.Maintain(te.now, time.Second)
	if got := counts(d2); got != [3]int32{0, 0, 0} {
		t.Errorf("counter drift: %v", got)
	}
}

// Same root cause, inbound: with expire_nodest_conn a client packet handled on
// the old snapshot deletes the brand-new conn (and without it is dropped).
func TestRegressStaleSnapshotInboundDeletes(t *testing.T) {
	for _, expire := range []bool{false, true} {
		te := newTestEngine(t, 8)
		te.tune(func(tu *Tunables) { tu.ExpireNodestConn = expire })
		k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
		te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
		r1, r2 := families[0].rip(1), families[0].rip(2)
		te.addDest(k, 1, service.DestParams{Addr: r1, Port: 80, Weight: 0, Method: service.Masq})
		old := te.e.Snapshot()
		te.addDest(k, 2, service.DestParams{Addr: r2, Port: 80, Weight: 1, Method: service.Masq})
		c := ap(cip4, 7000)
		te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
		n0 := te.e.Table().Len()
		out := te.sendWith(old, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""))
		if out.Action != link.Tx || te.e.Table().Len() != n0 || counts(te.dest(k, r2, 80)) != [3]int32{1, 0, 0} {
			t.Fatalf("expire=%v: ACK handled on the older snapshot: %v; table %d -> %d; d2 %v", expire, out.Action, n0, te.e.Table().Len(), counts(te.dest(k, r2, 80)))
		}
	}
}

// ip_vs_leave: svc port 21 and packet dport != 21 -> NF_ACCEPT (no ICMP).
func TestRegressFTPLeave(t *testing.T) {
	te := newTestEngine(t, 8)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 21}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 21, Weight: 1, Method: service.Masq})
	out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 40000), ap(vip4, 5000), packet.TCPSyn, ""))
	if out.Action != link.Pass || te.e.Counters().Events[EventNoDestICMP] != 0 {
		t.Errorf("SYN to VIP:5000 with FTP service (non-persistent): %v, kernel accepts untouched", out.Action)
	}
}

// UDP first fragment (MF set, UDP length covers the whole datagram).
func TestRegressUDPFirstFragment(t *testing.T) {
	te := newTestEngine(t, 8)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: service.Masq})
	f := udpFrame(clientMAC, dirMAC, ap(cip4, 40000), ap(vip4, 53), "0123456789abcdef")
	ip := f[14:]
	binary.BigEndian.PutUint16(ip[6:8], 0x2000) // MF
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[4:6], binary.BigEndian.Uint16(udp[4:6])+1000)
	out := te.send(f)
	if out.Action == link.Drop {
		t.Fatalf("UDP first fragment dropped (drops %v): it is well-formed", te.e.Counters().Drops)
	}
}

// conn_reuse_mode=0 disables the weight-0 reschedule too in the kernel.
func TestRegressReuseMode0Weight0(t *testing.T) {
	te := newTestEngine(t, 8)
	te.tune(func(tu *Tunables) { tu.ConnReuseMode, tu.ExpireNodestConn = 0, true })
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	r1 := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: r1, Port: 80, Weight: 1, Method: service.Route})
	c := ap(cip4, 7000)
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	if err := te.set.EditDest(k, service.DestParams{Addr: r1, Port: 80, Weight: 0, Method: service.Route}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	out := te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	if ev := te.e.Counters().Events; out.Action != link.Tx || ev[EventReschedule] != 0 || ev[EventNoDestICMP] != 0 {
		t.Fatalf("retransmitted SYN with conn_reuse_mode 0 on a quiesced server: %v, events %v; want it forwarded on its connection", out.Action, ev)
	}
}
