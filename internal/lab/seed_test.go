package lab

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/control"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/listing"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/sim"
)

// seedLab is the LVS-DR of the seed text's listings: VIP lvs2 with
// services www (rr; bashfull and sneezy), port 0 (rr, persistent 360;
// sneezy) and telnet (rr; bashfull and sneezy).
type seedLab struct {
	t      *testing.T
	n      *sim.Network
	eng    *director.Engine
	snap   *service.Snapshot
	client *sim.Client
	vip    netip.Addr
}

func newSeedLab(t *testing.T) *seedLab {
	t.Helper()
	n := sim.New(sim.Config{Seed: 5})
	dmac := [6]byte{0x02, 0x76, 0x73, 0x64, 0, 1}
	vip := netip.MustParseAddr("192.168.1.110")
	eng, err := director.New(director.Config{Ports: []director.Port{{MAC: dmac, Addr4: netip.MustParseAddr("192.168.1.9")}}, Neighbors: n.Neighbors()})
	if err != nil {
		t.Fatal(err)
	}
	rip := map[string]netip.Addr{"bashfull": netip.MustParseAddr("192.168.1.11"), "sneezy": netip.MustParseAddr("192.168.1.12")}
	for _, name := range []string{"bashfull", "sneezy"} {
		if _, err := n.AddServer(sim.ServerConfig{Name: name, Addrs: []netip.Addr{rip[name]}, Mode: sim.DR, VIPs: []netip.Addr{vip}}); err != nil {
			t.Fatal(err)
		}
	}
	set := service.NewSet(sched.New)
	add := func(port uint16, flags service.Flags, timeout uint32, servers ...string) {
		k := service.Key{Proto: packet.ProtoTCP, Addr: vip, Port: port}
		if err := set.AddService(service.ServiceConfig{Key: k, Sched: "rr", Flags: flags, Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if err := set.AddDest(k, service.DestParams{Addr: rip[s], Port: port, Weight: 1, Method: service.Route}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(80, 0, 0, "sneezy", "bashfull")
	add(0, service.FlagPersistent, 360, "sneezy")
	add(23, 0, 0, "sneezy", "bashfull")
	snap := set.Snapshot()
	eng.Publish(snap)
	if err := attachDirector(n, eng, dmac, []netip.Addr{netip.MustParseAddr("192.168.1.9")}, []netip.Addr{vip}); err != nil {
		t.Fatal(err)
	}
	c, err := n.AddClient(sim.ClientConfig{Name: "client", Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.254")}})
	if err != nil {
		t.Fatal(err)
	}
	return &seedLab{t: t, n: n, eng: eng, snap: snap, client: c, vip: vip}
}

// counts returns "Active/InAct" of every destination of a service, in list order.
func (l *seedLab) counts(port uint16) string {
	svc := l.snap.Find(service.Key{Proto: packet.ProtoTCP, Addr: l.vip, Port: port})
	var parts []string
	for _, d := range svc.Dests {
		parts = append(parts, d.Addr.String()+" "+itoa(d.Active.Load())+" "+itoa(d.Inactive.Load()))
	}
	return strings.Join(parts, ", ")
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

func (l *seedLab) table() string {
	var b strings.Builder
	tab := control.TableOf(l.snap, l.eng, nil)
	_ = listing.WriteTable(&b, &tab, listing.Options{Numeric: true, NoSort: true})
	return b.String()
}

// TestSeedListings replays the seed text's LVS-DR sessions (telnet, ftp,
// http/1.0) through the real director on the simulated network and checks
// ActiveConn/InActConn as they rise and fall. Current kernels count the
// half-closed states (FIN_WAIT, TIME_WAIT) as InActConn until their timeout,
// where the 2001-era listing in the seed already shows 0 0 after a logout.
func TestSeedListings(t *testing.T) {
	l := newSeedLab(t)

	// telnet: while the session is open, one ActiveConn on one server.
	id, err := l.client.StartSession(sim.Telnet, netip.AddrPortFrom(l.vip, 23), &sim.SessionParams{Lines: 2, LineThink: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l.n.RunFor(2 * time.Second)
	if got := l.counts(23); got != "192.168.1.11 1 0, 192.168.1.12 0 0" && got != "192.168.1.11 0 0, 192.168.1.12 1 0" {
		t.Fatalf("telnet open: %s\n%s", got, l.table())
	}
	for !l.n.Session(id).Done {
		l.n.RunFor(time.Second)
	}
	if !l.n.Session(id).Completed {
		t.Fatal("telnet session failed")
	}
	// Logged out: the director saw the client's FIN (INPUT_ONLY: FIN_WAIT).
	l.n.RunFor(time.Second)
	if got := l.counts(23); !strings.Contains(got, " 0 1") || strings.Contains(got, " 1 0") {
		t.Fatalf("telnet after logout: %s", got)
	}
	// FIN_WAIT lasts 120 s; then the entry is gone.
	l.n.RunFor(121 * time.Second)
	if got := l.counts(23); got != "192.168.1.11 0 0, 192.168.1.12 0 0" {
		t.Fatalf("telnet 2 minutes after logout: %s", got)
	}

	// ftp: login opens the control connection (stays ESTABLISHED) and a
	// passive data connection that is closed again: the seed's
	// "sneezy:0 Route 1 1 1".
	fid, err := l.client.StartSession(sim.FTP, netip.AddrPortFrom(l.vip, 21), &sim.SessionParams{LineThink: 300 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sawSeed := false
	for i := 0; i < 300 && !l.n.Session(fid).Done; i++ {
		l.n.RunFor(time.Second)
		if l.counts(0) == "192.168.1.12 1 1" {
			sawSeed = true
			break
		}
	}
	if !sawSeed {
		t.Fatalf("never saw sneezy:0 with 1 active (control) and 1 inactive (data) connection; now %s\n%s", l.counts(0), l.table())
	}
	if !strings.Contains(l.table(), "TCP  192.168.1.110:0 rr persistent 360\n  -> 192.168.1.12:0               Route   1      1          1         \n") {
		t.Fatalf("listing:\n%s", l.table())
	}

	// http/1.0: after the fetch, one InActConn on the www server that
	// served it (the seed: "bashfull:www Route 1 0 1").
	hid, err := l.client.StartSession(sim.HTTP10, netip.AddrPortFrom(l.vip, 80), nil)
	if err != nil {
		t.Fatal(err)
	}
	for !l.n.Session(hid).Done {
		l.n.RunFor(100 * time.Millisecond)
	}
	l.n.RunFor(time.Second)
	if got := l.counts(80); got != "192.168.1.11 0 1, 192.168.1.12 0 0" && got != "192.168.1.11 0 0, 192.168.1.12 0 1" {
		t.Fatalf("www after an HTTP/1.0 fetch: %s", got)
	}
}
