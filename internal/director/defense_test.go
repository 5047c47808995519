package director

import (
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/state"
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/defense"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// defenseEngine is a NAT service with one real server, ready for floods.
func defenseEngine(t *testing.T) *testEngine {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 8080, Weight: 1, Method: service.Masq})
	return te
}

// syn sends a SYN from client i and returns the verdict.
func (te *testEngine) syn(i int) link.Action {
	c := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	return te.send(tcpFrame(clientMAC, dirMAC, ap(c, uint16(1024+i)), ap(vip4, 80), packet.TCPSyn, "")).Action
}

// TestDropPacketAlways: drop_packet 3 drops one of every am_droprate
// new-connection packets, counts them, and never touches packets of
// existing connections.
func TestDropPacketAlways(t *testing.T) {
	te := defenseEngine(t)
	te.tune(func(tu *Tunables) { tu.Defense.DropPacket, tu.Defense.AmDropRate = 3, 4 })
	got := ""
	for i := range 12 {
		if te.syn(i) == link.Drop {
			got += "D"
		} else {
			got += "."
		}
	}
	if got != "...D...D...D" {
		t.Errorf("drop_packet 3, am_droprate 4: %s", got)
	}
	if n := te.e.Counters().Drops[ReasonDropPacket]; n != 3 {
		t.Errorf("drop_packet counted %d drops, want 3", n)
	}
	// A retransmitted SYN of an existing connection is not a new one.
	for range 8 {
		if te.syn(0) != link.Tx {
			t.Fatal("a packet of an existing connection was dropped")
		}
	}
}

// TestAutomaticDefenses: with every defense automatic, filling the table
// until the budget's headroom falls below amemthresh turns them on at the
// next once-a-second update (the levels written back as 2, drop_packet at
// the rate the headroom gives, the secure_tcp tables); when the entries
// are gone they switch off again (levels back to 1).
func TestAutomaticDefenses(t *testing.T) {
	te := defenseEngine(t)
	start := te.e.AvailablePages()
	te.tune(func(tu *Tunables) {
		tu.Defense = defense.Settings{DropEntry: 1, DropPacket: 1, SecureTCP: 1, AmemThresh: int(start - 1), AmDropRate: 10}
	})
	if d := te.e.Defense(); d.NoMem || d.DropRate != 0 || d.SecureTCP || d.DropEntry {
		t.Fatalf("with headroom: %+v", d)
	}
	// 2 pages of 32-byte slots: 256 entries.
	for i := range 300 {
		if te.syn(i) != link.Tx {
			t.Fatalf("SYN %d not forwarded before the defenses are on", i)
		}
	}
	te.now = te.now.Add(time.Second)
	te.e.Maintain(te.now, 100*time.Millisecond)
	d := te.e.Defense()
	wantRate := int((start - 1) / ((start - 1) - te.e.AvailablePages()))
	if !d.NoMem || !d.DropEntry || !d.SecureTCP || d.DropRate < 1 {
		t.Fatalf("short of memory: %+v", d)
	}
	if tu := te.e.Tunables().Defense; tu.DropEntry != 2 || tu.DropPacket != 2 || tu.SecureTCP != 2 {
		t.Errorf("levels not written back as 2: %+v", tu)
	}
	if d.DropRate != wantRate && d.DropRate != wantRate+1 && d.DropRate != wantRate-1 {
		t.Errorf("drop rate %d, want about %d", d.DropRate, wantRate)
	}
	// The drop_entry pass deleted half-open entries (SYN_RECV) already.
	if te.e.Counters().DropEntries == 0 {
		t.Error("no entry dropped by the first drop_entry pass")
	}
	// Time passes: SYN_RECV entries time out (60 s), memory is back.
	te.now = te.now.Add(2 * time.Minute)
	for range 20 {
		te.e.Maintain(te.now, time.Second)
		te.now = te.now.Add(time.Second)
	}
	if tu := te.e.Tunables().Defense; tu.DropEntry != 1 || tu.DropPacket != 1 || tu.SecureTCP != 1 {
		t.Errorf("levels not back to 1 after recovery: %+v (table %d entries)", tu, te.e.Table().Len())
	}
	if d := te.e.Defense(); d.NoMem || d.DropRate != 0 || d.SecureTCP || d.DropEntry {
		t.Errorf("after recovery: %+v", d)
	}
}

