package afxdp

// Test plumbing for the root tests: network namespaces with veth pairs, a
// minimal XDP program built with cilium/ebpf/asm, sockets created inside
// a namespace, and UDP frame helpers.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/roottest"
)

// requireRoot skips (fails under CI=true) unless the test can create
// namespaces and load BPF.
func requireRoot(t testing.TB) {
	t.Helper()
	roottest.Require(t, "network namespaces, XDP, AF_XDP", "ip", "ethtool")
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

var nsSeq atomic.Int32

// testUDPPort is the UDP destination port the test XDP program steers to
// the AF_XDP sockets; everything else is XDP_PASS.
const testUDPPort = 9000

// lab is the test topology:
//
//	ns c: c0 10.77.0.2 ── d0 10.77.0.1  ns d  d1 10.77.1.1 ── s0 10.77.1.2 :ns s
//
// with the test XDP program on d0 and d1 (native mode) steering UDP to
// port 9000 into the XSKMAP of each interface.
type lab struct {
	d, c, s      string // namespace names
	macD0, macD1 net.HardwareAddr
	macC0, macS0 net.HardwareAddr
	ipD0, ipD1   netip.Addr
	ipC0, ipS0   netip.Addr
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireRoot(t)
	prefix := fmt.Sprintf("vsdxdp%d-%d", os.Getpid(), nsSeq.Add(1))
	l := &lab{
		d: prefix + "d", c: prefix + "c", s: prefix + "s",
		ipD0: netip.MustParseAddr("10.77.0.1"), ipC0: netip.MustParseAddr("10.77.0.2"),
		ipD1: netip.MustParseAddr("10.77.1.1"), ipS0: netip.MustParseAddr("10.77.1.2"),
	}
	for _, ns := range []string{l.d, l.c, l.s} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	ipCmd(t, "-n", l.d, "link", "add", "d0", "type", "veth", "peer", "name", "c0", "netns", l.c)
	ipCmd(t, "-n", l.d, "link", "add", "d1", "type", "veth", "peer", "name", "s0", "netns", l.s)
	for _, c := range [][]string{
		{l.d, "d0", "10.77.0.1/24"}, {l.d, "d1", "10.77.1.1/24"},
		{l.c, "c0", "10.77.0.2/24"}, {l.s, "s0", "10.77.1.2/24"},
	} {
		ipCmd(t, "-n", c[0], "addr", "add", c[2], "dev", c[1])
		ipCmd(t, "-n", c[0], "link", "set", c[1], "up")
	}
	ipCmd(t, "-n", l.d, "link", "set", "lo", "up")
	// veth offloads the peers' UDP checksums (CHECKSUM_PARTIAL): the
	// frames XDP sees would carry only the pseudo-header sum, and an
	// echoed frame would fail the peer's check. Real NICs deliver
	// complete checksums; make the peers do the same.
	for _, c := range [][2]string{{l.c, "c0"}, {l.s, "s0"}} {
		if out, err := exec.Command("ip", "netns", "exec", c[0], "ethtool", "-K", c[1], "tx", "off").CombinedOutput(); err != nil {
			t.Fatalf("ethtool -K %s tx off in %s: %v: %s", c[1], c[0], err, out)
		}
	}
	l.macD0, l.macD1 = mac(t, l.d, "d0"), mac(t, l.d, "d1")
	l.macC0, l.macS0 = mac(t, l.c, "c0"), mac(t, l.s, "s0")
	// Static neighbours: no ARP round trip before the first packet.
	ipCmd(t, "-n", l.c, "neigh", "replace", "10.77.0.1", "lladdr", l.macD0.String(), "dev", "c0")
	ipCmd(t, "-n", l.s, "neigh", "replace", "10.77.1.1", "lladdr", l.macD1.String(), "dev", "s0")
	return l
}

func mac(t testing.TB, ns, ifname string) net.HardwareAddr {
	t.Helper()
	var hw net.HardwareAddr
	inNS(t, ns, func() {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatalf("interface %s in %s: %v", ifname, ns, err)
		}
		hw = ifc.HardwareAddr
	})
	return hw
}

