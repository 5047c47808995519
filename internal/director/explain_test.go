package director

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// explainTCP asks about a TCP packet from client to vip with flags (0 =
// SYN) at te's clock.
func (te *testEngine) explainTCP(client, vip netip.AddrPort, flags packet.TCPFlags) Explanation {
	return te.e.Explain(ExplainQuery{Proto: packet.ProtoTCP, Client: client, Virtual: vip, TCPFlags: flags, Now: te.now})
}

// serverOf is the number i of the rsMAC(i) a transmitted frame went to.
func serverOf(f link.Frame) int { return int(f.Bytes()[5]) }

// agree sends the packet Explain was asked about and checks that the
// packet path did what the explanation said.
func agree(t *testing.T, te *testEngine, ex Explanation, frame []byte, server int) {
	t.Helper()
	out := te.send(frame)
	switch ex.Action {
	case ActionForward:
		if out.Action != link.Tx || serverOf(out) != server {
			t.Fatalf("explained %s to server %d (%s); the packet: %v to %d", ex.Kind, server, ex.Why, out.Action, serverOf(out))
		}
	case ActionHost:
		if out.Action != link.Pass {
			t.Fatalf("explained %s to the host (%s); the packet: %v", ex.Kind, ex.Why, out.Action)
		}
	case ActionUnreachable:
		if out.Action != link.Tx || te.e.Counters().Events[EventNoDestICMP] == 0 {
			t.Fatalf("explained ICMP unreachable (%s); the packet: %v, counters %+v", ex.Why, out.Action, te.e.Counters())
		}
	case ActionDrop:
		if out.Action != link.Drop {
			t.Fatalf("explained a drop (%s); the packet: %v", ex.Why, out.Action)
		}
	}
}

// rrService is a round-robin TCP service on fam's VIP port 80 with three
// direct-routing servers 1..3.
func rrService(te *testEngine, fam family, cfg service.ServiceConfig) service.Key {
	k := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
	cfg.Key = k
	if cfg.Sched == "" {
		cfg.Sched = "rr"
	}
	te.addService(cfg)
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: fam.rip(i), Port: 80, Weight: 1, Method: service.Route})
	}
	return k
}

// TestExplainScheduler: for a new connection of an rr service, two
// explains in a row name the same server, the SYN then goes there, the
// next client is explained to the next server and goes there too, and an
// explain of the first client now reports its connection.
func TestExplainScheduler(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 12)
			k := rrService(te, fam, service.ServiceConfig{})
			vip := ap(fam.vip, 80)
			prev := 0
			for j := range 5 {
				c := ap(fam.cip, uint16(40000+j))
				a, b := te.explainTCP(c, vip, 0), te.explainTCP(c, vip, 0)
				if a.Kind != ExplainScheduler || a.Action != ActionForward || a.Dest == nil {
					t.Fatalf("client %d: %+v", j, a)
				}
				if b.Dest != a.Dest || b.Kind != a.Kind {
					t.Fatalf("client %d: explained to %v, then to %v", j, a.Dest.Addr, b.Dest.Addr)
				}
				server := int(a.Dest.Addr.As16()[15] & 0x0f)
				if fam.name == "ipv4" {
					server = int(a.Dest.Addr.As4()[3])
				}
				if server == prev {
					t.Fatalf("client %d: rr explained to the same server %d twice running", j, server)
				}
				prev = server
				if a.Service == nil || a.Service.Key != k || a.Method != service.Route || a.DPort != 80 ||
					!strings.Contains(a.Why, "rr scheduler picks "+netip.AddrPortFrom(a.Dest.Addr, 80).String()) {
					t.Fatalf("client %d: %+v", j, a)
				}
				agree(t, te, a, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""), server)

				again := te.explainTCP(c, vip, packet.TCPAck)
				if again.Kind != ExplainConnection || again.Dest != a.Dest || again.State != "SYN_RECV" ||
					again.Remaining <= 0 || again.Remaining > time.Minute+time.Second || !strings.Contains(again.Why, "existing connection") {
					t.Fatalf("client %d after its SYN: %+v", j, again)
				}
				agree(t, te, again, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPAck, ""), server)
			}
		})
	}
}

