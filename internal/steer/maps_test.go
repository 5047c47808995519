package steer

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
)

func dump(t *testing.T, m *ebpf.Map) map[key]struct{} {
	t.Helper()
	got, err := dumpKeys(m)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func keysOf(t *testing.T, eps []Endpoint) map[key]struct{} {
	t.Helper()
	s := map[key]struct{}{}
	for _, e := range eps {
		k, err := endpointKey(e)
		if err != nil {
			t.Fatal(err)
		}
		s[k] = struct{}{}
	}
	return s
}

func vipKeysOf(vips []netip.Addr) map[key]struct{} {
	s := map[key]struct{}{}
	for _, a := range vips {
		s[vipKey(a)] = struct{}{}
	}
	return s
}

// fragSrcKeysOf is what the fragment sources map must hold for replies:
// (proto, addr, 0) of every TCP, UDP and SCTP entry.
func fragSrcKeysOf(t *testing.T, replies []Endpoint) map[key]struct{} {
	var eps []Endpoint
	for _, e := range replies {
		if e.Proto == protoTCP || e.Proto == protoUDP || e.Proto == protoSCTP {
			eps = append(eps, Endpoint{Proto: e.Proto, Addr: e.Addr})
		}
	}
	return keysOf(t, eps)
}

// tunnelKeysOf is what the tunnels map must hold: (4, proto, port, addr)
// of every entry, spelled out here rather than through tunnelKey.
func tunnelKeysOf(tunnels []Endpoint) map[key]struct{} {
	s := map[key]struct{}{}
	for _, e := range tunnels {
		var k key
		k[0], k[1] = 4, e.Proto
		k[2], k[3] = byte(e.Port>>8), byte(e.Port)
		k[14], k[15] = 0xff, 0xff
		a := e.Addr.As4()
		copy(k[16:], a[:])
		s[k] = struct{}{}
	}
	return s
}

func checkMaps(t *testing.T, m *Maps, want Match) {
	t.Helper()
	for _, c := range []struct {
		name string
		bm   *ebpf.Map
		want map[key]struct{}
	}{{"services", m.services, keysOf(t, want.Services)}, {"replies", m.replies, keysOf(t, want.Replies)}, {"vips", m.vips, vipKeysOf(want.VIPs)},
		{"fragment sources", m.fragSrcs, fragSrcKeysOf(t, want.Replies)}, {"tunnels", m.tunnels, tunnelKeysOf(want.Tunnels)}} {
		got := dump(t, c.bm)
		if !maps.Equal(got, c.want) {
			t.Errorf("%s map holds %v, want %v", c.name, slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(c.want)))
		}
	}
}

