package afpacket

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

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/roottest"
)

// needRoot skips (or, under CI=true, fails) a test that needs root and
// the ip tool.
func needRoot(tb testing.TB) {
	tb.Helper()
	roottest.Require(tb, "network namespaces, AF_PACKET", "ip")
}

var envSeq atomic.Int32

// env is a director namespace D with interfaces d0..dN-1, each a veth to
// pI in a peer namespace P. In P, pI has 10.201.I.2/24 and a permanent
// neighbour 10.201.I.1 at dI's MAC, an address D does not have: the D
// kernel drops what it gets, so only the Queue answers. IPv6 is off in
// both namespaces so no neighbour discovery chatter reaches the rings.
type env struct {
	d, p string
	n    int
}

func dMAC(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0x0d, byte(i)} }
func pMAC(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0x0e, byte(i)} }
func dIP(i int) netip.Addr        { return netip.AddrFrom4([4]byte{10, 201, byte(i), 1}) }
func pIP(i int) netip.Addr        { return netip.AddrFrom4([4]byte{10, 201, byte(i), 2}) }

func run(tb testing.TB, args ...string) {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newEnv(tb testing.TB, ports int) *env {
	tb.Helper()
	needRoot(tb)
	id := fmt.Sprintf("vsdafp-%d-%d", os.Getpid(), envSeq.Add(1))
	e := &env{d: id + "-d", p: id + "-p", n: ports}
	for _, ns := range []string{e.d, e.p} {
		run(tb, "ip", "netns", "add", ns)
		tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(tb, "ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	for i := range ports {
		d, p := fmt.Sprintf("d%d", i), fmt.Sprintf("p%d", i)
		run(tb, "ip", "-n", e.d, "link", "add", d, "address", dMAC(i).String(), "type", "veth",
			"peer", "name", p, "address", pMAC(i).String(), "netns", e.p)
		run(tb, "ip", "-n", e.d, "link", "set", d, "up")
		run(tb, "ip", "-n", e.p, "link", "set", p, "up")
		run(tb, "ip", "-n", e.p, "addr", "add", pIP(i).String()+"/24", "dev", p)
		run(tb, "ip", "-n", e.p, "neigh", "add", dIP(i).String(), "lladdr", dMAC(i).String(), "dev", p, "nud", "permanent")
	}
	return e
}

func (e *env) ifaces() []string {
	s := make([]string, e.n)
	for i := range s {
		s[i] = fmt.Sprintf("d%d", i)
	}
	return s
}

// inNS runs fn on an OS thread switched into namespace ns. Sockets opened
// by fn stay in ns. If the thread cannot be switched back it is not
// unlocked, so the runtime discards it.
func inNS(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", ns, err) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
}

// open opens a Queue on all of e's director interfaces, closed at cleanup.
func (e *env) open(tb testing.TB, cfg Config) *Queue {
	tb.Helper()
	if cfg.Ifaces == nil {
		cfg.Ifaces = e.ifaces()
	}
	var q *Queue
	var err error
	inNS(tb, e.d, func() { q, err = Open(cfg) })
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { q.Close() })
	return q
}

// udpPeer opens a UDP socket on pIP(i):port in P.
func (e *env) udpPeer(tb testing.TB, i int, port uint16) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	var err error
	inNS(tb, e.p, func() {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pIP(i), port)))
	})
	if err != nil {
		tb.Fatalf("udp socket in %s: %v", e.p, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// rawSock is a plain AF_PACKET socket (no rings) on one interface,
// receiving only ethertype proto, ignoring its own and the host's
// outgoing frames.
type rawSock struct {
	fd      int
	ifindex int
}

func openRaw(tb testing.TB, ns, ifname string, proto uint16) *rawSock {
	tb.Helper()
	var r rawSock
	var err error
	inNS(tb, ns, func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return
		}
		r.ifindex = ifi.Index
		if r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(proto))); err != nil {
			return
		}
		if err = unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: r.ifindex}); err != nil {
			unix.Close(r.fd)
			return
		}
		err = unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err == nil {
			tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
			err = unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
		if err != nil {
			unix.Close(r.fd)
		}
	})
	if err != nil {
		tb.Fatalf("raw socket on %s in %s: %v", ifname, ns, err)
	}
	tb.Cleanup(func() { unix.Close(r.fd) })
	return &r
}

