package director

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// TestFwmarkService: a firewall-mark service gathers two VIPs and a port
// range; with persistence the client keeps one server across all of them,
// and the connection keeps its original destination port (dest port 0).
func TestFwmarkService(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{FwMark: 7, Addr: netip.IPv4Unspecified()}
	if err := te.set.SetMarkRules([]service.MarkRule{
		{Proto: packet.ProtoTCP, Dst: netip.MustParsePrefix("10.0.0.96/27"), PortLo: 8000, PortHi: 8099, Mark: 7},
	}); err != nil {
		t.Fatal(err)
	}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr", Flags: service.FlagPersistent, Timeout: 600})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 0, Weight: 1, Method: service.Route})
	}
	first := -1
	for j, dst := range []netip.AddrPort{ap(vip4, 8000), ap(netip.MustParseAddr("10.0.0.101"), 8050), ap(vip4, 8099)} {
		out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, uint16(5000+j)), dst, packet.TCPSyn, ""))
		if out.Action != link.Tx {
			t.Fatalf("%v: action %v", dst, out.Action)
		}
		srv := int(out.Bytes()[5])
		if first < 0 {
			first = srv
		} else if srv != first {
			t.Fatalf("%v went to server %d, the fwmark template says %d", dst, srv, first)
		}
	}
	// Outside the rule: not ours.
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 6000), ap(vip4, 8100), packet.TCPSyn, "")); out.Action != link.Pass {
		t.Fatalf("port 8100 (outside the rule): %v", out.Action)
	}
	d := te.dest(k, families[0].rip(first), 0)
	if got := counts(d); got != [3]int32{3, 0, 1} {
		t.Fatalf("counters %v, want 3 active and 1 persistent template", got)
	}
	if err := te.set.SetMarkRules([]service.MarkRule{{Dst: netip.MustParsePrefix("10.0.0.0/8")}}); err == nil {
		t.Fatal("mark 0 accepted")
	}
}

// TestExpireNodestConn: removing a destination with expire_nodest_conn set
// removes its connections on the next sweep, and their next packet is
// scheduled anew; without it, the packets of such connections are dropped
// (the kernel's default).
func TestExpireNodestConn(t *testing.T) {
	for _, expire := range []bool{false, true} {
		te := newTestEngine(t, 8)
		te.tune(func(tu *Tunables) { tu.ExpireNodestConn = expire })
		k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
		te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
		r1, r2 := families[0].rip(1), families[0].rip(2)
		te.addDest(k, 1, service.DestParams{Addr: r1, Port: 80, Weight: 1, Method: service.Route})
		c := ap(cip4, 7000)
		te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
		te.addDest(k, 2, service.DestParams{Addr: r2, Port: 80, Weight: 1, Method: service.Route})
		d1 := te.dest(k, r1, 80)
		if err := te.set.DelDest(k, r1, 80, te.now); err != nil {
			t.Fatal(err)
		}
		te.e.Publish(te.set.Snapshot())
		te.now = te.now.Add(time.Second)
		te.e.Maintain(te.now, time.Second)
		out := te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""))
		if !expire {
			if out.Action != link.Drop || te.e.Counters().Drops[ReasonNoDestConn] != 1 || te.e.Table().Len() != 1 {
				t.Fatalf("expire_nodest_conn=0: action %v, counters %+v", out.Action, te.e.Counters())
			}
			continue
		}
		if got := counts(d1); got != [3]int32{0, 0, 0} {
			t.Fatalf("expire_nodest_conn=1: removed dest still counts %v after the sweep", got)
		}
		// The ACK of the old connection is not a SYN: it may not create one.
		if out.Action != link.Pass {
			t.Fatalf("expire_nodest_conn=1: ACK after the sweep: %v", out.Action)
		}
	}
}

// TestUpperThreshold: a server at its upper threshold takes no new
// connections until its count falls below 3/4 of it.
func TestUpperThreshold(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 9000}
	te.addService(service.ServiceConfig{Key: k, Sched: "wlc"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 9000, Weight: 1, UThreshold: 4, Method: service.Route})
	for p := uint16(1); p <= 4; p++ {
		if out := te.send(udpFrame(clientMAC, dirMAC, ap(cip4, p), ap(vip4, 9000), "x")); out.Action != link.Tx {
			t.Fatalf("conn %d refused below the threshold", p)
		}
	}
	d := te.dest(k, families[0].rip(1), 9000)
	if !d.Overloaded() {
		t.Fatal("not OVERLOAD at the upper threshold")
	}
	out := te.send(udpFrame(clientMAC, dirMAC, ap(cip4, 5), ap(vip4, 9000), "x"))
	if out.Action != link.Tx || te.e.Counters().Events[EventNoDestICMP] != 1 {
		t.Fatalf("5th connection: want ICMP unreachable, got %v", out.Action)
	}
	// UDP entries live 300 s; after that the overload clears.
	te.now = te.now.Add(301 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if d.Overloaded() {
		t.Fatal("OVERLOAD not cleared after the connections expired")
	}
}