// TestExplainChangesNothing: explains of every kind, many times over,
// leave the table, every counter and the scheduler's sequence exactly as
// they were: the servers picked for ten new connections are the same with
// and without explains between them, and a dead entry in the table is not
// freed by an explain (a lookup would free it).
func TestExplainChangesNothing(t *testing.T) {
	picks := func(explain bool) (seq []int, te *testEngine) {
		te = newTestEngine(t, 8)
		k := rrService(te, families[0], service.ServiceConfig{})
		pk := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 443}
		te.addService(service.ServiceConfig{Key: pk, Sched: "wrr", Flags: service.FlagPersistent, Timeout: 300})
		te.addDest(pk, 4, service.DestParams{Addr: families[0].rip(4), Port: 443, Weight: 2, Method: service.Route})
		te.addDest(pk, 5, service.DestParams{Addr: families[0].rip(5), Port: 443, Weight: 1, Method: service.Route})
		// A connection that will be dead by the time of the explains.
		te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 999), ap(vip4, 80), packet.TCPSyn, ""))
		te.now = te.now.Add(2 * time.Minute)
		for j := range 10 {
			if explain {
				before := snapshotState(te, k, pk)
				for range 2 { // not a multiple of rr's 3 or wrr's cycle: a moved cursor shows
					for _, q := range []ExplainQuery{
						{Proto: packet.ProtoTCP, Client: ap(cip4, uint16(41000+j)), Virtual: ap(vip4, 80)},
						{Proto: packet.ProtoTCP, Client: ap(cip4, 999), Virtual: ap(vip4, 80), TCPFlags: packet.TCPAck},
						{Proto: packet.ProtoTCP, Client: ap(cip4, uint16(41000+j)), Virtual: ap(vip4, 443)},
						{Proto: packet.ProtoTCP, Client: ap(cip4, 40000), Virtual: ap(vip4, 443), TCPFlags: packet.TCPAck},
						{Proto: packet.ProtoUDP, Client: ap(cip4, 5000), Virtual: ap(vip4, 53)},
					} {
						q.Now = te.now
						te.e.Explain(q)
					}
				}
				if after := snapshotState(te, k, pk); after != before {
					t.Fatalf("explains changed the state:\n before %+v\n after  %+v", before, after)
				}
			}
			out := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, uint16(41000+j)), ap(vip4, 80), packet.TCPSyn, ""))
			seq = append(seq, serverOf(out))
			out = te.send(tcpFrame(clientMAC, dirMAC, ap(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + j)}), 40000), ap(vip4, 443), packet.TCPSyn, ""))
			seq = append(seq, serverOf(out))
		}
		return seq, te
	}
	plain, _ := picks(false)
	with, _ := picks(true)
	if len(plain) != len(with) {
		t.Fatal("different lengths")
	}
	for i := range plain {
		if plain[i] != with[i] {
			t.Fatalf("servers picked without explains %v, with %v", plain, with)
		}
	}
}

// engineState is everything an explain must leave alone.
type engineState struct {
	len                int64
	inserted, expired  uint64
	counters           Counters
	dests              [6][3]int32
	svcConns, svcPkts  uint64
	totalConns, totalI uint64
}

func snapshotState(te *testEngine, keys ...service.Key) engineState {
	st := engineState{len: te.e.Table().Len(), counters: te.e.Counters()}
	ts := te.e.Table().Stats()
	st.inserted, st.expired = ts.Inserted, ts.Expired
	for _, k := range keys {
		svc := te.e.Snapshot().Find(k)
		for _, d := range svc.Dests {
			st.dests[d.ID%6] = counts(d)
		}
		s := svc.Stats.Sum()
		st.svcConns += s.Conns
		st.svcPkts += s.InPkts
	}
	tot := te.e.Stats().Sum()
	st.totalConns, st.totalI = tot.Conns, tot.InPkts
	return st
}

