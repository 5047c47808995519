package neigh

import (
	"net/netip"
	"sync"
	"testing"
)

// Synthetic routes and neighbours: ports are interfaces 10 (port 0) and 20
// (port 1); interface 30 is not a port.
var (
	testPorts = []Port{
		{Name: "p0", Index: 10, MAC: [6]byte{2, 0, 0, 0, 0, 0x10}},
		{Name: "p1", Index: 20, MAC: [6]byte{2, 0, 0, 0, 0, 0x20}},
	}
	macA = [6]byte{2, 0xaa, 0, 0, 0, 1}
	macB = [6]byte{2, 0xbb, 0, 0, 0, 2}
	macC = [6]byte{2, 0xcc, 0, 0, 0, 3}
	macG = [6]byte{2, 0x99, 0, 0, 0, 9}
)

func uni(table int, dst string, prio int, hops ...hopInfo) routeInfo {
	return routeInfo{Table: table, Dst: netip.MustParsePrefix(dst).Masked(), Type: rtnUnicast, Priority: prio, Hops: hops}
}

func hop(link int, gw string) hopInfo {
	h := hopInfo{LinkIndex: link}
	if gw != "" {
		h.Gw = netip.MustParseAddr(gw)
	}
	return h
}

func nb(link int, addr string, mac [6]byte, state int) neighInfo {
	return neighInfo{LinkIndex: link, Addr: netip.MustParseAddr(addr), MAC: mac, HasMAC: true, State: state}
}

func testTable(t *testing.T) *Table {
	t.Helper()
	routes := []routeInfo{
		uni(tableMain, "10.1.0.0/24", 0, hop(10, "")),
		uni(tableMain, "10.2.0.0/24", 0, hop(20, "")),
		uni(tableMain, "10.3.0.0/24", 0, hop(30, "")),
		uni(tableMain, "0.0.0.0/0", 0, hop(10, "10.1.0.254")),
		uni(tableMain, "192.0.2.0/24", 0, hop(20, "10.2.0.1")),
		uni(tableMain, "192.0.2.128/25", 0, hop(30, "10.3.0.1")), // more specific, out of a non-port
		uni(tableMain, "198.51.100.0/24", 100, hop(30, "10.3.0.1")),
		uni(tableMain, "198.51.100.0/24", 50, hop(20, "10.2.0.1")), // lower metric wins
		{Table: tableMain, Dst: netip.MustParsePrefix("203.0.113.0/24"), Type: 6 /* blackhole */},
		uni(tableMain, "100.64.0.0/16", 0, hop(30, "10.3.0.1"), hop(20, "10.2.0.1")), // multipath: port hop chosen
		uni(1000, "172.16.0.0/12", 0, hop(10, "")),                                   // other table: ignored
		{Table: tableLocal, Dst: netip.MustParsePrefix("10.1.0.1/32"), Type: 2 /* local */, Hops: []hopInfo{hop(10, "")}},
		{Table: tableLocal, Dst: netip.MustParsePrefix("10.1.0.255/32"), Type: 3 /* broadcast */, Hops: []hopInfo{hop(10, "")}},
		uni(tableMain, "2001:db8:1::/64", 256, hop(10, "")),
		uni(tableMain, "::/0", 1024, hop(20, "fe80::1")),
		{Table: tableLocal, Dst: netip.MustParsePrefix("2001:db8:1::1/128"), Type: 2, Hops: []hopInfo{hop(10, "")}},
	}
	neighs := []neighInfo{
		nb(10, "10.1.0.5", macA, nudReachable),
		nb(10, "10.1.0.6", macB, nudStale),
		nb(10, "10.1.0.7", macC, nudFailed),
		{LinkIndex: 10, Addr: netip.MustParseAddr("10.1.0.8"), State: nudIncomplete},
		nb(10, "10.1.0.254", macG, nudReachable),
		nb(20, "10.2.0.1", macC, nudPermanent),
		nb(20, "10.2.0.9", macA, nudDelay),
		nb(30, "10.3.0.1", macB, nudReachable),
		nb(10, "2001:db8:1::5", macA, nudReachable),
		nb(20, "fe80::1", macG, nudProbe),
		nb(10, "10.1.0.1", macA, nudNoARP), // own address: the local table wins anyway
	}
	tb, err := newTable(testPorts)
	if err != nil {
		t.Fatal(err)
	}
	tb.snap.Store(buildSnapshot(tb.ports, routes, neighs))
	return tb
}

func a16(s string) (bool, [16]byte) {
	a := netip.MustParseAddr(s)
	return a.Is6(), a.As16()
}

