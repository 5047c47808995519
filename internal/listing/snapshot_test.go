package listing

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// fakeScheduler stands in for package sched: it only remembers its name.
type fakeScheduler struct{ name string }

func (f *fakeScheduler) Name() string                            { return f.name }
func (f *fakeScheduler) Update([]*service.Dest)                  {}
func (f *fakeScheduler) Schedule(*service.Request) *service.Dest { return nil }

func newFakeScheduler(name string, _ service.Flags) (service.Scheduler, error) {
	return &fakeScheduler{name: name}, nil
}

type snapDest struct {
	p                service.DestParams
	active, inactive int32
}

// TestWriteSnapshot: the deprecated shim prints a service.Snapshot as the
// former WriteTable did: unsorted, plain view. The demo services are added
// in ipvsadm's order, so the output is the captured §2.2 listing.
func TestWriteSnapshot(t *testing.T) {
	a := netip.MustParseAddr
	set := service.NewSet(newFakeScheduler)
	services := []struct {
		cfg   service.ServiceConfig
		dests []snapDest
	}{
		{service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("207.175.44.110"), Port: 80}, Sched: "rr"}, []snapDest{
			{service.DestParams{Addr: a("192.168.10.1"), Port: 80, Weight: 1, Method: service.Masq}, 3, 17},
			{service.DestParams{Addr: a("192.168.10.2"), Port: 8080, Weight: 3, UThreshold: 100, LThreshold: 50, Method: service.Masq}, 6, 34},
		}},
		{service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.1"), Port: 443}, Sched: "wlc", Flags: service.FlagPersistent, Timeout: 360}, []snapDest{
			{service.DestParams{Addr: a("10.0.0.21"), Port: 443, Weight: 1, Method: service.Route}, 3, 17},
			{service.DestParams{Addr: a("10.0.0.22"), Port: 443, Weight: 0, Method: service.Route}, 6, 34},
		}},
		{service.ServiceConfig{Key: service.Key{Proto: packet.ProtoUDP, Addr: a("10.0.0.1"), Port: 53}, Sched: "sh", Flags: service.FlagSched1 | service.FlagSched2 | service.FlagOnePacket}, []snapDest{
			{service.DestParams{Addr: a("10.0.0.31"), Port: 53, Weight: 1, Method: service.Tunnel, TunType: service.TunIPIP}, 3, 17},
		}},
		{service.ServiceConfig{Key: service.Key{Proto: packet.ProtoSCTP, Addr: a("10.0.0.1"), Port: 3868}, Sched: "wrr"}, []snapDest{
			{service.DestParams{Addr: a("10.0.0.51"), Port: 3868, Weight: 1, Method: service.Tunnel, TunType: service.TunGUE, TunPort: 6080, TunFlags: service.TunFlagCsum}, 3, 17},
			{service.DestParams{Addr: a("10.0.0.52"), Port: 3868, Weight: 1, Method: service.Tunnel, TunType: service.TunGRE}, 6, 34},
		}},
		{service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("2001:db8::80"), Port: 80}, Sched: "rr"}, []snapDest{
			{service.DestParams{Addr: a("2001:db8::a0a0"), Port: 80, Weight: 1, Method: service.Masq}, 3, 17},
		}},
		{service.ServiceConfig{Key: service.Key{FwMark: 1, Addr: netip.IPv4Unspecified()}, Sched: "wlc", Flags: service.FlagPersistent, Timeout: 600, Netmask: 24}, []snapDest{
			{service.DestParams{Addr: a("10.0.0.41"), Port: 0, Weight: 5, Method: service.Route}, 3, 17},
		}},
	}
	for _, s := range services {
		if err := set.AddService(s.cfg); err != nil {
			t.Fatalf("AddService(%v): %v", s.cfg.Key, err)
		}
		// AddDest puts a destination at the head of the list: add them
		// last first to get the listed order.
		for i := len(s.dests) - 1; i >= 0; i-- {
			if err := set.AddDest(s.cfg.Key, s.dests[i].p); err != nil {
				t.Fatalf("AddDest(%v, %v): %v", s.cfg.Key, s.dests[i].p.Addr, err)
			}
		}
	}
	snap := set.Snapshot()
	for _, s := range services {
		svc := snap.Find(s.cfg.Key)
		if svc == nil || len(svc.Dests) != len(s.dests) {
			t.Fatalf("service %v missing or incomplete in the snapshot", s.cfg.Key)
		}
		for i, d := range svc.Dests {
			if d.Addr != s.dests[i].p.Addr {
				t.Fatalf("service %v destination %d is %v, want %v", s.cfg.Key, i, d.Addr, s.dests[i].p.Addr)
			}
			d.Active.Store(s.dests[i].active)
			d.Inactive.Store(s.dests[i].inactive)
		}
	}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, snap, true, 0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "table_numeric.golden", buf.Bytes())
	buf.Reset()
	if err := WriteSnapshot(&buf, snap, false, 4096); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "table_names.golden", buf.Bytes())

	buf.Reset()
	if err := WriteSnapshot(&buf, nil, true, 1<<16); err != nil {
		t.Fatal(err)
	}
	if want := "IP Virtual Server version 1.2.1 (size=65536)\n" + titles[ViewPlain]; buf.String() != want {
		t.Errorf("nil snapshot: got %q, want %q", buf.String(), want)
	}
}