// inNS runs fn on a locked OS thread switched into namespace ns.
func inNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current netns: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns %s: %v", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter netns %s: %v", ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime discards it when the
			// goroutine ends, so no other goroutine runs in ns.
			t.Errorf("leave netns %s: %v", ns, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// open opens a Queue on ifaces of the director namespace and attaches
// the steering program to every port, with the port's socket in its
// XSKMAP.
func (l *lab) open(t testing.TB, cfg Config) *Queue {
	t.Helper()
	var q *Queue
	var err error
	inNS(t, l.d, func() { q, err = Open(cfg) })
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	for i, name := range cfg.Ifaces {
		l.attach(t, name, q.FD(i), cfg.Queue)
	}
	return q
}

// attach loads the steering program for one interface with fd at key
// queue of its own XSKMAP and attaches it in native mode.
func (l *lab) attach(t testing.TB, ifname string, fd, queue int) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		t.Fatalf("XSKMAP: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Put(uint32(queue), uint32(fd)); err != nil {
		t.Fatalf("XSKMAP put %d -> fd %d: %v", queue, fd, err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vsd_test_xsk", Type: ebpf.XDP, License: "GPL",
		Instructions: steerProgram(m, testUDPPort),
	})
	if err != nil {
		t.Fatalf("load XDP program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var lk ebpflink.Link
	inNS(t, l.d, func() {
		ifc, e := net.InterfaceByName(ifname)
		if e != nil {
			err = e
			return
		}
		lk, err = ebpflink.AttachXDP(ebpflink.XDPOptions{Program: prog, Interface: ifc.Index, Flags: ebpflink.XDPDriverMode})
	})
	if err != nil {
		t.Fatalf("attach XDP to %s: %v", ifname, err)
	}
	t.Cleanup(func() { lk.Close() })
}

// steerProgram: IPv4 (no options) UDP to port → bpf_redirect_map(xsks,
// rx_queue_index, XDP_PASS); everything else XDP_PASS.
func steerProgram(xsks *ebpf.Map, port uint16) asm.Instructions {
	be := func(v uint16) int32 { // a network-order u16 as a native load sees it
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], v)
		return int32(binary.NativeEndian.Uint16(b[:]))
	}
	const xdpPass = 2
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20+8),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, be(0x0800), "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+20+2, asm.Half),
		asm.JNE.Imm(asm.R5, be(port), "pass"),
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // rx_queue_index
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}

// udpIn opens a UDP socket in ns bound to addr.
func udpIn(t testing.TB, ns string, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	var err error
	inNS(t, ns, func() { c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr)) })
	if err != nil {
		t.Fatalf("UDP socket %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Offsets in an Ethernet + IPv4 (IHL 5) + UDP frame.
const (
	offIP     = 14
	offSrcIP  = offIP + 12
	offDstIP  = offIP + 16
	offUDP    = offIP + 20
	offUDPDst = offUDP + 2
	offPay    = offUDP + 8
)

// udpFrame builds an Ethernet/IPv4/UDP frame (UDP checksum 0: none).
func udpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, offPay+len(payload))
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[offIP:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	setIPChecksum(ip[:20])
	binary.BigEndian.PutUint16(b[offUDP:], src.Port())
	binary.BigEndian.PutUint16(b[offUDP+2:], dst.Port())
	binary.BigEndian.PutUint16(b[offUDP+4:], uint16(8+len(payload)))
	copy(b[offPay:], payload)
	return b
}

func setIPChecksum(h []byte) {
	h[10], h[11] = 0, 0
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
}

// swapInPlace turns a received UDP frame into its reply: MACs, IPs and
// ports swapped (checksums stay valid). No allocation.
func swapInPlace(b []byte) {
	for i := range 6 {
		b[i], b[6+i] = b[6+i], b[i]
	}
	for i := range 4 {
		b[offSrcIP+i], b[offDstIP+i] = b[offDstIP+i], b[offSrcIP+i]
	}
	for i := range 2 {
		b[offUDP+i], b[offUDPDst+i] = b[offUDPDst+i], b[offUDP+i]
	}
}

// readUntil reads from q until want frames arrived or d passed, calling
// fn on each batch before Write.
func readUntil(t testing.TB, q *Queue, want int, d time.Duration, fn func([]link.Frame)) int {
	t.Helper()
	frames := make([]link.Frame, 64)
	got := 0
	deadline := time.Now().Add(d)
	for got < want && time.Now().Before(deadline) {
		n, err := q.Read(frames, 20*time.Millisecond)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if fn != nil {
			fn(frames[:n])
		}
		if err := q.Write(frames[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		got += n
	}
	return got
}
