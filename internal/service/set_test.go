package service

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

type nopSched struct{ name string }

func (s nopSched) Name() string          { return s.name }
func (nopSched) Update([]*Dest)          {}
func (nopSched) Schedule(*Request) *Dest { return nil }
func newNop(name string, _ Flags) (Scheduler, error) {
	if name == "bogus" {
		return nil, errors.New("unknown scheduler")
	}
	return nopSched{name}, nil
}

var (
	vip = netip.MustParseAddr("10.0.0.1")
	key = Key{Proto: packet.ProtoTCP, Addr: vip, Port: 80}
	rip = netip.MustParseAddr("10.0.1.1")
)

// TestSetErrors: every refused change names what is wrong, wraps the
// ipvsadm error, and leaves the configuration exactly as it was.
func TestSetErrors(t *testing.T) {
	s := NewSet(newNop)
	if err := s.AddService(ServiceConfig{Key: key, Sched: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDest(key, DestParams{Addr: rip, Port: 80, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	before := s.Snapshot()
	other := Key{Proto: packet.ProtoTCP, Addr: vip, Port: 81}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"dup service", s.AddService(ServiceConfig{Key: key}), ErrServiceExists},
		{"unknown sched", s.AddService(ServiceConfig{Key: other, Sched: "bogus"}), ErrSchedNotFound},
		{"edit missing", s.EditService(ServiceConfig{Key: other}), ErrNoSuchService},
		{"dest on missing service", s.AddDest(other, DestParams{Addr: rip, Weight: 1}), ErrServiceUnknown},
		{"dup dest", s.AddDest(key, DestParams{Addr: rip, Port: 80, Weight: 1}), ErrDestExists},
		{"weight -1", s.AddDest(key, DestParams{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80, Weight: -1}), ErrRange},
		{"l > u", s.AddDest(key, DestParams{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80, UThreshold: 5, LThreshold: 9}), ErrRange},
		{"multicast", s.AddDest(key, DestParams{Addr: netip.MustParseAddr("224.0.0.1"), Port: 80}), ErrInvalid},
		{"family", s.AddDest(key, DestParams{Addr: netip.MustParseAddr("2001:db8::1"), Port: 80}), ErrInvalid},
		{"gue without port", s.AddDest(key, DestParams{Addr: netip.MustParseAddr("10.0.1.3"), Method: Tunnel, TunType: TunGUE}), ErrInvalid},
		{"edit missing dest", s.EditDest(key, DestParams{Addr: netip.MustParseAddr("10.0.1.9"), Port: 80}), ErrNoSuchDest},
		{"del missing dest", s.DelDest(key, netip.MustParseAddr("10.0.1.9"), 80, 0), ErrNoSuchDest},
		{"netmask", s.AddService(ServiceConfig{Key: other, Netmask: 33}), ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if s.Snapshot() != before {
		t.Fatal("a refused change altered the configuration")
	}
}

// TestTrashRevival: a removed destination keeps its id and counters while
// connections use it, and re-adding it revives the same object.
func TestTrashRevival(t *testing.T) {
	s := NewSet(newNop)
	_ = s.AddService(ServiceConfig{Key: key, Sched: "rr"})
	_ = s.AddDest(key, DestParams{Addr: rip, Port: 80, Weight: 2})
	d := s.Snapshot().Find(key).Dests[0]
	d.Bind(false, true)
	if err := s.DelDest(key, rip, 80, clock.Seconds(10)); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if len(snap.Find(key).Dests) != 0 || snap.Dest(d.ID) != d || d.Available() {
		t.Fatal("removed dest must leave the service but stay reachable by id, unavailable")
	}
	if n := s.ReapTrash(clock.Seconds(1000)); n != 0 {
		t.Fatal("trash freed a dest that still has a connection")
	}
	if err := s.AddDest(key, DestParams{Addr: rip, Port: 80, Weight: 3}); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot().Find(key).Dests[0]; got != d || !d.Available() || d.Inactive.Load() != 1 || d.Weight() != 3 {
		t.Fatal("re-added dest is not the revived one with its counters")
	}
}

// TestThresholds: OVERLOAD is set at the upper threshold and cleared by
// the kernel's rules.
func TestThresholds(t *testing.T) {
	d := NewDest(1, rip, 80, DestConfig{Weight: 1, UThreshold: 4})
	for range 4 {
		d.Bind(false, true)
	}
	if !d.Overloaded() {
		t.Fatal("4 conns with u=4: not overloaded")
	}
	d.Unbind(false, true) // 3: 3*4 < 4*3 is false
	if !d.Overloaded() {
		t.Fatal("cleared at 3/4 of u")
	}
	d.Unbind(false, true) // 2: 8 < 12
	if d.Overloaded() {
		t.Fatal("still overloaded below 3/4 of u")
	}
	d.SetConfig(DestConfig{Weight: 1, UThreshold: 4, LThreshold: 1})
	for range 2 { // 2 → 4: overloaded again
		d.Bind(false, true)
	}
	for range 3 { // down to 1: not below l = 1
		d.Unbind(false, true)
	}
	if !d.Overloaded() {
		t.Fatal("cleared at the lower threshold")
	}
	d.Unbind(false, true) // 0 < 1
	if d.Overloaded() {
		t.Fatal("not cleared below the lower threshold")
	}
}

// TestLookupOrder follows the kernel's service lookup order.
func TestLookupOrder(t *testing.T) {
	s := NewSet(newNop)
	_ = s.AddService(ServiceConfig{Key: key})
	p0 := Key{Proto: packet.ProtoTCP, Addr: vip, Port: 0}
	_ = s.AddService(ServiceConfig{Key: p0, Flags: FlagPersistent, Timeout: 60})
	snap := s.Snapshot()
	a := vip.As16()
	if svc := snap.Lookup(false, packet.ProtoTCP, &a, 80, 0); svc == nil || svc.Key.Port != 80 {
		t.Fatal("exact service not found first")
	}
	if svc := snap.Lookup(false, packet.ProtoTCP, &a, 8080, 0); svc == nil || svc.Key.Port != 0 {
		t.Fatal("port-0 service not found for another port")
	}
	if svc := snap.Lookup(false, packet.ProtoUDP, &a, 80, 0); svc != nil {
		t.Fatal("UDP matched a TCP service")
	}
}

// TestIndexFollowsDeletes: services are found by key after deletions in
// the middle of the list and after a flush, IPv4-mapped keys included, and
// fwmark services by mark and family.
func TestIndexFollowsDeletes(t *testing.T) {
	s := NewSet(newNop)
	keys := make([]Key, 0, 20)
	for i := range 10 {
		keys = append(keys, Key{Proto: packet.ProtoTCP, Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: 80})
		keys = append(keys, Key{FwMark: uint32(i + 1), Addr: netip.IPv6Unspecified()})
	}
	for _, k := range keys {
		if err := s.AddService(ServiceConfig{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{4, 0, 17} {
		if err := s.DelService(keys[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		gone := i == 4 || i == 0 || i == 17
		mapped := k
		mapped.Addr = netip.AddrFrom16(k.Addr.As16())
		err := s.AddDest(mapped, DestParams{Addr: rip, Port: 80, Weight: 1, Method: Tunnel})
		if gone != errors.Is(err, ErrServiceUnknown) {
			t.Errorf("%v (deleted %v): AddDest: %v", k, gone, err)
		}
	}
	if err := s.AddService(ServiceConfig{Key: Key{FwMark: 2, Addr: netip.IPv4Unspecified()}}); err != nil {
		t.Errorf("IPv4 fwmark 2 beside IPv6 fwmark 2: %v", err)
	}
	s.Flush(0)
	if err := s.EditService(ServiceConfig{Key: keys[1]}); !errors.Is(err, ErrNoSuchService) {
		t.Errorf("after Flush: %v", err)
	}
}
