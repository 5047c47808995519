package neigh

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/roottest"
)

// These tests build two network namespaces joined by three veth pairs:
//
//	director ns "d"                 peer ns "p"
//	  d0 10.77.1.1/24 fd77:1::1/64 ── q0 10.77.1.2 fd77:1::2   (port 0)
//	  d1 10.77.2.1/24              ── q1 10.77.2.2             (port 1)
//	  dx 10.77.3.1/24              ── qx 10.77.3.2             (not a port)
//
// with routes in "d": 198.51.100.0/24 via 10.77.2.2, 2001:db8:100::/64 via
// fd77:1::2, 203.0.113.0/24 via 10.77.3.2. Names carry the pid and a
// counter; t.Cleanup deletes the namespaces (and with them the veths).

func needRoot(t *testing.T) {
	t.Helper()
	roottest.Require(t, "network namespaces", "ip")
}

var labSeq atomic.Int32

type lab struct {
	d, p   string // namespace names
	dh, ph netns.NsHandle
	ports  []Port
	peer   map[string][6]byte // peer interface name → MAC
	pfx    string             // interface name prefix
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	needRoot(t)
	n := labSeq.Add(1)
	l := &lab{
		d:    fmt.Sprintf("vsdneigh-%d-%d-d", os.Getpid(), n),
		p:    fmt.Sprintf("vsdneigh-%d-%d-p", os.Getpid(), n),
		pfx:  fmt.Sprintf("n%d%c", os.Getpid()%1000000, 'a'+rune(n%26)),
		peer: map[string][6]byte{},
	}
	for _, ns := range []string{l.d, l.p} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	for _, s := range []string{"0", "1", "x"} {
		ipCmd(t, "link", "add", l.pfx+"d"+s, "netns", l.d, "type", "veth", "peer", "name", l.pfx+"q"+s, "netns", l.p)
	}
	d := func(args ...string) { ipCmd(t, append([]string{"-n", l.d}, args...)...) }
	p := func(args ...string) { ipCmd(t, append([]string{"-n", l.p}, args...)...) }
	for i, s := range []string{"0", "1", "x"} {
		sub := []string{"1", "2", "3"}[i]
		d("addr", "add", "10.77."+sub+".1/24", "dev", l.pfx+"d"+s)
		p("addr", "add", "10.77."+sub+".2/24", "dev", l.pfx+"q"+s)
	}
	d("addr", "add", "fd77:1::1/64", "dev", l.pfx+"d0", "nodad")
	p("addr", "add", "fd77:1::2/64", "dev", l.pfx+"q0", "nodad")
	for _, s := range []string{"0", "1", "x"} {
		d("link", "set", l.pfx+"d"+s, "up")
		p("link", "set", l.pfx+"q"+s, "up")
	}
	d("link", "set", "lo", "up")
	d("route", "add", "198.51.100.0/24", "via", "10.77.2.2")
	d("route", "add", "203.0.113.0/24", "via", "10.77.3.2")
	d("-6", "route", "add", "2001:db8:100::/64", "via", "fd77:1::2")

	// Let IPv6 duplicate address detection of the link-local addresses
	// finish, so its late route notifications do not land in the tests.
	for _, ns := range []string{l.d, l.p} {
		if !waitFor(10*time.Second, func() bool {
			out, err := exec.Command("ip", "-n", ns, "-6", "addr", "show", "tentative").CombinedOutput()
			return err == nil && len(strings.TrimSpace(string(out))) == 0
		}) {
			t.Fatalf("namespace %s: IPv6 addresses still tentative after 10 s", ns)
		}
	}
	var err error
	if l.dh, err = netns.GetFromName(l.d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.dh.Close() })
	if l.ph, err = netns.GetFromName(l.p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.ph.Close() })
	for _, side := range []struct {
		h     netns.NsHandle
		names []string
		port  bool
	}{{l.dh, []string{"d0", "d1"}, true}, {l.ph, []string{"q0", "q1", "qx"}, false}} {
		h, err := netlink.NewHandleAt(side.h)
		if err != nil {
			t.Fatal(err)
		}
		for _, nm := range side.names {
			lk, err := h.LinkByName(l.pfx + nm)
			if err != nil {
				h.Close()
				t.Fatal(err)
			}
			a := lk.Attrs()
			if side.port {
				l.ports = append(l.ports, Port{Name: a.Name, Index: a.Index, MAC: [6]byte(a.HardwareAddr)})
			} else {
				l.peer[nm] = [6]byte(a.HardwareAddr)
			}
		}
		h.Close()
	}
	return l
}

