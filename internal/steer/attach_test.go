package steer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// trivialXDP loads a program that passes everything (a stand-in for a
// stale program left by someone else).
func trivialXDP(t testing.TB) *ebpf.Program {
	t.Helper()
	p := &prog{}
	p.ret(xdpPass)
	x, err := loadProgram("vsd_stale_test", ebpf.XDP, p.insns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func TestAttachSteering(t *testing.T) {
	ns, a, _ := vethNS(t)
	enterNS(t, ns)
	m, err := NewMaps(16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s, err := LoadSteering(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ours := progID(t, s.Program())
	idx := ifindex(t, a)

	for _, c := range []struct {
		ask, want XDPMode
		attached  uint32
	}{{XDPNative, XDPNative, xdpAttachedDrv}, {XDPGeneric, XDPGeneric, xdpAttachedSKB}, {XDPAuto, XDPNative, xdpAttachedDrv}} {
		got, err := s.Attach(idx, c.ask)
		if err != nil {
			t.Fatalf("attach %v: %v", c.ask, err)
		}
		if got != c.want || s.AttachInfo().ReplacedProgID != 0 {
			t.Errorf("attach %v: mode %v, info %v; want %v, nothing replaced", c.ask, got, s.AttachInfo(), c.want)
		}
		if id, mode := xdpState(t, a); id != ours || mode != c.attached {
			t.Errorf("attach %v: interface has program %d in mode %d, want %d in mode %d", c.ask, id, mode, ours, c.attached)
		}
		if _, err := s.Attach(idx, c.ask); err == nil {
			t.Error("second Attach succeeded")
		}
		if err := s.Detach(); err != nil {
			t.Fatal(err)
		}
		if id, _ := xdpState(t, a); id != 0 {
			t.Fatalf("after Detach the interface still has XDP program %d", id)
		}
	}

	// A stale program attached through netlink, in either mode, is replaced.
	stale := trivialXDP(t)
	staleID := progID(t, stale)
	for _, c := range []struct {
		flags int
		mode  XDPMode
	}{{xdpFlagsSKB, XDPGeneric}, {xdpFlagsDrv, XDPNative}} {
		l, _ := netlink.LinkByName(a)
		if err := netlink.LinkSetXdpFdWithFlags(l, stale.FD(), c.flags); err != nil {
			t.Fatalf("attach stale program through netlink: %v", err)
		}
		if id, _ := xdpState(t, a); id != staleID {
			t.Fatalf("stale program not attached (interface has %d)", id)
		}
		got, err := s.Attach(idx, XDPAuto)
		if err != nil {
			t.Fatalf("attach over a stale %v program: %v", c.mode, err)
		}
		info := s.AttachInfo()
		if got != XDPNative || info.ReplacedProgID != staleID || info.ReplacedMode != c.mode {
			t.Errorf("attach over stale: mode %v, info %+v; want native, replaced %d (%v)", got, info, staleID, c.mode)
		}
		want := fmt.Sprintf("replaced stale XDP program id %d", staleID)
		if !strings.Contains(info.String(), want) {
			t.Errorf("AttachInfo.String() = %q, want it to contain %q", info, want)
		}
		if id, _ := xdpState(t, a); id != ours {
			t.Errorf("interface has program %d, want ours (%d)", id, ours)
		}
		if err := s.Detach(); err != nil {
			t.Fatal(err)
		}
		if id, _ := xdpState(t, a); id != 0 {
			t.Fatalf("after Detach the interface still has XDP program %d", id)
		}
	}

	// Another live bpf_link: not touched, and the error names the program.
	other, err := link.AttachXDP(link.XDPOptions{Program: stale, Interface: idx, Flags: link.XDPGenericMode})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = s.Attach(idx, XDPAuto)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("program id %d", staleID)) || !strings.Contains(err.Error(), a) {
		t.Errorf("attach while another bpf_link holds %s: err = %v, want one naming program id %d and the interface", a, err, staleID)
	}
	if id, _ := xdpState(t, a); id != staleID {
		t.Errorf("the other link's program was disturbed (interface has %d)", id)
	}
	other.Close()

	if _, err := s.Attach(9999, XDPAuto); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("attach to a missing interface: err = %v", err)
	}
	if err := s.SetSocket(1, 3); err == nil {
		t.Error("SetSocket(1) on a one-queue map succeeded")
	}
}

// TestGuardDrops sends UDP across a veth pair between two namespaces to a
// port the guard selects and to one it does not: only the second reaches
// the socket.
func TestGuardDrops(t *testing.T) {
	ns1, a, b := vethNS(t)
	ns2 := newNS(t)
	ipCmd(t, "-n", ns1, "link", "set", b, "netns", ns2)
	ipCmd(t, "-n", ns1, "addr", "add", "10.99.0.1/24", "dev", a)
	ipCmd(t, "-n", ns2, "addr", "add", "10.99.0.2/24", "dev", b)
	ipCmd(t, "-n", ns2, "link", "set", b, "up")
	enterNS(t, ns2)

	m, err := NewMaps(16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	dst := netip.MustParseAddr("10.99.0.2")
	if err := m.Update(Match{Services: []Endpoint{{Proto: protoUDP, Addr: dst, Port: 9999}}}); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGuard(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	idx := ifindex(t, b)
	if err := g.Attach(idx); err != nil {
		t.Fatal(err)
	}
	res, err := link.QueryPrograms(link.QueryOptions{Target: idx, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Programs) != 1 || uint32(res.Programs[0].ID) != progID(t, g.Program()) {
		t.Fatalf("tcx ingress of %s holds %+v, want the guard", b, res.Programs)
	}

	listen := func(port int) *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	guarded, open := listen(9999), listen(9998)

	// The sender lives in the other namespace.
	h, err := netns.GetFromName(ns1)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cur, _ := netns.Get()
	defer cur.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	snd, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
	if err2 := netns.Set(cur); err2 != nil {
		t.Fatal(err2)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()

	recv := func(c *net.UDPConn) bool {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64)
		_, _, err := c.ReadFromUDP(buf)
		return err == nil
	}
	for _, c := range []struct {
		port int
		conn *net.UDPConn
		want bool
	}{{9998, open, true}, {9999, guarded, false}} {
		got := false
		for i := 0; i < 3 && !got; i++ { // the first datagram may wait for ARP
			if _, err := snd.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: c.port}); err != nil {
				t.Fatal(err)
			}
			got = recv(c.conn)
		}
		if got != c.want {
			t.Errorf("UDP to port %d received = %v, want %v", c.port, got, c.want)
		}
	}

	if err := g.Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := snd.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999}); err != nil {
		t.Fatal(err)
	}
	if !recv(guarded) {
		t.Error("after Detach, UDP to port 9999 still does not arrive")
	}
	if res, err := link.QueryPrograms(link.QueryOptions{Target: idx, Attach: ebpf.AttachTCXIngress}); err != nil || len(res.Programs) != 0 {
		t.Errorf("after Detach tcx ingress holds %+v (err %v)", res, err)
	}
}

func TestRunDecap(t *testing.T) {
	ns, a, _ := vethNS(t)
	enterNS(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen AttachInfo
	err := RunDecapNotify(ctx, a, []netip.Addr{vip4}, guePort, XDPAuto, func(info AttachInfo) {
		seen = info
		if id, mode := xdpState(t, a); id == 0 || mode != xdpAttachedDrv {
			t.Errorf("while running: interface has XDP program %d in mode %d, want one in native mode", id, mode)
		}
		cancel()
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Mode != XDPNative {
		t.Errorf("attached in %v, want native", seen.Mode)
	}
	if id, _ := xdpState(t, a); id != 0 {
		t.Errorf("after RunDecap returned the interface has XDP program %d", id)
	}
	err = RunDecap(ctx, "nosuchdev0", []netip.Addr{vip4}, 0, XDPAuto)
	if err == nil || !strings.Contains(err.Error(), "nosuchdev0") {
		t.Errorf("RunDecap on a missing interface: err = %v, want one naming it", err)
	}
	err = RunDecap(ctx, a, nil, 0, XDPAuto)
	if err == nil || !strings.Contains(err.Error(), a) {
		t.Errorf("RunDecap without VIPs: err = %v, want one naming %s", err, a)
	}
}