// TestDropEntryDrains: drop_entry 3 deletes SYN_RECV entries in random
// 1/32 slices of the table each second, so a SYN flood's InActConn drains
// over a few dozen passes, while an established connection that saw
// traffic within 60 s is kept.
func TestDropEntryDrains(t *testing.T) {
	te := defenseEngine(t)
	d := te.dest(service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}, families[0].rip(1), 8080)
	// One established connection.
	client := ap(cip4, 40000)
	te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPSyn, ""))
	te.send(tcpFrame(rsMAC(1), dirMAC, ap(families[0].rip(1), 8080), client, packet.TCPSyn|packet.TCPAck, ""))
	te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPAck, ""))
	const flood = 500
	for i := range flood {
		te.syn(i)
	}
	if got := d.Active.Load(); got != flood+1 {
		t.Fatalf("after the flood: %d active (SYN_RECV counts as active), want %d", got, flood+1)
	}
	te.tune(func(tu *Tunables) { tu.Defense.DropEntry = 3 })
	passes := 0
	for te.e.Table().Len() > 1 && passes < 400 {
		te.now = te.now.Add(time.Second / 10) // keep SYN_RECV (60 s) from expiring on its own
		te.e.lastDefend = 0
		te.e.Maintain(te.now, 0)
		passes++
	}
	if n := te.e.Table().Len(); n != 1 {
		t.Fatalf("%d entries left after %d passes", n, passes)
	}
	t.Logf("%d SYN_RECV entries drained in %d passes of 1/32 of the table", flood, passes)
	if passes < 16 {
		t.Errorf("drained in %d passes: a pass must look at only 1/32 of the buckets", passes)
	}
	if got := d.Active.Load(); got != 1 {
		t.Errorf("the established connection was not kept (active %d)", got)
	}
}

// TestOverloadForward: with the table full, overload mode forwards a new
// connection of an sh service with DR by hash, without an entry, to the
// server sh would pick anyway; a NAT service still refuses (its replies
// need the entry), as do all services with the mode off; established
// connections keep their entries and flow.
func TestOverloadForward(t *testing.T) {
	neigh := staticNeighbors{cip4: clientMAC}
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6}}, Neighbors: neigh, TableBits: 8, TableBudget: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: 1_000_000_000_000}
	dr := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	nat := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 81}
	te.addService(service.ServiceConfig{Key: dr, Sched: "sh"})
	te.addService(service.ServiceConfig{Key: nat, Sched: "sh"})
	for i := 1; i <= 3; i++ {
		te.addDest(dr, i, service.DestParams{Addr: families[0].rip(i), Port: 80, Weight: 1, Method: service.Route})
		te.addDest(nat, i, service.DestParams{Addr: families[0].rip(i), Port: 8080, Weight: 1, Method: service.Masq})
	}
	synTo := func(i int, port uint16) link.Frame {
		c := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
		return te.send(tcpFrame(clientMAC, dirMAC, ap(c, uint16(1024+i)), ap(vip4, port), packet.TCPSyn, ""))
	}
	// Fill the table.
	full := -1
	for i := range 1 << 14 {
		if synTo(i, 80).Action == link.Drop {
			full = i
			break
		}
	}
	if full < 0 || te.e.Counters().Drops[ReasonTableFull] != 1 {
		t.Fatalf("table never filled (first refusal at %d, %+v)", full, te.e.Counters().Drops)
	}
	before := te.e.Table().Len()
	te.tune(func(tu *Tunables) { tu.OverloadForward = true })
	out := synTo(full, 80)
	if out.Action != link.Tx {
		t.Fatalf("overload mode: new DR connection %v, want forwarded", out.Action)
	}
	if te.e.Counters().Events[EventOverloadForward] != 1 || te.e.Table().Len() != before {
		t.Errorf("overload forward: events %v, table %d → %d entries", te.e.Counters().Events, before, te.e.Table().Len())
	}
	// Forwarded to sh's choice: the same server each time.
	first := out.Bytes()[:6]
	again := synTo(full, 80)
	if string(again.Bytes()[:6]) != string(first) {
		t.Error("overload mode sent the same client to another server")
	}
	if synTo(full+1, 81).Action != link.Drop {
		t.Error("a NAT service forwarded statelessly; its replies would not be translated")
	}
	// An existing connection still flows.
	if synTo(0, 80).Action != link.Tx {
		t.Error("an existing connection was refused")
	}
}