func TestMapsUpdateExact(t *testing.T) {
	needRoot(t)
	m, err := NewMaps(8)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := testMatch()
	a.Services = a.Services[:6]
	b := Match{
		Services: append(slices.Clone(a.Services[2:5]), Endpoint{Proto: protoSCTP, Addr: vip6, Port: 7}),
		Replies:  []Endpoint{{Proto: protoUDP, Addr: rs6, Port: 53}},
		VIPs:     []netip.Addr{vip6, netip.MustParseAddr("10.1.1.1")},
		// One kept from a, one new (same address and protocol, other port).
		Tunnels: []Endpoint{a.Tunnels[0], {Proto: protoUDP, Addr: gue4, Port: guePort + 1}, {Proto: protoIPIP, Addr: gue4}},
	}
	for i, want := range []Match{a, b, a, {}, b, b} {
		if err := m.Update(want); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		checkMaps(t, m, want)
	}
	// The fragment sources of testMatch, spelled out: no ports, no ICMP.
	if err := m.Update(a); err != nil {
		t.Fatal(err)
	}
	wantFrag := map[key]struct{}{
		makeKey(protoTCP, rs4, 0): {}, makeKey(protoUDP, rs4, 0): {},
		makeKey(protoTCP, rs6, 0): {}, makeKey(protoUDP, rs6u, 0): {},
	}
	if got := dump(t, m.fragSrcs); !maps.Equal(got, wantFrag) {
		t.Errorf("fragment sources of testMatch: %v, want %v", slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(wantFrag)))
	}
	if err := m.Update(b); err != nil {
		t.Fatal(err)
	}
	// Duplicates count once; zones are dropped.
	dup := Match{Services: []Endpoint{{Proto: protoTCP, Addr: vip6, Port: 1}, {Proto: protoTCP, Addr: vip6.WithZone("eth0"), Port: 1}}}
	if err := m.Update(dup); err != nil {
		t.Fatal(err)
	}
	if n := len(dump(t, m.services)); n != 1 {
		t.Errorf("services map holds %d keys after a duplicate entry, want 1", n)
	}

	// Bad input changes nothing and names the bad entry.
	if err := m.Update(b); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		match Match
		says  string
	}{
		{Match{Services: []Endpoint{{Proto: 47, Addr: vip4, Port: 1}}}, "protocol 47"},
		{Match{Services: []Endpoint{{Proto: protoTCP, Port: 1}}}, "no address"},
		{Match{Replies: []Endpoint{{Proto: protoICMP, Addr: vip6}}}, "ICMP needs an IPv4"},
		{Match{Replies: []Endpoint{{Proto: protoICMPv6, Addr: vip4}}}, "ICMP needs an IPv4"},
		{Match{Services: []Endpoint{{Proto: protoICMP, Addr: vip4, Port: 3}}}, "port 0"},
		{Match{VIPs: []netip.Addr{{}}}, "VIP"},
		{Match{Tunnels: []Endpoint{{Proto: protoIPIP}}}, "tunnel proto 4 invalid IP port 0: no address"},
		{Match{Tunnels: []Endpoint{{Proto: protoIPIP, Addr: tun4, Port: 1}}}, "IPIP entries have port 0"},
		{Match{Tunnels: []Endpoint{{Proto: protoUDP, Addr: gue4}}}, "need the tunnel port"},
		{Match{Tunnels: []Endpoint{{Proto: protoTCP, Addr: gue4, Port: 80}}}, "protocol 6 is not IPIP"},
		{Match{Tunnels: []Endpoint{{Proto: protoIPIP, Addr: rs6}}}, "IPv4 addresses only"},
		{Match{Tunnels: []Endpoint{{Proto: protoIPIP, Addr: netip.AddrFrom16(tun4.As16())}}}, "IPv4 addresses only"},
		{Match{Tunnels: func() []Endpoint {
			var v []Endpoint
			for i := range 9 {
				v = append(v, Endpoint{Proto: protoIPIP, Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(i)})})
			}
			return v
		}()}, "9 tunnel entries exceed"},
		{Match{VIPs: func() []netip.Addr {
			var v []netip.Addr
			for i := range 9 {
				v = append(v, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
			}
			return v
		}()}, "capacity"},
	}
	for _, c := range bad {
		err := m.Update(c.match)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Update(%+v) = %v, want an error saying %q", c.match, err, c.says)
		}
		checkMaps(t, m, b)
	}
	for _, n := range []int{0, -1, MaxCapacity + 1} {
		if _, err := NewMaps(n); err == nil {
			t.Errorf("NewMaps(%d) succeeded", n)
		}
	}
	m.Close()
	if err := m.Update(a); err == nil {
		t.Error("Update after Close succeeded")
	}
	if _, err := LoadSteering(m, 1); err == nil {
		t.Error("LoadSteering on closed maps succeeded")
	}
}

// TestMapsUpdateKeepsKeptKeys alternates between two full-capacity sets
// sharing one key while a reader looks the shared key up: it must never be
// missing.
func TestMapsUpdateKeepsKeptKeys(t *testing.T) {
	needRoot(t)
	const capacity = 32
	m, err := NewMaps(capacity)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	kept := Endpoint{Proto: protoTCP, Addr: vip4, Port: 80}
	set := func(base byte) Match {
		s := Match{Services: []Endpoint{kept}}
		for i := 1; i < capacity; i++ {
			s.Services = append(s.Services, Endpoint{Proto: protoUDP, Addr: netip.AddrFrom4([4]byte{10, base, 0, byte(i)}), Port: 53})
		}
		return s
	}
	x, y := set(1), set(2)
	if err := m.Update(x); err != nil {
		t.Fatal(err)
	}
	k, _ := endpointKey(kept)
	var stop atomic.Bool
	var misses, looks atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var v uint32
		for !stop.Load() {
			if err := m.services.Lookup(k, &v); err != nil {
				misses.Add(1)
			}
			looks.Add(1)
		}
	}()
	for i := range 100 {
		want := x
		if i%2 == 0 {
			want = y
		}
		if err := m.Update(want); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	checkMaps(t, m, x)
	if misses.Load() != 0 {
		t.Errorf("the kept key was missing in %d of %d lookups", misses.Load(), looks.Load())
	}
}