func TestResolveSnapshot(t *testing.T) {
	tb := testTable(t)
	cases := []struct {
		addr string
		ok   bool
		mac  [6]byte
		port uint16
		ask  bool // a resolution request is queued
	}{
		{"10.1.0.5", true, macA, 0, false},          // on-link, REACHABLE
		{"10.1.0.6", true, macB, 0, true},           // STALE: used, and re-confirmed
		{"10.1.0.7", false, [6]byte{}, 0, true},     // FAILED
		{"10.1.0.8", false, [6]byte{}, 0, true},     // INCOMPLETE
		{"10.1.0.9", false, [6]byte{}, 0, true},     // unknown on-link
		{"10.2.0.9", true, macA, 1, false},          // DELAY, port 1
		{"10.3.0.1", false, [6]byte{}, 0, false},    // out of a non-port
		{"8.8.8.8", true, macG, 0, false},           // default route via gateway
		{"192.0.2.5", true, macC, 1, false},         // gateway on port 1 (PERMANENT)
		{"192.0.2.200", false, [6]byte{}, 0, false}, // more specific route out of a non-port
		{"198.51.100.1", true, macC, 1, false},      // lower metric
		{"203.0.113.1", false, [6]byte{}, 0, false}, // blackhole
		{"100.64.1.1", true, macC, 1, false},        // multipath, port hop
		{"172.16.0.1", true, macG, 0, false},        // other table ignored: default route
		{"10.1.0.1", false, [6]byte{}, 0, false},    // own address (local table)
		{"10.1.0.255", false, [6]byte{}, 0, false},  // broadcast (local table)
		{"2001:db8:1::5", true, macA, 0, false},
		{"2001:db8:1::1", false, [6]byte{}, 0, false}, // own
		{"2001:db8:9::1", true, macG, 1, false},       // default via link-local gateway, PROBE
		{"2001:db8:1::77", false, [6]byte{}, 0, true},
	}
	for _, c := range cases {
		before := tb.requests.Load()
		v6, addr := a16(c.addr)
		mac, port, ok := tb.Resolve(v6, addr)
		if ok != c.ok || mac != c.mac || port != c.port {
			t.Errorf("Resolve(%s) = %x, %d, %v; want %x, %d, %v", c.addr, mac, port, ok, c.mac, c.port, c.ok)
		}
		if asked := tb.requests.Load() > before; asked != c.ask {
			t.Errorf("Resolve(%s): request queued %v, want %v", c.addr, asked, c.ask)
		}
	}
	// The requests carry the next hop and its interface.
	want := map[request]bool{}
	for _, s := range []string{"10.1.0.6", "10.1.0.7", "10.1.0.8", "10.1.0.9"} {
		want[request{ifindex: 10, addr: netip.MustParseAddr(s).As16()}] = true
	}
	want[request{v6: true, ifindex: 10, addr: netip.MustParseAddr("2001:db8:1::77").As16()}] = true
	for len(tb.reqs) > 0 {
		r := <-tb.reqs
		if !want[r] {
			t.Errorf("unexpected request %+v", r)
		}
		delete(want, r)
	}
	if len(want) != 0 {
		t.Errorf("requests missing: %v", want)
	}
}

// For IPv4 only the last four bytes of the address count.
func TestResolveIgnoresIPv4Prefix(t *testing.T) {
	tb := testTable(t)
	var addr [16]byte
	copy(addr[12:], []byte{10, 1, 0, 5})
	if mac, _, ok := tb.Resolve(false, addr); !ok || mac != macA {
		t.Fatalf("Resolve(v4, 10.1.0.5 without the ::ffff prefix) = %x, %v", mac, ok)
	}
}

// A flood towards one unresolved next hop queues one request until the
// recent set is cleared; a full queue drops instead of blocking.
func TestRequestPacingAndBound(t *testing.T) {
	tb := testTable(t)
	_, addr := a16("10.1.0.9")
	for range 1000 {
		tb.Resolve(false, addr)
	}
	if got := len(tb.reqs); got != 1 {
		t.Fatalf("1000 misses queued %d requests, want 1", got)
	}
	tb.clearRecent()
	tb.Resolve(false, addr)
	if got := len(tb.reqs); got != 2 {
		t.Fatalf("after clearRecent: %d requests, want 2", got)
	}
	for i := range 2 * requestQueueLen {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i) | 0x80})
		tb.Resolve(true, a.As16())
	}
	if len(tb.reqs) != requestQueueLen || tb.dropped.Load() == 0 {
		t.Fatalf("queue %d (cap %d), dropped %d: want full and drops", len(tb.reqs), requestQueueLen, tb.dropped.Load())
	}
}

func TestResolveNoAlloc(t *testing.T) {
	tb := testTable(t)
	hit := netip.MustParseAddr("192.0.2.5").As16()
	miss := netip.MustParseAddr("10.1.0.9").As16()
	_, six := a16("2001:db8:1::5")
	if n := testing.AllocsPerRun(1000, func() {
		tb.Resolve(false, hit)
		tb.Resolve(false, miss)
		tb.Resolve(true, six)
		tb.clearRecent()
		tb.Resolve(false, miss) // queues (or drops when full)
	}); n != 0 {
		t.Fatalf("Resolve allocates %.1f times per run", n)
	}
}