// TestDebugTrace: at debug level 0 nothing is recorded; at 1 a drop is,
// with its reason and addresses; at 2 also the real server a new
// connection got.
func TestDebugTrace(t *testing.T) {
	te := defenseEngine(t)
	drain := func() (recs []TraceRecord) {
		te.e.DrainTrace(func(_ int, r TraceRecord) { recs = append(recs, r) })
		return recs
	}
	te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 5000), ap(vip4, 80), packet.TCPAck, "")) // no SYN: passed, no entry
	if recs := drain(); len(recs) != 0 {
		t.Fatalf("level 0 recorded %+v", recs)
	}
	te.tune(func(tu *Tunables) { tu.DebugLevel = 1 })
	te.send(tcpFrame(clientMAC, dirMAC, ap(cip4, 5000), ap(vip4, 80), packet.TCPAck, ""))
	te.syn(1)
	recs := drain()
	if len(recs) != 1 || recs[0].What != "pass_no_create" || recs[0].Src != cip4 || recs[0].DstPort != 80 {
		t.Fatalf("level 1: %+v", recs)
	}
	te.tune(func(tu *Tunables) { tu.DebugLevel = 2 })
	te.syn(2)
	recs = drain()
	if len(recs) != 1 || recs[0].What != "new_conn" || recs[0].Dest != ap(families[0].rip(1), 8080) {
		t.Fatalf("level 2: %+v", recs)
	}
}

// TestHostMemory: with host_memory the host's free memory counts too,
// whichever is smaller; without it only the budget's headroom does.
func TestHostMemory(t *testing.T) {
	host := int64(100)
	e, err := New(Config{Ports: []Port{{MAC: dirMAC}}, Neighbors: staticNeighbors{}, TableBits: 8,
		HostAvailablePages: func() (int64, error) { return host, nil }})
	if err != nil {
		t.Fatal(err)
	}
	budget := e.AvailablePages()
	if budget <= host {
		t.Fatalf("budget headroom %d pages: the test needs more than %d", budget, host)
	}
	tu := DefaultTunables()
	tu.Defense.DropPacket, tu.Defense.AmemThresh = 1, int(host+1)
	e.SetTunables(tu)
	if e.Defense().NoMem {
		t.Error("host memory counted without host_memory")
	}
	tu.HostMemory = true
	e.SetTunables(tu)
	if got := e.AvailablePages(); got != host {
		t.Errorf("available %d pages, want the host's %d", got, host)
	}
	if d := e.Defense(); !d.NoMem || d.DropRate != int(host+1) {
		t.Errorf("host short of memory: %+v", d)
	}
}

