package flood

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/netns"
	"github.com/vsd/vsd/internal/roottest"
)

// inInitialNS reports whether this thread is in the initial network
// namespace, as Open tells it, or that it cannot tell (as when not root on
// a machine whose pid 1 is not readable).
func inInitialNS(t *testing.T) (bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := readNS(selfNSPath)
	if err != nil {
		t.Fatal(err)
	}
	init, err := readInitNS()
	return self == init, err
}

func countFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestRefusedInInitialNamespace: a non-loopback interface of the initial
// namespace is refused (Open and Main, status 2), with or without root,
// and no socket is left open.
func TestRefusedInInitialNamespace(t *testing.T) {
	// Where the namespace cannot be told, Open refuses as well (with
	// "cannot tell whether this is the initial network namespace").
	if in, err := inInitialNS(t); err == nil && !in {
		roottest.Unavailable(t, "the test process is not in the initial network namespace")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	dev := ""
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			dev = i.Name
			break
		}
	}
	if dev == "" {
		roottest.Unavailable(t, "the initial namespace has no interface but the loopback")
	}
	cfg := Config{Dev: dev, Src: mustRange(t, "10.0.0.0/8"), Dst: netip.MustParseAddrPort("192.0.2.1:80"),
		Kind: KindSYN, Packets: 10, DstMAC: testDstMAC}
	before := countFDs(t)
	f, err := Open(cfg)
	if err == nil {
		f.Close()
		t.Fatalf("Open on %s in the initial namespace succeeded", dev)
	}
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), dev) || !strings.Contains(err.Error(), "initial network namespace") {
		t.Errorf("Open on %s: %v", dev, err)
	}
	if after := countFDs(t); after != before {
		t.Errorf("%d file descriptors before Open, %d after the refusal", before, after)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"--dev", dev, "--src", "10.0.0.0/8", "--dst", "192.0.2.1:80", "--rate", "max", "--packets", "10"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "vsflood: refusing to flood on "+dev) || out.Len() != 0 {
		t.Errorf("Main on %s: status %d, stdout %q, stderr %q", dev, code, out.String(), errb.String())
	}
}

// TestNoNetRawRefused: on a thread without CAP_NET_RAW, Open on the
// loopback (which the safety rule allows) is refused with ErrNoPrivilege.
func TestNoNetRawRefused(t *testing.T) {
	roottest.Require(t, "dropping CAP_NET_RAW from a thread that has it")
	errc := make(chan error, 1)
	go func() {
		// The thread loses a capability for good: keep it locked so Go
		// discards it when this goroutine ends.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << capNetRaw
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		f, err := Open(Config{Dev: "lo", Src: mustRange(t, "10.0.0.0/8"), Dst: netip.MustParseAddrPort("127.0.0.1:80"),
			Kind: KindSYN, Packets: 1})
		if err == nil {
			f.Close()
			err = errors.New("Open succeeded")
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, ErrNoPrivilege) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Errorf("Open without CAP_NET_RAW: %v", err)
	}
	if !IsBadInput(err) {
		t.Errorf("Main would not exit 2 for %v", err)
	}
}

type floodLab struct {
	a, b *netns.NS
}