func TestResolveConcurrentWithSwap(t *testing.T) {
	tb := testTable(t)
	hit := netip.MustParseAddr("192.0.2.5").As16()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if mac, port, ok := tb.Resolve(false, hit); !ok || mac != macC || port != 1 {
					t.Errorf("Resolve during swaps = %x %d %v", mac, port, ok)
					return
				}
			}
		}()
	}
	old := tb.snap.Load()
	for range 200 {
		tb.snap.Store(buildSnapshot(tb.ports, old.routes, []neighInfo{nb(20, "10.2.0.1", macC, nudReachable)}))
	}
	close(stop)
	wg.Wait()
}

func TestNewTableRejectsBadPorts(t *testing.T) {
	for _, ports := range [][]Port{
		{{Name: "x", Index: 0}},
		{{Name: "a", Index: 3}, {Name: "b", Index: 3}},
	} {
		if _, err := newTable(ports); err == nil {
			t.Errorf("newTable(%v) accepted bad ports", ports)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	tb := testTable(&testing.T{})
	hit := netip.MustParseAddr("192.0.2.5").As16()
	b.ReportAllocs()
	for b.Loop() {
		tb.Resolve(false, hit)
	}
}

// TestLearn: an asker's address is queued for the kernel unless the table
// already has it at that MAC; nonsense is ignored.
func TestLearn(t *testing.T) {
	tb := testTable(t)
	drain := func() []request {
		var out []request
		for {
			select {
			case r := <-tb.reqs:
				out = append(out, r)
			default:
				return out
			}
		}
	}
	_, known := a16("10.1.0.5") // reachable at macA on port 0 (ifindex 10)
	tb.Learn(false, known, macA, 0)
	if got := drain(); len(got) != 0 {
		t.Errorf("a known address at its MAC was queued: %+v", got)
	}
	tb.Learn(false, known, macB, 0) // moved to another MAC
	_, fresh := a16("10.1.0.77")
	tb.Learn(false, fresh, macC, 0)
	_, v6 := a16("2001:db8:1::77")
	tb.Learn(true, v6, macC, 0)
	got := drain()
	if len(got) != 3 {
		t.Fatalf("queued %+v, want 3 learn requests", got)
	}
	for _, r := range got {
		if !r.learn || r.ifindex != 10 {
			t.Errorf("request %+v: want a learn on ifindex 10", r)
		}
	}
	if got[1].mac != macC || got[1].addr != fresh {
		t.Errorf("learn %+v, want %x at %x", got[1], fresh, macC)
	}
	_, zero := a16("0.0.0.0")
	tb.Learn(false, zero, macA, 0)
	tb.Learn(false, fresh, [6]byte{0x01, 0, 0x5e, 0, 0, 1}, 0) // multicast MAC
	tb.Learn(false, fresh, macA, 7)                            // no such port
	tb.Learn(true, [16]byte{0: 0xff, 1: 2, 15: 1}, macA, 0)    // multicast address
	if got := drain(); len(got) != 0 {
		t.Errorf("nonsense was queued: %+v", got)
	}
	if n := testing.AllocsPerRun(100, func() { tb.Learn(false, known, macA, 0) }); n != 0 {
		t.Errorf("Learn allocates %v times", n)
	}
}

// TestLearnedResolves: what Learn saw resolves at once, before any
// rebuild; a rebuild forgets it; concurrent writers and readers are safe.
func TestLearnedResolves(t *testing.T) {
	tb := testTable(t)
	v6, fresh := a16("10.1.0.77") // on-link on port 0, unknown to the kernel
	if _, _, ok := tb.Resolve(v6, fresh); ok {
		t.Fatal("an unknown address resolved")
	}
	tb.Learn(v6, fresh, macC, 0)
	mac, port, ok := tb.Resolve(v6, fresh)
	if !ok || mac != macC || port != 0 {
		t.Fatalf("after Learn: %x %d %v, want %x on port 0", mac, port, ok, macC)
	}
	if _, _, ok := tb.Resolve(v6, [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 1, 14: 0, 15: 78}); ok {
		t.Error("a neighbouring address resolved through the learned one")
	}
	if n := testing.AllocsPerRun(100, func() { tb.Resolve(v6, fresh) }); n != 0 {
		t.Errorf("Resolve of a learned address allocates %v times", n)
	}
	// A rebuild whose snapshot does not know the address yet keeps it.
	tb.clearLearned(tb.snap.Load())
	if _, _, ok := tb.Resolve(v6, fresh); !ok {
		t.Error("a rebuild before the kernel knew the address dropped it")
	}
	// Once the kernel has an entry, even a FAILED one, its word counts.
	s := tb.snap.Load()
	k := neighKey{ifindex: int32(tb.ports[0].Index), addr: fresh}
	s.neighs[k] = neighEntry{state: nudFailed}
	tb.clearLearned(s)
	if _, _, ok := tb.Resolve(v6, fresh); ok {
		t.Error("a learned address overruled the kernel's FAILED entry")
	}
	// Writers and readers at once (run with -race).
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				a := fresh
				a[15] = byte(i)
				if w%2 == 0 {
					tb.Learn(false, a, macA, 0)
				} else if m, _, ok := tb.Resolve(false, a); ok && m != macA && m != macB && m != macC && m != macG {
					t.Errorf("torn read: %x", m)
					return
				}
			}
		}()
	}
	wg.Wait()
}