// TestSecureTCPAndSloppy: secure_tcp needs the full handshake before
// ESTABLISHED; sloppy_tcp lets a mid-stream ACK create a connection.
func TestSecureTCPAndSloppy(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Masq})
	te.tune(func(tu *Tunables) { tu.Defense.SecureTCP = 3 })
	stateNow := func() (st uint8) {
		te.e.Table().Range(func(_ uint32, e *conntrack.Entry) bool { st = e.State(); return true })
		return st
	}
	c := ap(cip4, 8000)
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""))
	if st := stateNow(); st != 3 { // SYN_RECV: under the dos tables an ACK does not establish
		t.Fatalf("secure_tcp: SYN then client ACK gave state %d, want SYN_RECV (3)", st)
	}
	te.send(tcpFrame(rsMAC(1), dirMAC, ap(rip, 80), c, packet.TCPSyn|packet.TCPAck, ""))
	if st := stateNow(); st != 10 {
		t.Fatalf("secure_tcp: server SYN+ACK gave state %d, want SYNACK (10)", st)
	}
	te.e.Table().Flush(te.now)
	// A bare ACK of an unknown flow creates nothing unless sloppy_tcp.
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 8001), ap(vip4, 80), packet.TCPAck, "")); out.Action != link.Pass {
		t.Fatalf("mid-stream ACK without sloppy_tcp: %v", out.Action)
	}
	te.tune(func(tu *Tunables) { tu.Defense.SecureTCP, tu.SloppyTCP = 3, true })
	if out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 8002), ap(vip4, 80), packet.TCPAck, "")); out.Action != link.Tx {
		t.Fatalf("mid-stream ACK with sloppy_tcp: %v", out.Action)
	}
}

// TestResetAndIdleTimeout: a reset sends the connection to CLOSE (10 s,
// inactive); an idle ESTABLISHED connection lives exactly its 900 s.
func TestResetAndIdleTimeout(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 80, Weight: 1, Method: service.Masq})
	d := te.dest(k, rip, 80)
	open := func(port uint16) netip.AddrPort {
		c := ap(cip4, port)
		te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
		te.send(tcpFrame(rsMAC(1), dirMAC, ap(rip, 80), c, packet.TCPSyn|packet.TCPAck, ""))
		te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""))
		return c
	}
	c := open(9000)
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPRst, ""))
	if got := counts(d); got != [3]int32{0, 1, 0} {
		t.Fatalf("after RST: %v, want inactive (CLOSE)", got)
	}
	te.now = te.now.Add(9 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if te.e.Table().Len() != 1 {
		t.Fatal("CLOSE entry gone before 10 s")
	}
	te.now = te.now.Add(2 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if te.e.Table().Len() != 0 || counts(d) != [3]int32{0, 0, 0} {
		t.Fatalf("CLOSE entry still there after 11 s: %v", counts(d))
	}

	open(9001)
	te.now = te.now.Add(899 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if got := counts(d); got != [3]int32{1, 0, 0} {
		t.Fatalf("idle 899 s: %v, want still active", got)
	}
	te.now = te.now.Add(2 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if got := counts(d); got != [3]int32{0, 0, 0} || te.e.Table().Len() != 0 {
		t.Fatalf("idle 901 s: %v, want gone", got)
	}
}

// TestTimeoutsAtRunTime: `--set tcp tcpfin udp` takes effect on the next
// packet of existing connections.
func TestTimeoutsAtRunTime(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 9000}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 9000, Weight: 1, Method: service.Route})
	to := te.e.Timeouts()
	if err := to.SetTriple(0, 0, 5); err != nil {
		t.Fatal(err)
	}
	te.e.SetTimeouts(to)
	te.send(udpFrame(clientMAC, dirMAC, ap(cip4, 1), ap(vip4, 9000), "x"))
	te.now = te.now.Add(6 * time.Second)
	te.e.Maintain(te.now, time.Hour)
	if n := te.e.Table().Len(); n != 0 {
		t.Fatalf("UDP entry with a 5 s timeout alive after 6 s (%d entries)", n)
	}
}

