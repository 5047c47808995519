package sched

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// newTestDest returns destination number i (10.0.x.y:80) with weight w.
func newTestDest(i int, w int32) *service.Dest {
	return service.NewDest(service.DestID(i+1), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 80,
		service.DestConfig{Weight: w})
}

// newTestDests returns one destination per weight, named A, B, C, ... by
// destName.
func newTestDests(weights ...int32) []*service.Dest {
	ds := make([]*service.Dest, len(weights))
	for i, w := range weights {
		ds[i] = newTestDest(i, w)
	}
	return ds
}

// destState is a hand-made counter state for one destination.
type destState struct {
	w         int32
	act, inac int32
	over      bool
}

func buildDests(t testing.TB, states []destState) []*service.Dest {
	t.Helper()
	ds := make([]*service.Dest, len(states))
	for i, s := range states {
		d := newTestDest(i, s.w)
		d.Active.Store(s.act)
		d.Inactive.Store(s.inac)
		setOverloaded(t, d, s.over)
		ds[i] = d
	}
	return ds
}

// setWeight edits a destination's weight the way the control plane does
// (last weight follows non-zero weights). The scheduler needs an Update.
func setWeight(d *service.Dest, w int32) {
	c := *d.Config()
	c.Weight = w
	if w != 0 {
		c.LastWeight = w
	}
	d.SetConfig(c)
}

// setOverloaded sets or clears OVERLOAD through the public threshold
// machinery (service has no setter): with an upper threshold of 1 one Bind
// sets it; with no thresholds one Unbind clears it. Counters and
// configuration are restored afterwards.
func setOverloaded(t testing.TB, d *service.Dest, on bool) {
	t.Helper()
	old := *d.Config()
	c := old
	c.LThreshold = 0
	if on {
		c.UThreshold = 1
		d.SetConfig(c)
		d.Bind(false, false)
		d.Active.Add(-1)
	} else {
		c.UThreshold = 0
		d.SetConfig(c)
		d.Active.Add(1)
		d.Unbind(false, false)
	}
	d.SetConfig(old)
	if d.Overloaded() != on {
		t.Fatalf("could not set OVERLOAD=%v on %v", on, d.Addr)
	}
}

// unavailableDests returns destinations that were removed from a real
// service.Set (AVAILABLE cleared), the only way to clear the flag from
// outside the service package. The set uses rr; the caller's scheduler
// keeps its own list.
func unavailableDests(t testing.TB, weights ...int32) (all []*service.Dest, remove func(d *service.Dest)) {
	t.Helper()
	set := service.NewSet(New)
	key := service.Key{Proto: packet.ProtoTCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80}
	if err := set.AddService(service.ServiceConfig{Key: key, Sched: "rr"}); err != nil {
		t.Fatal(err)
	}
	for i := len(weights) - 1; i >= 0; i-- { // added at the head: add in reverse
		p := service.DestParams{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: 80, Weight: weights[i], Method: service.Route}
		if err := set.AddDest(key, p); err != nil {
			t.Fatal(err)
		}
	}
	all = set.Snapshot().Find(key).Dests
	return all, func(d *service.Dest) {
		t.Helper()
		if err := set.DelDest(key, d.Addr, d.Port, 0); err != nil {
			t.Fatal(err)
		}
		if d.Available() {
			t.Fatal("removed destination still available")
		}
	}
}

// destName names ds[i] "A", "B", ...; nil is "-".
func destName(ds []*service.Dest, d *service.Dest) string {
	for i, x := range ds {
		if x == d {
			return string(rune('A' + i))
		}
	}
	if d == nil {
		return "-"
	}
	return "?"
}

// sequence schedules n times and returns the picks as letters.
func sequence(s service.Scheduler, ds []*service.Dest, n int) string {
	var b strings.Builder
	r := &service.Request{}
	for range n {
		b.WriteString(destName(ds, s.Schedule(r)))
	}
	return b.String()
}

func mustNew(t testing.TB, name string, flags service.Flags) service.Scheduler {
	t.Helper()
	s, err := New(name, flags)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// v4Request is a TCP request from src:sport to dst:80 at time now.
func v4Request(src, dst netip.Addr, sport uint16, now clock.Time) *service.Request {
	return &service.Request{Proto: packet.ProtoTCP, Src: src.As16(), Dst: dst.As16(), SrcPort: sport, DstPort: 80, Now: now}
}

// clientAddr returns a distinct IPv4 client address for i.
func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(100 + i>>24&0x3f), byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestHelpersSetFlags(t *testing.T) {
	d := newTestDest(0, 1)
	d.Active.Store(7)
	setOverloaded(t, d, true)
	setOverloaded(t, d, false)
	if d.Active.Load() != 7 || d.Inactive.Load() != 0 || d.Config().UThreshold != 0 {
		t.Fatalf("setOverloaded changed the destination: active %d inactive %d cfg %+v", d.Active.Load(), d.Inactive.Load(), *d.Config())
	}
	all, remove := unavailableDests(t, 1, 2)
	if len(all) != 2 || all[0].Weight() != 1 || all[1].Weight() != 2 || !all[0].Available() {
		t.Fatalf("unavailableDests built %v", all)
	}
	remove(all[0])
}