func (l *lab) inD(t *testing.T, args ...string) { ipCmd(t, append([]string{"-n", l.d}, args...)...) }
func (l *lab) inP(t *testing.T, args ...string) { ipCmd(t, append([]string{"-n", l.p}, args...)...) }

// waitFor polls cond every 20 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func resolveAddr(tb *Table, s string) ([6]byte, uint16, bool) {
	a := netip.MustParseAddr(s)
	return tb.Resolve(a.Is6(), a.As16())
}

// settled waits (up to 10 s) until changes has not moved for 300 ms and
// returns its value.
func settled(changes *atomic.Int64) int64 {
	last, since := changes.Load(), time.Now()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if c := changes.Load(); c != last {
			last, since = c, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			break
		}
	}
	return last
}

// runTable starts Run; stop (also called by t.Cleanup) cancels it and
// checks that it returns.
func runTable(t *testing.T, tb *Table) (changes *atomic.Int64, stop func()) {
	changes = new(atomic.Int64)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- tb.Run(ctx, func() { changes.Add(1) }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	// The first rebuild after subscribing reports a change.
	if !waitFor(3*time.Second, func() bool { return changes.Load() > 0 }) {
		t.Fatal("Run reported no initial change")
	}
	return changes, stop
}

func TestTableNetns(t *testing.T) {
	l := newLab(t)
	l.inD(t, "neigh", "add", "10.77.1.50", "lladdr", "02:00:00:00:00:50", "dev", l.pfx+"d0", "nud", "permanent")
	tb, err := NewAt(l.dh, l.ports)
	if err != nil {
		t.Fatal(err)
	}
	// A neighbour known before New.
	if mac, port, ok := resolveAddr(tb, "10.77.1.50"); !ok || port != 0 || mac != [6]byte{2, 0, 0, 0, 0, 0x50} {
		t.Errorf("known neighbour: %x port %d ok %v", mac, port, ok)
	}
	// Not next hops: own addresses, broadcast, routes out of a non-port.
	for _, s := range []string{"10.77.1.1", "10.77.1.255", "fd77:1::1", "127.0.0.1", "10.77.3.2", "203.0.113.9", "192.0.2.1"} {
		if _, _, ok := resolveAddr(tb, s); ok {
			t.Errorf("Resolve(%s) ok, want no next hop", s)
		}
	}
	changes, _ := runTable(t, tb)

	cases := []struct {
		addr string
		mac  [6]byte
		port uint16
	}{
		{"10.77.1.2", l.peer["q0"], 0},       // on-link, resolved on demand
		{"198.51.100.9", l.peer["q1"], 1},    // via gateway 10.77.2.2 on port 1
		{"2001:db8:100::9", l.peer["q0"], 0}, // IPv6 via gateway fd77:1::2
		{"fd77:1::2", l.peer["q0"], 0},       // IPv6 on-link (resolved by now: the gateway)
	}
	for _, c := range cases {
		if _, _, ok := resolveAddr(tb, c.addr); ok && c.addr != "fd77:1::2" {
			t.Errorf("Resolve(%s) ok before any resolution", c.addr)
		}
		var mac [6]byte
		var port uint16
		if !waitFor(5*time.Second, func() bool {
			var ok bool
			mac, port, ok = resolveAddr(tb, c.addr)
			return ok
		}) {
			t.Errorf("Resolve(%s) not ok 5 s after the miss", c.addr)
			continue
		}
		if mac != c.mac || port != c.port {
			t.Errorf("Resolve(%s) = %x port %d, want %x port %d", c.addr, mac, port, c.mac, c.port)
		}
	}
	if s := tb.Stats(); s.UseErrors != 0 || s.Fallbacks != 0 || s.Requests == 0 {
		t.Errorf("stats %+v: want requests served by NTF_USE alone", s)
	}
	// Still not next hops while Run serves (no request for them either).
	for _, s := range []string{"10.77.3.2", "203.0.113.9"} {
		if _, _, ok := resolveAddr(tb, s); ok {
			t.Errorf("Resolve(%s) ok: routed out of a non-port", s)
		}
	}

	// A neighbour of a non-port changing does not count.
	quiet := settled(changes)
	l.inD(t, "neigh", "add", "10.77.3.60", "lladdr", "02:00:00:00:00:61", "dev", l.pfx+"dx", "nud", "permanent")
	time.Sleep(200 * time.Millisecond)
	if changes.Load() != quiet {
		t.Errorf("changed() called for a neighbour of a non-port interface")
	}

	// A neighbour added and removed: changed() is called, Resolve follows.
	before := changes.Load()
	l.inD(t, "neigh", "add", "10.77.1.60", "lladdr", "02:00:00:00:00:60", "dev", l.pfx+"d0", "nud", "permanent")
	if !waitFor(3*time.Second, func() bool { return changes.Load() > before }) {
		t.Fatal("changed() not called after a neighbour was added")
	}
	if mac, port, ok := resolveAddr(tb, "10.77.1.60"); !ok || port != 0 || mac != [6]byte{2, 0, 0, 0, 0, 0x60} {
		t.Errorf("added neighbour: %x port %d ok %v", mac, port, ok)
	}
	l.inD(t, "neigh", "del", "10.77.1.60", "dev", l.pfx+"d0")
	if !waitFor(3*time.Second, func() bool { _, _, ok := resolveAddr(tb, "10.77.1.60"); return !ok }) {
		t.Error("deleted neighbour still resolves")
	}
	// An on-link address nobody holds stays unresolved (the kernel's
	// entry goes INCOMPLETE, then FAILED).
	if _, _, ok := resolveAddr(tb, "fd77:1::3"); ok {
		t.Error("Resolve(fd77:1::3) ok at once")
	}
	time.Sleep(time.Second)
	if _, _, ok := resolveAddr(tb, "fd77:1::3"); ok {
		t.Error("Resolve(fd77:1::3) ok for an address nobody holds")
	}

	// A route added: the new destination resolves via its gateway; moved
	// out of the non-port: no longer.
	l.inD(t, "route", "add", "192.0.2.0/24", "via", "10.77.1.2")
	if !waitFor(3*time.Second, func() bool { mac, p, ok := resolveAddr(tb, "192.0.2.1"); return ok && p == 0 && mac == l.peer["q0"] }) {
		t.Error("route added: 192.0.2.1 does not resolve via 10.77.1.2")
	}
	l.inD(t, "route", "replace", "192.0.2.0/24", "via", "10.77.3.2")
	if !waitFor(3*time.Second, func() bool { _, _, ok := resolveAddr(tb, "192.0.2.1"); return !ok }) {
		t.Error("route moved to a non-port: 192.0.2.1 still resolves")
	}
}

// The fallback (a UDP datagram to the discard port) resolves too.
func TestTableFallbackNetns(t *testing.T) {
	l := newLab(t)
	tb, err := NewAt(l.dh, l.ports)
	if err != nil {
		t.Fatal(err)
	}
	tb.forceFallback = true
	others := goleak.IgnoreCurrent()
	_, stop := runTable(t, tb)
	for _, c := range []struct {
		addr string
		mac  [6]byte
		port uint16
	}{{"10.77.2.2", l.peer["q1"], 1}, {"fd77:1::2", l.peer["q0"], 0}} {
		resolveAddr(tb, c.addr)
		if !waitFor(5*time.Second, func() bool { mac, p, ok := resolveAddr(tb, c.addr); return ok && mac == c.mac && p == c.port }) {
			t.Errorf("fallback: %s not resolved to %x port %d", c.addr, c.mac, c.port)
		}
	}
	if s := tb.Stats(); s.Fallbacks == 0 {
		t.Errorf("stats %+v: no fallback sent", s)
	}
	// Run leaves no goroutine behind (netlink's readers included).
	stop()
	goleak.VerifyNone(t, others)
}

func TestOnLinkNetns(t *testing.T) {
	l := newLab(t)
	vips := []netip.Addr{
		netip.MustParseAddr("10.77.1.80"), netip.MustParseAddr("10.77.2.80"), netip.MustParseAddr("fd77:1::80"),
		netip.MustParseAddr("10.77.3.80"), // on the non-port
		netip.MustParseAddr("192.168.77.1"),
		netip.MustParseAddr("::ffff:10.77.2.81"),
	}
	ann, err := OnLinkAt(l.dh, l.ports, vips)
	if err != nil {
		t.Fatal(err)
	}
	want := []Announce{
		{0, netip.MustParseAddr("10.77.1.80")}, {1, netip.MustParseAddr("10.77.2.80")},
		{0, netip.MustParseAddr("fd77:1::80")}, {1, netip.MustParseAddr("10.77.2.81")},
	}
	if fmt.Sprint(ann) != fmt.Sprint(want) {
		t.Errorf("OnLink = %v, want %v", ann, want)
	}
	if _, err := OnLinkAt(l.dh, l.ports, []netip.Addr{{}}); err == nil {
		t.Error("OnLink accepted an invalid VIP")
	}
}

// packetSocket opens an AF_PACKET socket bound to ifindex in namespace ns.
func packetSocket(t *testing.T, ns netns.NsHandle, ifindex int) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, serr := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err := netns.Set(orig); err != nil {
		runtime.LockOSThread() // keep the thread out of the pool
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}); err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Usec: 100000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// On the wire: the peer's kernel asks for VIPs on the director's port, the
// Responder answers through a packet socket, and the peer's neighbour table
// ends up with the port's MAC for them.
func TestResponderOnWire(t *testing.T) {
	l := newLab(t)
	vips := []netip.Addr{netip.MustParseAddr("10.77.1.80"), netip.MustParseAddr("fd77:1::80")}
	ann, err := OnLinkAt(l.dh, l.ports, vips)
	if err != nil {
		t.Fatal(err)
	}
	r := NewResponder(l.ports, ann)
	fd := packetSocket(t, l.dh, l.ports[0].Index)
	stop := make(chan struct{})
	served := make(chan int, 1)
	go func() {
		buf := make([]byte, 2048)
		answered := 0
		defer func() { served <- answered }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, from, err := unix.Recvfrom(fd, buf[:1500], 0)
			if err != nil {
				continue // timeout
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if m, ok := r.Answer(buf, 0, n, 0); ok {
				if unix.Sendto(fd, buf[:m], 0, &unix.SockaddrLinklayer{Ifindex: l.ports[0].Index}) == nil {
					answered++
				}
			}
		}
	}()
	ph, err := netlink.NewHandleAt(l.ph)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	q0 := 0
	if lk, err := ph.LinkByName(l.pfx + "q0"); err == nil {
		q0 = lk.Attrs().Index
	} else {
		t.Fatal(err)
	}
	for _, v := range vips {
		l.inP(t, "neigh", "replace", v.String(), "dev", l.pfx+"q0", "use")
		ok := waitFor(5*time.Second, func() bool {
			ns, err := ph.NeighList(q0, 0)
			if err != nil {
				return false
			}
			for _, n := range ns {
				if a, _ := netip.AddrFromSlice(n.IP); a.Unmap() == v && n.State&(nudReachable|nudStale) != 0 {
					return net.HardwareAddr(l.ports[0].MAC[:]).String() == n.HardwareAddr.String()
				}
			}
			return false
		})
		if !ok {
			t.Errorf("peer did not learn %s → %x", v, l.ports[0].MAC)
		}
	}
	close(stop)
	if n := <-served; n < len(vips) {
		t.Errorf("answered %d requests, want at least %d", n, len(vips))
	}
}