// newFloodLab: namespaces a and b joined by veth fa0 (10.99.0.1/24,
// fd99::1/64) – fb0 (10.99.0.2/24, fd99::2/64); a routes the "VIPs"
// 10.99.1.0/24 and fd99:1::/64 via b, which neither owns them nor
// forwards, so the floods end at b's IP layer without answers.
func newFloodLab(t *testing.T) *floodLab {
	roottest.Require(t, "network namespaces", "ip")
	lab, err := netns.New(fmt.Sprintf("vtflood%d", os.Getpid()))
	if err != nil {
		roottest.Unavailable(t, err.Error())
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	a, err := lab.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Veth(a, "fa0", b, "fb0"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns   *netns.NS
		args string
	}{
		{a, "addr add 10.99.0.1/24 dev fa0"}, {b, "addr add 10.99.0.2/24 dev fb0"},
		{a, "addr add fd99::1/64 dev fa0 nodad"}, {b, "addr add fd99::2/64 dev fb0 nodad"},
		{a, "route add 10.99.1.0/24 via 10.99.0.2"}, {a, "route add fd99:1::/64 via fd99::2"},
	} {
		if err := c.ns.IP(strings.Fields(c.args)...); err != nil {
			t.Fatal(err)
		}
	}
	return &floodLab{a: a, b: b}
}

// flood runs cfg from namespace a and returns the result and how many
// packets b's fb0 received meanwhile.
func (l *floodLab) flood(t *testing.T, cfg Config, progress *bytes.Buffer) (Result, uint64) {
	t.Helper()
	before, err := l.b.LinkStats("fb0")
	if err != nil {
		t.Fatal(err)
	}
	var f *Flooder
	if err := l.a.Do(func() (err error) { f, err = Open(cfg); return err }); err != nil {
		t.Fatalf("Open in %s: %v", l.a.Name(), err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := f.Run(ctx, progress) // on any thread: the socket is in a
	if err != nil {
		t.Fatalf("Run: %v (%+v)", err, r)
	}
	time.Sleep(50 * time.Millisecond)
	after, err := l.b.LinkStats("fb0")
	if err != nil {
		t.Fatal(err)
	}
	return r, after.RxPackets - before.RxPackets
}

func TestFloodVeth(t *testing.T) {
	l := newFloodLab(t)
	src4, src6 := mustRange(t, "172.16.0.0/12"), mustRange(t, "2001:db8:f::/48")
	vip4, vip6 := netip.MustParseAddrPort("10.99.1.1:80"), netip.MustParseAddrPort("[fd99:1::1]:80")
	check := func(t *testing.T, cfg Config, r Result, arrived uint64) {
		t.Helper()
		if r.Packets != cfg.Packets || r.Errors != 0 {
			t.Errorf("sent %d of %d, %d errors", r.Packets, cfg.Packets, r.Errors)
		}
		// b's own ARP/NDP answers are its tx; a few of a's (NDP, MLD) may add.
		if arrived < cfg.Packets*99/100 || arrived > cfg.Packets+50 {
			t.Errorf("%d of %d packets arrived on fb0", arrived, cfg.Packets)
		}
		if want := r.Packets * uint64(frameLen(&cfg)); r.Bytes != want {
			t.Errorf("%d bytes, want %d", r.Bytes, want)
		}
	}
	t.Run("syn4-max", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src4, Dst: vip4, Kind: KindSYN, Packets: 20000}
		r, arrived := l.flood(t, cfg, nil)
		check(t, cfg, r, arrived)
		t.Logf("max rate, syn IPv4 over veth: %s; %d arrived", r, arrived)
	})
	t.Run("syn4-paced", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src4, Dst: vip4, Kind: KindSYN, Packets: 5000, Rate: 20000, Random: true}
		r, arrived := l.flood(t, cfg, nil)
		check(t, cfg, r, arrived)
		if pps := r.PPS(); pps < 16000 || pps > 24000 {
			t.Errorf("paced at 20000 pps, achieved %.0f pps (%s)", pps, r)
		}
		t.Logf("paced: %s", r)
	})
	t.Run("synack-seq4", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src4, SrcNum: 1000, Sport: PortRange{1024, 65535}, Dst: vip4, Kind: KindSYNACKSeq, Packets: 10000}
		r, arrived := l.flood(t, cfg, nil)
		check(t, cfg, r, arrived)
		t.Logf("synack-seq: %s", r)
	})
	t.Run("udp6-max", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src6, Dst: vip6, Kind: KindUDP, Size: 1000, Packets: 10000}
		r, arrived := l.flood(t, cfg, nil)
		check(t, cfg, r, arrived)
		t.Logf("udp IPv6 1000-byte payload: %s", r)
	})
	t.Run("syn6-paced", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src6, Dst: vip6, Kind: KindSYN, Packets: 2000, Rate: 10000}
		r, arrived := l.flood(t, cfg, nil)
		check(t, cfg, r, arrived)
		if pps := r.PPS(); pps < 8000 || pps > 12000 {
			t.Errorf("paced at 10000 pps, achieved %.0f pps", pps)
		}
	})
	t.Run("duration", func(t *testing.T) {
		cfg := Config{Dev: "fa0", Src: src4, Dst: vip4, Kind: KindSYN, Duration: 300 * time.Millisecond, Rate: 10000}
		r, _ := l.flood(t, cfg, nil)
		if r.Elapsed < 300*time.Millisecond || r.Elapsed > 400*time.Millisecond || r.Packets < 2400 || r.Packets > 3600 {
			t.Errorf("300ms at 10000 pps: %s", r)
		}
	})
	t.Run("main", func(t *testing.T) {
		// The command line end to end, with its progress line.
		var out, errb bytes.Buffer
		var code int
		args := strings.Fields("--dev fa0 --src 10.200.0.0/16 --dst 10.99.1.1:443 --kind synack-seq --rate 10000 --duration 1.2s")
		if err := l.a.Do(func() error { code = Main(context.Background(), args, &out, &errb); return nil }); err != nil {
			t.Fatal(err)
		}
		if code != 0 {
			t.Fatalf("status %d: %s", code, errb.String())
		}
		if !regexp.MustCompile(`^vsflood: 1\.0s \d+ packets \d+ pps\n$`).MatchString(errb.String()) {
			t.Errorf("progress %q", errb.String())
		}
		m := regexp.MustCompile(`^vsflood: sent (\d+) packets in 1\.2\d\ds: (\d+) pps, [\d.]+ Mbit/s, 0 send errors\n$`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("summary %q", out.String())
		}
		var n, pps int
		fmt.Sscan(m[1], &n)
		fmt.Sscan(m[2], &pps)
		if n < 10000 || n > 14000 || pps < 8000 || pps > 12000 {
			t.Errorf("summary %q", out.String())
		}
	})
	t.Run("allocs", func(t *testing.T) {
		// The per-batch work (fill and queue, one sendto) allocates nothing.
		var f *Flooder
		cfg := Config{Dev: "fa0", Src: src4, Dst: vip4, Kind: KindSYNACKSeq, Packets: 1}
		if err := l.a.Do(func() (err error) { f, err = Open(cfg); return err }); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var sent uint64
		n := testing.AllocsPerRun(100, func() {
			f.queue(64)
			k, _ := f.kick()
			sent += k
		})
		if n != 0 {
			t.Errorf("a batch allocates %.1f times", n)
		}
		if sent != 101*64 {
			t.Errorf("%d frames sent by 101 batches of 64", sent)
		}
	})
	t.Run("resolve", func(t *testing.T) {
		// The frames carry b's MAC, found through the route's gateway.
		var f *Flooder
		cfg := Config{Dev: "fa0", Src: src6, Dst: vip6, Kind: KindSYN, Packets: 1}
		if err := l.a.Do(func() (err error) { f, err = Open(cfg); return err }); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var mac string
		if err := l.b.Do(func() error {
			i, err := net.InterfaceByName("fb0")
			if err == nil {
				mac = i.HardwareAddr.String()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if f.DstMAC.String() != mac {
			t.Errorf("resolved %s, fb0 is %s", f.DstMAC, mac)
		}
	})
}