// TestExplainTemplate: with persistence, a second connection of a client
// is explained by its template (to the server of the first, although the
// scheduler would pick another), and goes there.
func TestExplainTemplate(t *testing.T) {
	te := newTestEngine(t, 12)
	rrService(te, families[0], service.ServiceConfig{Flags: service.FlagPersistent, Timeout: 600, Netmask: 24})
	vip := ap(vip4, 80)
	first := te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 1000), vip, packet.TCPSyn, ""))
	if first.Action != link.Tx {
		t.Fatalf("first SYN: %v", first.Action)
	}
	neighbour := ap(netip.MustParseAddr("192.0.2.200"), 2000) // same /24: same template
	ex := te.explainTCP(neighbour, vip, 0)
	if ex.Kind != ExplainTemplate || ex.Action != ActionForward || int(ex.Dest.Addr.As4()[3]) != serverOf(first) ||
		ex.State != "NONE" || ex.Remaining <= 9*time.Minute || !strings.Contains(ex.Why, "192.0.2.0/24") {
		t.Fatalf("explained %+v; the first connection went to server %d", ex, serverOf(first))
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, neighbour, vip, packet.TCPSyn, ""), serverOf(first))

	other := ap(netip.MustParseAddr("198.51.100.9"), 3000) // another network: the scheduler, and a note about the template to come
	ex = te.explainTCP(other, vip, 0)
	if ex.Kind != ExplainScheduler || int(ex.Dest.Addr.As4()[3]) == serverOf(first) || !hasNote(ex, "persistence template for client 198.51.100.0/24") {
		t.Fatalf("another network: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, other, vip, packet.TCPSyn, ""), int(ex.Dest.Addr.As4()[3]))
}

func hasNote(ex Explanation, s string) bool {
	for _, n := range ex.Notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// TestExplainNoServiceNoDestNotCreated: the ways a packet is not
// forwarded, each checked against the packet path.
func TestExplainNoServiceNoDestNotCreated(t *testing.T) {
	te := newTestEngine(t, 12)
	rrService(te, families[0], service.ServiceConfig{})
	empty := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 8080}
	te.addService(service.ServiceConfig{Key: empty, Sched: "wlc"})
	c := ap(cip4, 5555)

	ex := te.explainTCP(c, ap(vip4, 81), 0)
	if ex.Kind != ExplainNoService || ex.Action != ActionHost || ex.Service != nil || !strings.Contains(ex.Why, "TCP 10.0.0.100:81") {
		t.Fatalf("port 81: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 81), packet.TCPSyn, ""), 0)

	ex = te.explainTCP(c, ap(vip4, 8080), 0)
	if ex.Kind != ExplainNoDestination || ex.Action != ActionUnreachable || ex.Service == nil || ex.Dest != nil {
		t.Fatalf("empty service: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 8080), packet.TCPSyn, ""), 0)

	te.tune(func(tu *Tunables) { tu.NoICMPUnreachable = true })
	ex = te.explainTCP(c, ap(vip4, 8080), 0)
	if ex.Kind != ExplainNoDestination || ex.Action != ActionDrop || !strings.Contains(ex.Why, "no_icmp_unreachable") {
		t.Fatalf("empty service, no_icmp_unreachable: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 8080), packet.TCPSyn, ""), 0)

	ex = te.explainTCP(c, ap(vip4, 80), packet.TCPAck)
	if ex.Kind != ExplainNotCreated || ex.Action != ActionHost || !strings.Contains(ex.Why, "flags ACK") {
		t.Fatalf("ACK without a connection: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, ""), 0)

	// All servers quiesced: no destination.
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	for i := 1; i <= 3; i++ {
		if err := te.set.EditDest(k, service.DestParams{Addr: families[0].rip(i), Port: 80, Weight: 0, Method: service.Route}); err != nil {
			t.Fatal(err)
		}
	}
	te.e.Publish(te.set.Snapshot())
	te.tune(func(tu *Tunables) {})
	ex = te.explainTCP(c, ap(vip4, 80), 0)
	if ex.Kind != ExplainNoDestination || ex.Action != ActionUnreachable {
		t.Fatalf("every server quiesced: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""), 0)
}

// TestExplainRefusedAndReplaced: a connection whose server was removed is
// explained as dropped (expire_nodest_conn off) or replaced by a new
// scheduling (on); a finished connection's port reused by a SYN is
// explained as replaced.
func TestExplainRefusedAndReplaced(t *testing.T) {
	for _, expire := range []bool{false, true} {
		te := newTestEngine(t, 8)
		te.tune(func(tu *Tunables) { tu.ExpireNodestConn = expire })
		k := rrService(te, families[0], service.ServiceConfig{})
		c, vip := ap(cip4, 7000), ap(vip4, 80)
		first := te.send(tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""))
		if err := te.set.DelDest(k, families[0].rip(serverOf(first)), 80, te.now); err != nil {
			t.Fatal(err)
		}
		te.e.Publish(te.set.Snapshot())
		ex := te.explainTCP(c, vip, packet.TCPAck)
		if !expire {
			if ex.Kind != ExplainRefused || ex.Action != ActionDrop || !strings.Contains(ex.Why, "was removed") {
				t.Fatalf("expire_nodest_conn=0: %+v", ex)
			}
			agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPAck, ""), 0)
			continue
		}
		// The ACK cannot open a new connection: after the replacement
		// it goes to the host.
		if ex.Kind != ExplainNotCreated || !hasNote(ex, "was removed and expire_nodest_conn is set") {
			t.Fatalf("expire_nodest_conn=1, ACK: %+v", ex)
		}
		ex = te.explainTCP(c, vip, packet.TCPSyn)
		if ex.Kind != ExplainScheduler || int(ex.Dest.Addr.As4()[3]) == serverOf(first) {
			t.Fatalf("expire_nodest_conn=1, SYN: %+v", ex)
		}
		agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""), int(ex.Dest.Addr.As4()[3]))
	}

	// Port reuse: a connection in TIME_WAIT, then a SYN from the same port.
	te := newTestEngine(t, 8)
	rrService(te, families[0], service.ServiceConfig{})
	c, vip := ap(cip4, 7100), ap(vip4, 80)
	te.send(tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPAck, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPFin|packet.TCPAck, ""))
	te.send(tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPRst, ""))
	ex := te.explainTCP(c, vip, packet.TCPAck)
	if ex.Kind != ExplainConnection {
		t.Fatalf("closed connection, ACK: %+v", ex)
	}
	state := ex.State
	ex = te.explainTCP(c, vip, packet.TCPSyn)
	if ex.Kind != ExplainScheduler || !hasNote(ex, "is finished") {
		t.Fatalf("SYN on a %s connection: %+v", state, ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""), int(ex.Dest.Addr.As4()[3]))
}

// TestExplainTableFull: no room for the entry is explained as a refusal,
// and the packet is dropped.
func TestExplainTableFull(t *testing.T) {
	te := newTestEngine(t, 8)
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6}}, Neighbors: te.neigh, TableBits: 8, TableBudget: 40000})
	if err != nil {
		t.Fatal(err)
	}
	te.e, te.w = e, e.NewWorker() // a table of about 190 slots
	rrService(te, families[0], service.ServiceConfig{})
	vip := ap(vip4, 80)
	for j := 0; te.e.Table().HeadroomBytes() > 0; j++ {
		if j > 1000 {
			t.Fatal("the table never filled")
		}
		te.send(tcpFrame(clientMAC, dirMAC, ap(netip.AddrFrom4([4]byte{192, 0, byte(j >> 8), byte(j)}), uint16(1000+j%50000)), vip, packet.TCPSyn, ""))
	}
	c := ap(netip.MustParseAddr("203.0.113.1"), 4000)
	ex := te.explainTCP(c, vip, 0)
	if ex.Kind != ExplainRefused || ex.Action != ActionDrop || !strings.Contains(ex.Why, "table is full") {
		t.Fatalf("full table: %+v", ex)
	}
	agree(t, te, ex, tcpFrame(clientMAC, dirMAC, c, vip, packet.TCPSyn, ""), 0)
}