func (r *rawSock) send(tb testing.TB, frame []byte) {
	tb.Helper()
	if err := unix.Sendto(r.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: r.ifindex}); err != nil {
		tb.Fatalf("raw send: %v", err)
	}
}

// recv waits up to d for one frame.
func (r *rawSock) recv(d time.Duration) ([]byte, bool) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err == nil {
			return buf[:n], true
		}
	}
	return nil, false
}

// testEtherType is IEEE 802 "local experimental ethertype 1": no kernel
// protocol handles it, so frames of it are seen only by packet sockets.
const testEtherType = 0x88b5

// rawFrame builds a frame of testEtherType from src to dst carrying tag
// (a marker the tests look for) and pad bytes to n bytes in all.
func rawFrame(dst, src net.HardwareAddr, tag uint32, n int) []byte {
	f := make([]byte, n)
	copy(f[0:], dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], testEtherType)
	binary.BigEndian.PutUint32(f[14:], tag)
	for i := 18; i < n; i++ {
		f[i] = byte(i) ^ byte(tag)
	}
	return f
}

// rawTag returns the tag of a testEtherType frame (after an optional VLAN
// tag), or false.
func rawTag(f []byte) (uint32, bool) {
	if len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == testEtherType {
		return binary.BigEndian.Uint32(f[14:]), true
	}
	return 0, false
}

// collect reads from q (finishing each batch with Write, all frames
// dropped unless act changes them) until want frames matched keep or d
// passes; it returns copies of the kept frames with their ports.
type got struct {
	port  uint16
	bytes []byte
}

func collect(tb testing.TB, q *Queue, want int, d time.Duration, keep func(f *link.Frame) bool) []got {
	tb.Helper()
	frames := make([]link.Frame, 64)
	var out []got
	deadline := time.Now().Add(d)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := q.Read(frames, 10*time.Millisecond)
		if err != nil {
			tb.Fatalf("Read: %v", err)
		}
		for i := range n {
			f := &frames[i]
			if f.Off != link.Headroom || len(f.Buf) < f.Off+f.Len {
				tb.Fatalf("frame with Off %d Len %d in a %d-byte buffer", f.Off, f.Len, len(f.Buf))
			}
			if keep(f) {
				out = append(out, got{f.Port, append([]byte(nil), f.Bytes()...)})
			}
		}
		if err := q.Write(frames[:n]); err != nil {
			tb.Fatalf("Write: %v", err)
		}
	}
	return out
}

// UDP/IPv4 frame helpers. udpInfo decodes what the tests need.
type udpInfo struct {
	src, dst       netip.AddrPort
	payload        []byte
	srcMAC, dstMAC net.HardwareAddr
	ipHdrOK, udpOK bool
	ihl            int
}

func parseUDP(f []byte) (udpInfo, bool) {
	var u udpInfo
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != unix.IPPROTO_UDP {
		return u, false
	}
	ihl := int(f[14]&0x0f) * 4
	if ihl < 20 || len(f) < 14+ihl+8 {
		return u, false
	}
	ip := f[14:]
	udp := ip[ihl:]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return u, false
	}
	u.dstMAC, u.srcMAC = net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12])
	u.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	u.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
	u.payload = udp[8:ulen]
	u.ihl = ihl
	u.ipHdrOK = csum(ip[:ihl], 0) == 0
	return u, true
}

// csum is the Internet checksum of b added to sum (0 when b carries a
// correct checksum).
func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// reflect turns a UDP/IPv4 frame around in place: MACs, addresses and
// ports swapped. Both checksums stay valid (the sums are commutative).
func reflect(f []byte) {
	var m [6]byte
	copy(m[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], m[:])
	ip := f[14:]
	var a [4]byte
	copy(a[:], ip[12:16])
	copy(ip[12:16], ip[16:20])
	copy(ip[16:20], a[:])
	udp := ip[int(ip[0]&0x0f)*4:]
	var p [2]byte
	copy(p[:], udp[0:2])
	copy(udp[0:2], udp[2:4])
	copy(udp[2:4], p[:])
}

// readUDP reads one datagram on c within d.
func readUDP(c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, error) {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return buf[:n], from, err
}

// fdCount and ringMaps measure what Close must give back.
// fdCount counts the process's open sockets: what a leaking Open would
// leave behind. Other descriptors (namespace handles, pidfds the runtime
// opens for child processes, pipes) come and go with the rest of the test
// binary and are not counted.
func fdCount(tb testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func ringMaps(tb testing.TB) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Count(string(b), "socket:[")
}