// TestExpireQuiescentTemplate: a persistence template pointing at a
// quiesced (weight 0) server is still honoured by default; with
// expire_quiescent_template it is invalidated and the client rescheduled.
func TestExpireQuiescentTemplate(t *testing.T) {
	for _, expire := range []bool{false, true} {
		te := newTestEngine(t, 12)
		te.tune(func(tu *Tunables) { tu.ExpireQuiescentTemplate = expire })
		k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 443}
		te.addService(service.ServiceConfig{Key: k, Sched: "rr", Flags: service.FlagPersistent, Timeout: 300})
		r1, r2 := families[0].rip(1), families[0].rip(2)
		te.addDest(k, 1, service.DestParams{Addr: r1, Port: 443, Weight: 1, Method: service.Route})
		out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 1000), ap(vip4, 443), packet.TCPSyn, ""))
		if out.Bytes()[5] != 1 {
			t.Fatal("first connection not on server 1")
		}
		te.addDest(k, 2, service.DestParams{Addr: r2, Port: 443, Weight: 1, Method: service.Route})
		if err := te.set.EditDest(k, service.DestParams{Addr: r1, Port: 443, Weight: 0, Method: service.Route}); err != nil {
			t.Fatal(err)
		}
		te.e.Publish(te.set.Snapshot())
		out = te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 1001), ap(vip4, 443), packet.TCPSyn, ""))
		want := byte(1)
		if expire {
			want = 2
		}
		if out.Action != link.Tx || out.Bytes()[5] != want {
			t.Fatalf("expire_quiescent_template=%v: second connection on server %d, want %d", expire, out.Bytes()[5], want)
		}
	}
}

// TestSCTPNAT: an SCTP association through NAT: INIT creates the entry
// (INIT1), the CRC32c is recomputed after the port rewrite, and only an
// ESTABLISHED association counts as active.
func TestSCTPNAT(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoSCTP, Addr: vip4, Port: 3868}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 3869, Weight: 1, Method: service.Masq})
	d := te.dest(k, rip, 3869)
	sctp := func(src, dst netip.AddrPort, srcMAC [6]byte, chunk uint8) []byte {
		f := packet.Frame{
			Ethernet: packet.EthernetFields{Src: srcMAC, Dst: dirMAC},
			IPv4:     &packet.IPv4Fields{TTL: 64, Src: src.Addr(), Dst: dst.Addr()},
			SCTP:     &packet.SCTPFields{SrcPort: src.Port(), DstPort: dst.Port(), Chunks: []packet.SCTPChunk{{Type: chunk, Value: make([]byte, 16)}}},
		}
		return packet.AppendFrame(nil, &f)
	}
	c := ap(cip4, 5000)
	// DATA before INIT creates nothing.
	if out := te.send(sctp(c, ap(vip4, 3868), clientMAC, 0)); out.Action != link.Pass {
		t.Fatalf("DATA without association: %v", out.Action)
	}
	out := te.send(sctp(c, ap(vip4, 3868), clientMAC, packet.SCTPInit))
	if out.Action != link.Tx {
		t.Fatalf("INIT: %v", out.Action)
	}
	var p packet.Parsed
	if packet.Decode(out.Bytes(), &p) != packet.OK || p.DstPort != 3869 || !packet.VerifyL4Checksum(out.Bytes(), &p) {
		t.Fatalf("INIT rewritten to port %d, CRC ok %v", p.DstPort, packet.VerifyL4Checksum(out.Bytes(), &p))
	}
	if got := counts(d); got != [3]int32{0, 1, 0} {
		t.Fatalf("after INIT: %v, want inactive", got)
	}
	te.send(sctp(ap(rip, 3869), c, rsMAC(1), packet.SCTPInitAck))
	te.send(sctp(c, ap(vip4, 3868), clientMAC, packet.SCTPCookieEcho))
	te.send(sctp(ap(rip, 3869), c, rsMAC(1), packet.SCTPCookieAck))
	if got := counts(d); got != [3]int32{1, 0, 0} {
		t.Fatalf("after the 4-way handshake: %v, want active (ESTABLISHED)", got)
	}
}