// TestExplainUDPAndFwmark: a UDP service found through a firewall mark
// given in the query, and through the engine's own mark rules.
func TestExplainUDPAndFwmark(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{FwMark: 9, Addr: netip.IPv4Unspecified()}
	te.addService(service.ServiceConfig{Key: k, Sched: "sh"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Weight: 1, Method: service.Route})
	q := ExplainQuery{Proto: packet.ProtoUDP, Client: ap(cip4, 5353), Virtual: ap(vip4, 53), Now: te.now}
	if ex := te.e.Explain(q); ex.Kind != ExplainNoService {
		t.Fatalf("no mark: %+v", ex)
	}
	q.FwMark = 9
	if ex := te.e.Explain(q); ex.Kind != ExplainScheduler || ex.Dest == nil || ex.DPort != 53 || ex.Service.Key != k {
		t.Fatalf("mark 9: %+v", ex)
	}
	if err := te.set.SetMarkRules([]service.MarkRule{{Dst: netip.MustParsePrefix("10.0.0.0/24"), Mark: 9}}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	q.FwMark = 0
	ex := te.e.Explain(q)
	if ex.Kind != ExplainScheduler || ex.Dest == nil {
		t.Fatalf("mark rule: %+v", ex)
	}
	agree(t, te, ex, udpFrame(clientMAC, dirMAC, q.Client, q.Virtual, "q"), 1)
	if ex := te.e.Explain(q); ex.Kind != ExplainConnection || ex.State != "UDP" {
		t.Fatalf("after the datagram: %+v", ex)
	}
}

// TestExplainInvalid: a bad query is answered with a sentence naming the
// bad field.
func TestExplainInvalid(t *testing.T) {
	te := newTestEngine(t, 8)
	for _, c := range []struct {
		q    ExplainQuery
		want string
	}{
		{ExplainQuery{Proto: packet.ProtoICMP, Client: ap(cip4, 1), Virtual: ap(vip4, 80)}, "protocol"},
		{ExplainQuery{Proto: packet.ProtoTCP, Virtual: ap(vip4, 80)}, "client"},
		{ExplainQuery{Proto: packet.ProtoTCP, Client: ap(cip4, 1)}, "virtual"},
		{ExplainQuery{Proto: packet.ProtoTCP, Client: ap(cip6, 1), Virtual: ap(vip4, 80)}, "address families"},
		{ExplainQuery{Proto: packet.ProtoTCP, Client: ap(cip4, 0), Virtual: ap(vip4, 80)}, "client: port 0"},
	} {
		ex := te.e.Explain(c.q)
		if ex.Kind != ExplainInvalid || !strings.Contains(ex.Why, c.want) {
			t.Errorf("%+v: %+v, want a message about %s", c.q, ex, c.want)
		}
	}
}
