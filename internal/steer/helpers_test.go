package steer

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/vsd/vsd/internal/roottest"
)

// needRoot skips (or, with CI=true, fails) a test that loads BPF programs.
func needRoot(t testing.TB) {
	t.Helper()
	roottest.Require(t, "loading BPF programs")
}

var (
	vip4   = netip.MustParseAddr("10.0.0.80")
	vip4b  = netip.MustParseAddr("10.0.0.81") // TCP port-0 service only
	vip6   = netip.MustParseAddr("2001:db8::80")
	rs4    = netip.MustParseAddr("10.0.1.3")
	rs6    = netip.MustParseAddr("2001:db8:1::3") // TCP (and ICMPv6) only
	rs6u   = netip.MustParseAddr("2001:db8:1::4") // UDP port 53 only
	client = netip.MustParseAddr("192.0.2.7")
	cli6   = netip.MustParseAddr("2001:db8:ffff::7")
	other4 = netip.MustParseAddr("10.0.0.99")
	other6 = netip.MustParseAddr("2001:db8::99")
	dir4   = netip.MustParseAddr("10.0.1.1")   // the director's port address: tunnel source
	rtr4   = netip.MustParseAddr("10.0.3.254") // a router between the director and a TUN real server
	tun4   = netip.MustParseAddr("10.0.2.5")   // IPIP real server
	gue4   = netip.MustParseAddr("10.0.2.6")   // GUE real server, tunnel port guePort
)

// testMatch is the fixture every classifier test runs against.
func testMatch() Match {
	return Match{
		Services: []Endpoint{
			{Proto: protoTCP, Addr: vip4, Port: 80},
			{Proto: protoUDP, Addr: vip4, Port: 53},
			{Proto: protoSCTP, Addr: vip4, Port: 9000},
			{Proto: protoTCP, Addr: vip4b, Port: 0},
			{Proto: protoTCP, Addr: vip6, Port: 80},
			{Proto: protoUDP, Addr: vip6, Port: 0},
			{Proto: protoICMP, Addr: vip4},
			{Proto: protoICMPv6, Addr: vip6},
		},
		Replies: []Endpoint{
			{Proto: protoTCP, Addr: rs4, Port: 80},
			{Proto: protoUDP, Addr: rs4, Port: 0},
			{Proto: protoICMP, Addr: rs4},
			{Proto: protoTCP, Addr: rs6, Port: 80},
			{Proto: protoICMPv6, Addr: rs6},
			{Proto: protoUDP, Addr: rs6u, Port: 53},
		},
		VIPs: []netip.Addr{vip4, vip4b, vip6},
		Tunnels: []Endpoint{
			{Proto: protoIPIP, Addr: tun4},
			{Proto: protoUDP, Addr: gue4, Port: guePort},
		},
	}
}

// testPrograms are the classifier's test variants on testMatch's maps.
type testPrograms struct {
	maps  *Maps
	xdp   *ebpf.Program // ours → XDP_TX
	guard *Guard
	steer *Steering
}

func loadTestPrograms(t testing.TB) *testPrograms {
	t.Helper()
	needRoot(t)
	m, err := NewMaps(64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Update(testMatch()); err != nil {
		t.Fatal(err)
	}
	x, err := loadProgram("vsd_steer_test", ebpf.XDP, xdpSteeringInsns(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	g, err := LoadGuard(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	s, err := LoadSteering(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testPrograms{maps: m, xdp: x, guard: g, steer: s}
}

// run test-runs prog on frame and returns its verdict and output frame.
func run(t testing.TB, prog *ebpf.Program, frame []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(frame)+256)
	opts := ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1}
	ret, err := prog.Run(&opts)
	if err != nil {
		t.Fatalf("test run of %v on %d bytes: %v", prog, len(frame), err)
	}
	return ret, opts.DataOut
}
