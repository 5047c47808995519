package steer

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vsd/vsd/internal/roottest"
)

var nsSeq atomic.Int32

// ipCmd runs ip(8) and fails the test on error.
func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNS creates a network namespace with a unique name (pid + sequence)
// and removes it when the test ends (which also removes its interfaces and
// whatever is attached to them).
func newNS(t testing.TB) string {
	t.Helper()
	roottest.Require(t, "network namespaces, BPF", "ip")
	name := fmt.Sprintf("vsdsteer%d-%d", os.Getpid(), nsSeq.Add(1))
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// vethNS creates a namespace holding an up veth pair a / b and returns the
// namespace and the two names.
func vethNS(t testing.TB) (ns, a, b string) {
	ns = newNS(t)
	a, b = "va"+fmt.Sprint(os.Getpid()%100000), "vb"+fmt.Sprint(os.Getpid()%100000)
	ipCmd(t, "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)
	ipCmd(t, "-n", ns, "link", "set", a, "up")
	ipCmd(t, "-n", ns, "link", "set", b, "up")
	return ns, a, b
}

// enterNS moves the test's goroutine (locked to its thread) into ns until
// the test ends. Subtests run on other goroutines and must enter it again.
func enterNS(t testing.TB, ns string) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("open netns %s: %v", ns, err)
	}
	if err := netns.Set(h); err != nil {
		h.Close()
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("enter netns %s: %v", ns, err)
	}
	t.Cleanup(func() {
		defer orig.Close()
		defer h.Close()
		if err := netns.Set(orig); err != nil {
			t.Errorf("leave netns %s: %v (thread stays locked and dies)", ns, err)
			return
		}
		runtime.UnlockOSThread()
	})
}

func ifindex(t testing.TB, name string) int {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l.Attrs().Index
}

// xdpState returns the id and IFLA_XDP_ATTACHED mode of the XDP program
// on the interface (0, 0 if none).
func xdpState(t testing.TB, name string) (id, mode uint32) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	if x := l.Attrs().Xdp; x != nil && x.ProgId != 0 {
		return x.ProgId, x.AttachMode
	}
	return 0, 0
}

func progID(t testing.TB, p *ebpf.Program) uint32 {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatalf("program info: %v", err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("program info has no id")
	}
	return uint32(id)
}