// TestSynStateless: a syn_proxy DR service with sh forwards SYNs without
// entries (a flood of them leaves the table empty); the client's ACK
// makes the entry, ESTABLISHED, on the server the SYN went to, and the
// connection then flows as usual.
func TestSynStateless(t *testing.T) {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 80, Weight: 1, Method: service.Route})
	}
	for i := range 300 {
		if te.syn(i) != link.Tx {
			t.Fatalf("SYN %d not forwarded", i)
		}
	}
	if n := te.e.Table().Len(); n != 0 {
		t.Fatalf("a SYN flood left %d entries", n)
	}
	if got := te.e.Counters().Events[EventSynStateless]; got != 300 {
		t.Errorf("syn_stateless %d, want 300", got)
	}
	client := ap(cip4, 40000)
	syn := te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPSyn, ""))
	ack := te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPAck, ""))
	if syn.Action != link.Tx || ack.Action != link.Tx || string(syn.Bytes()[:6]) != string(ack.Bytes()[:6]) {
		t.Fatalf("SYN %v and ACK %v must go to the same server", syn.Action, ack.Action)
	}
	if n := te.e.Table().Len(); n != 1 {
		t.Fatalf("the ACK made %d entries, want 1", n)
	}
	var st uint8
	te.e.Table().Range(func(idx uint32, _ *conntrack.Entry) bool {
		st = te.e.Table().ConnLocked(idx, te.now).State
		return false
	})
	if state.TCPState(st) != state.TCPEstablished {
		t.Errorf("entry state %v, want ESTABLISHED", state.TCPState(st))
	}
	data := te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPAck|packet.TCPPsh, "GET /"))
	if data.Action != link.Tx || string(data.Bytes()[:6]) != string(syn.Bytes()[:6]) {
		t.Error("data of the connection did not follow its entry")
	}
	// Without the flag an ACK alone makes nothing.
	k2 := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 81}
	te.addService(service.ServiceConfig{Key: k2, Sched: "sh"})
	te.addDest(k2, 1, service.DestParams{Addr: families[0].rip(1), Port: 81, Weight: 1, Method: service.Route})
	if te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 81), packet.TCPAck, "")).Action != link.Pass {
		t.Error("an ACK without syn_proxy created a connection")
	}
}

// TestSourceRate: a service's source_rate lets one client a second's worth
// of packets at once and then that many per second, new connections and
// established ones alike, dropped as rate_limit before the state machine;
// other clients and other services are not affected.
func TestSourceRate(t *testing.T) {
	te := defenseEngine(t)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	if err := te.set.EditService(service.ServiceConfig{Key: k, Sched: "rr", SourceRate: 10}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	client := ap(cip4, 40000)
	syn := tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPSyn, "")
	ack := tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPAck, "x")
	if te.send(syn).Action != link.Tx {
		t.Fatal("first SYN not forwarded")
	}
	passed := 1
	for range 30 {
		if te.send(ack).Action == link.Tx {
			passed++
		}
	}
	if passed != 10 {
		t.Errorf("%d of 31 packets at once passed, want 10 (a second's worth)", passed)
	}
	if n := te.e.Counters().Drops[ReasonRateLimit]; n != 21 {
		t.Errorf("rate_limit drops %d, want 21", n)
	}
	te.now = te.now.Add(500 * time.Millisecond)
	passed = 0
	for range 10 {
		if te.send(ack).Action == link.Tx {
			passed++
		}
	}
	if passed != 5 {
		t.Errorf("after 0.5 s %d passed, want 5", passed)
	}
	// Another client is not limited by the first one's use.
	if te.syn(7) != link.Tx {
		t.Error("another client's SYN was limited")
	}
}

// TestConnRate: a service's conn_rate holds each connection (client
// address and port) to its rate, while another connection of the same
// client keeps its own second's worth.
func TestConnRate(t *testing.T) {
	te := defenseEngine(t)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	if err := te.set.EditService(service.ServiceConfig{Key: k, Sched: "rr", ConnRate: 8}); err != nil {
		t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
	run := func(port uint16, n int) (passed int) {
		c := ap(cip4, port)
		if te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, "")).Action == link.Tx {
			passed++
		}
		ack := tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPAck, "x")
		for range n - 1 {
			if te.send(ack).Action == link.Tx {
				passed++
			}
		}
		return passed
	}
	if got := run(40000, 20); got != 8 {
		t.Errorf("first connection: %d of 20 packets at once passed, want 8", got)
	}
	if got := run(40001, 20); got != 8 {
		t.Errorf("second connection of the same client: %d of 20 passed, want 8 (its own bucket)", got)
	}
	if n := te.e.Counters().Drops[ReasonRateLimit]; n != 24 {
		t.Errorf("rate_limit drops %d, want 24", n)
	}
	te.now = te.now.Add(time.Second)
	ack := tcpFrame(clientMAC, dirMAC, ap(cip4, 40000), ap(vip4, 80), packet.TCPAck, "x")
	passed := 0
	for range 20 {
		if te.send(ack).Action == link.Tx {
			passed++
		}
	}
	if passed != 8 {
		t.Errorf("a second later %d passed, want 8", passed)
	}
}
