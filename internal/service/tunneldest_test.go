package service

import (
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// TestTunnelDest: destinations are found by address, tunnel type and (GUE)
// tunnel port, whatever their service; other methods, other types, other
// ports, other addresses and trashed destinations are not; an edit of the
// method is seen by the next snapshot.
func TestTunnelDest(t *testing.T) {
	s := NewSet(newNop)
	k2 := Key{Proto: packet.ProtoUDP, Addr: vip, Port: 53}
	for _, k := range []Key{key, k2} {
		if err := s.AddService(ServiceConfig{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	ipip, gue, nat := rip, netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("10.0.1.3")
	for _, c := range []struct {
		k Key
		p DestParams
	}{
		{key, DestParams{Addr: ipip, Port: 80, Weight: 1, Method: Tunnel, TunType: TunIPIP}},
		{k2, DestParams{Addr: gue, Port: 53, Weight: 1, Method: Tunnel, TunType: TunGUE, TunPort: 6080}},
		{key, DestParams{Addr: nat, Port: 8080, Weight: 1, Method: Masq}},
	} {
		if err := s.AddDest(c.k, c.p); err != nil {
			t.Fatal(err)
		}
	}
	snap := s.Snapshot()
	a := func(x netip.Addr) *[16]byte { b := x.As16(); return &b }
	for _, c := range []struct {
		addr netip.Addr
		typ  TunType
		port uint16
		want netip.Addr // invalid: nil
	}{
		{ipip, TunIPIP, 0, ipip},
		{ipip, TunGUE, 0, netip.Addr{}},
		{gue, TunGUE, 6080, gue},
		{gue, TunGUE, 6081, netip.Addr{}},
		{gue, TunIPIP, 0, netip.Addr{}},
		{nat, TunIPIP, 0, netip.Addr{}},
		{vip, TunIPIP, 0, netip.Addr{}},
	} {
		d := snap.TunnelDest(a(c.addr), c.typ, c.port)
		if c.want.IsValid() != (d != nil) || d != nil && d.Addr != c.want {
			t.Errorf("TunnelDest(%v, %v, %d) = %v", c.addr, c.typ, c.port, d)
		}
	}
	if n := testing.AllocsPerRun(100, func() { snap.TunnelDest(a(gue), TunGUE, 6080) }); n != 0 {
		t.Errorf("TunnelDest allocates %v", n)
	}
	if err := s.EditDest(key, DestParams{Addr: ipip, Port: 80, Weight: 1, Method: Route}); err != nil {
		t.Fatal(err)
	}
	if d := s.Snapshot().TunnelDest(a(ipip), TunIPIP, 0); d != nil {
		t.Error("found after its method became Route")
	}
	if err := s.DelDest(k2, gue, 53, 0); err != nil {
		t.Fatal(err)
	}
	if d := s.Snapshot().TunnelDest(a(gue), TunGUE, 6080); d != nil {
		t.Error("found in the trash")
	}
}
