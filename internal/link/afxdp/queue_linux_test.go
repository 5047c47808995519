package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/link"
)

// small is a Config that keeps the tests' memory and ring sizes small.
func small(ifaces ...string) Config {
	return Config{Ifaces: ifaces, Queue: 0, Frames: 1024, RingSize: 256}
}

var (
	clientAddr = netip.MustParseAddrPort("10.77.0.2:5000")
	vipAddr    = netip.MustParseAddrPort("10.77.0.1:9000")
	serverAddr = netip.MustParseAddrPort("10.77.1.2:7000")
)

// sendN sends n datagrams "<tag>-<i>" from c to dst.
func sendN(t testing.TB, c *net.UDPConn, dst netip.AddrPort, tag string, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.WriteToUDPAddrPort(fmt.Appendf(nil, "%s-%05d", tag, i), dst); err != nil {
			t.Fatalf("send %d to %s: %v", i, dst, err)
		}
	}
}

// recvN reads datagrams from c until n arrived or d passed; it returns
// the payloads and the source of the last one.
func recvN(t testing.TB, c *net.UDPConn, n int, d time.Duration) (map[string]bool, netip.AddrPort) {
	t.Helper()
	got := map[string]bool{}
	var from netip.AddrPort
	buf := make([]byte, 2048)
	deadline := time.Now().Add(d)
	for len(got) < n {
		_ = c.SetReadDeadline(deadline)
		m, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		got[string(buf[:m])] = true
		from = src
	}
	return got, from
}

// TestReceive: datagrams from the peer namespace to the steered port come
// out of Read with their exact bytes, port 0, the headroom and the whole
// chunk as Buf; a datagram to another port stays with the kernel.
func TestReceive(t *testing.T) {
	l := newLab(t)
	q := l.open(t, small("d0", "d1"))
	c := udpIn(t, l.c, clientAddr)
	const n = 10
	sendN(t, c, vipAddr, "rx", n)
	if _, err := c.WriteToUDPAddrPort([]byte("not-steered"), netip.MustParseAddrPort("10.77.0.1:9001")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	got := readUntil(t, q, n, 3*time.Second, func(fs []link.Frame) {
		for _, f := range fs {
			b := f.Bytes()
			if f.Port != 0 || f.Action != link.Drop || f.Off < link.Headroom || len(f.Buf) != DefaultFrameSize || cap(f.Buf) != DefaultFrameSize {
				t.Errorf("frame Port %d Action %v Off %d len(Buf) %d cap %d: want port 0, drop, Off >= %d, a %d-byte chunk",
					f.Port, f.Action, f.Off, len(f.Buf), cap(f.Buf), link.Headroom, DefaultFrameSize)
			}
			if len(b) < offPay {
				t.Errorf("frame of %d bytes", len(b))
				continue
			}
			want := udpFrame(l.macD0, l.macC0, clientAddr, vipAddr, b[offPay:])
			// The kernel's IP id and the UDP checksum differ from our
			// builder's; compare everything else.
			copy(want[offIP+4:offIP+6], b[offIP+4:offIP+6])
			copy(want[offIP+6:offIP+8], b[offIP+6:offIP+8])
			copy(want[offIP+10:offIP+12], b[offIP+10:offIP+12])
			copy(want[offUDP+6:offUDP+8], b[offUDP+6:offUDP+8])
			if !bytes.Equal(b, want) {
				t.Errorf("frame bytes\n got %x\nwant %x", b, want)
			}
			seen[string(b[offPay:])] = true
		}
	})
	if got != n || len(seen) != n {
		t.Fatalf("received %d frames (%d distinct), want %d", got, len(seen), n)
	}
	for i := range n {
		if p := fmt.Sprintf("rx-%05d", i); !seen[p] {
			t.Errorf("payload %q missing", p)
		}
	}
	// Nothing else comes: the other datagram went to the kernel.
	if extra := readUntil(t, q, 1, 100*time.Millisecond, nil); extra != 0 {
		t.Errorf("%d unexpected frames after the burst", extra)
	}
	st := q.Stats()
	if st.RxFrames != n || st.PerPortRx[0] != n || st.PerPortRx[1] != 0 || st.Polls == 0 {
		t.Errorf("stats %+v: want RxFrames %d on port 0 and some polls", st, n)
	}
}

// TestEchoSamePort: frames written back out of their ingress port, with
// addresses swapped, reach the peer's UDP socket.
func TestEchoSamePort(t *testing.T) {
	l := newLab(t)
	q := l.open(t, small("d0"))
	c := udpIn(t, l.c, clientAddr)
	const n = 50
	sendN(t, c, vipAddr, "echo", n)
	got := readUntil(t, q, n, 3*time.Second, func(fs []link.Frame) {
		for i := range fs {
			swapInPlace(fs[i].Bytes())
			fs[i].Action, fs[i].Port = link.Tx, 0
		}
	})
	if got != n {
		t.Fatalf("read %d frames, want %d", got, n)
	}
	replies, from := recvN(t, c, n, 3*time.Second)
	if len(replies) != n || from != vipAddr {
		t.Fatalf("peer got %d replies (last from %s), want %d from %s", len(replies), from, n, vipAddr)
	}
	st := q.Stats()
	if st.TxFrames != n || st.PerPortTx[0] != n || st.TxDropped != 0 || st.Kicks == 0 {
		t.Errorf("stats %+v: want TxFrames %d, no TxDropped, some kicks", st, n)
	}
	// Every chunk comes home: in the fill ring or on the free stack.
	checkChunksHome(t, q, 1024)
}

// TestCrossPort: received on port 0, rewritten towards the server and
// sent out of port 1 (a copy into port 1's UMEM), it reaches the server.
func TestCrossPort(t *testing.T) {
	l := newLab(t)
	q := l.open(t, small("d0", "d1"))
	c := udpIn(t, l.c, clientAddr)
	s := udpIn(t, l.s, serverAddr)
	from := netip.AddrPortFrom(l.ipD1, 9000)
	const n = 50
	sendN(t, c, vipAddr, "cross", n)
	got := readUntil(t, q, n, 3*time.Second, func(fs []link.Frame) {
		for i := range fs {
			f := &fs[i]
			b := f.Bytes()
			fresh := udpFrame(l.macS0, l.macD1, from, serverAddr, b[offPay:])
			if len(fresh) != len(b) {
				t.Fatalf("rebuilt frame %d bytes, received %d", len(fresh), len(b))
			}
			copy(b, fresh)
			f.Action, f.Port = link.Tx, 1
		}
	})
	if got != n {
		t.Fatalf("read %d frames, want %d", got, n)
	}
	payloads, src := recvN(t, s, n, 3*time.Second)
	if len(payloads) != n || src != from {
		t.Fatalf("server got %d datagrams (last from %s), want %d from %s", len(payloads), src, n, from)
	}
	for i := range n {
		if p := fmt.Sprintf("cross-%05d", i); !payloads[p] {
			t.Errorf("payload %q missing at the server", p)
		}
	}
	st := q.Stats()
	if st.PerPortRx[0] != n || st.PerPortTx[1] != n || st.PerPortTx[0] != 0 || st.TxDropped != 0 {
		t.Errorf("stats %+v: want %d in on port 0 and out on port 1", st, n)
	}
	checkChunksHome(t, q, 1024)
}

// checkChunksHome waits until, on every port, all frames chunks are back
// in the fill ring or on the free stack (none lost, none counted twice);
// call it when the queue is idle and has reaped.
func checkChunksHome(t testing.TB, q *Queue, frames int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for pi, p := range q.ports {
		for {
			p.reap(q.chunkMask)
			home := int(p.fill.local-atomic.LoadUint32(p.fill.cons)) + len(p.free)
			if home == frames {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("port %d: %d chunks in the fill ring and on the free stack, want all %d", pi, home, frames)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestSend: frames built by the caller go out of either port.
func TestSend(t *testing.T) {
	l := newLab(t)
	q := l.open(t, small("d0", "d1"))
	c := udpIn(t, l.c, clientAddr)
	s := udpIn(t, l.s, serverAddr)
	f0 := udpFrame(l.macC0, l.macD0, vipAddr, clientAddr, []byte("hello-client"))
	f1 := udpFrame(l.macS0, l.macD1, netip.AddrPortFrom(l.ipD1, 9000), serverAddr, []byte("hello-server"))
	if err := q.Send(0, f0); err != nil {
		t.Fatalf("Send port 0: %v", err)
	}
	f0[offPay] = 'X' // the bytes were copied: changing them now changes nothing
	if err := q.Send(1, f1); err != nil {
		t.Fatalf("Send port 1: %v", err)
	}
	if got, _ := recvN(t, c, 1, 2*time.Second); !got["hello-client"] {
		t.Errorf("client got %v, want hello-client", got)
	}
	if got, _ := recvN(t, s, 1, 2*time.Second); !got["hello-server"] {
		t.Errorf("server got %v, want hello-server", got)
	}
	if err := q.Send(2, f0); err == nil || !strings.Contains(err.Error(), "no port 2") {
		t.Errorf("Send to port 2: %v, want an error naming the port", err)
	}
	if err := q.Send(0, make([]byte, DefaultFrameSize+1)); err == nil || !strings.Contains(err.Error(), "4097 bytes") {
		t.Errorf("Send of an oversized frame: %v, want an error naming the size", err)
	}
	if err := q.Send(0, nil); err == nil {
		t.Error("Send of an empty frame: no error")
	}
	if st := q.Stats(); st.TxFrames != 2 || st.TxDropped != 3 {
		t.Errorf("stats TxFrames %d TxDropped %d, want 2 and 3", st.TxFrames, st.TxDropped)
	}
}

// TestBurstRefill: a stream of 8 ring sizes is received across many
// Read calls with nothing lost and the fill ring never found empty. The
// sender runs at full speed but never more than window frames ahead of
// the reader: a driver that tops the fill ring up before every poll then
// loses nothing even when the reader is descheduled for a while (other
// tests share the 2 CPUs), while one that did not refill would lose
// everything after the first ring's worth. Sender and reader are pinned
// to different CPUs: the veth softirq runs on the sender's, and sharing
// it starves the reader (datapath-notes.md, "Pitfalls").
func TestBurstRefill(t *testing.T) {
	l := newLab(t)
	cfg := small("d0")
	q := l.open(t, cfg)
	c := udpIn(t, l.c, clientAddr)
	const n = 8 * 256
	window := int64(cfg.RingSize - 64) // frames the reader may hold in one batch: 64
	var got atomic.Int64
	var reads int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		unpin := pin(t, 1)
		defer unpin()
		frames := make([]link.Frame, 64)
		for got.Load() < n {
			k, err := q.Read(frames, 10*time.Millisecond)
			if err != nil {
				t.Errorf("Read: %v", err)
				return
			}
			reads++
			if err := q.Write(frames[:k]); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			got.Add(int64(k))
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	msg := make([]byte, 32)
	unpin := pin(t, 0)
	deadline := time.Now().Add(5 * time.Second)
	for i := int64(0); i < n && time.Now().Before(deadline); i++ {
		for i-got.Load() >= window && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := c.WriteToUDPAddrPort(msg, vipAddr); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	unpin()
	for end := time.Now().Add(time.Second); got.Load() < n && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	st := q.Stats()
	ks, _ := q.kernelStatsOf(0)
	t.Logf("sent %d, received %d in %d reads; stats %+v; kernel %+v", n, got.Load(), reads, st, ks)
	if got.Load() != n || st.RxDropped != 0 {
		t.Errorf("received %d of %d (ring %d), %d dropped by the kernel", got.Load(), n, cfg.RingSize, st.RxDropped)
	}
	if st.FillEmpty != 0 || ks.Rx_fill_ring_empty_descs != 0 {
		t.Errorf("fill ring found empty %d times by Read, %d times by the kernel", st.FillEmpty, ks.Rx_fill_ring_empty_descs)
	}
}

// TestTxRingFull: with the TX ring full, Tx frames are counted in
// TxDropped and their chunks recycled, without blocking; Send reports
// ErrNoSpace; Pass frames are counted in PassLost and frames for an
// unknown port in TxDropped.
func TestTxRingFull(t *testing.T) {
	l := newLab(t)
	cfg := small("d0")
	cfg.RingSize = 64
	q := l.open(t, cfg)
	c := udpIn(t, l.c, clientAddr)
	const n = 12
	sendN(t, c, vipAddr, "full", n)
	frames := make([]link.Frame, n)
	got := 0
	for deadline := time.Now().Add(2 * time.Second); got < n && time.Now().Before(deadline); {
		k, err := q.Read(frames[got:], 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}
	if got != n {
		t.Fatalf("read %d frames, want %d", got, n)
	}
	// Occupy every TX slot with descriptors not yet published (the kernel
	// cannot drain them), as a ring the kernel does not keep up with.
	p := q.ports[0]
	for p.txSpace() > 0 {
		ch := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.queueTx(ch, 60) // 60 zero bytes: dropped by the peer (no MAC of its own)
	}
	if err := q.Send(0, []byte{1, 2, 3}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Send with a full TX ring: %v, want ErrNoSpace", err)
	}
	for i := range frames {
		switch {
		case i < 8:
			frames[i].Action, frames[i].Port = link.Tx, 0
		case i < 10:
			frames[i].Action = link.Pass
		default:
			frames[i].Action, frames[i].Port = link.Tx, 5 // no such port
		}
	}
	start := time.Now()
	if err := q.Write(frames); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Write with a full TX ring took %v", d)
	}
	st := q.Stats()
	if st.TxDropped != 1+8+2 || st.PassLost != 2 || st.TxFrames != 0 {
		t.Errorf("TxDropped %d PassLost %d TxFrames %d, want 11, 2 and 0", st.TxDropped, st.PassLost, st.TxFrames)
	}
	// Write published the filler descriptors; once they complete, every
	// chunk is home again.
	time.Sleep(20 * time.Millisecond)
	if _, err := q.Read(frames[:1], 0); err != nil {
		t.Fatal(err)
	}
	checkChunksHome(t, q, cfg.Frames)
}

// TestNoAllocs: a Read/Write cycle with frames echoed on port 0 and
// copied to port 1 allocates nothing.
func TestNoAllocs(t *testing.T) {
	l := newLab(t)
	q := l.open(t, small("d0", "d1"))
	c := udpIn(t, l.c, clientAddr)
	const n = 200
	sendN(t, c, vipAddr, "alloc", n)
	// Wait until the frames are in the RX ring.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p := q.ports[0]; atomic.LoadUint32(p.rx.prod)-p.rx.local >= n {
			break
		}
	}
	frames := make([]link.Frame, 4)
	total := 0
	allocs := testing.AllocsPerRun(60, func() {
		k, err := q.Read(frames, 0)
		if err != nil {
			panic(err)
		}
		for i := range frames[:k] {
			frames[i].Action, frames[i].Port = link.Tx, uint16(i&1)
			if i&1 == 0 {
				swapInPlace(frames[i].Bytes())
			}
		}
		if err := q.Write(frames[:k]); err != nil {
			panic(err)
		}
		total += k
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Read/Write cycle, want 0", allocs)
	}
	if total < n {
		t.Errorf("only %d frames went through the measured cycles, want %d", total, n)
	}
	if st := q.Stats(); st.PerPortTx[0] == 0 || st.PerPortTx[1] == 0 {
		t.Errorf("stats %+v: both the same-port and the cross-port path should have run", st)
	}
}

// TestCloseReleases: Close closes every socket and unmaps every ring and
// UMEM; a second Close is a no-op; a closed queue refuses work.
func TestCloseReleases(t *testing.T) {
	l := newLab(t)
	fdsBefore := countFDs(t)
	var q *Queue
	var err error
	inNS(t, l.d, func() { q, err = Open(small("d0", "d1")) })
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var maps []uintptr
	for _, p := range q.ports {
		maps = append(maps, p.base)
		for _, r := range []*ring{&p.fill.ring, &p.comp.ring, &p.rx.ring, &p.tx.ring} {
			maps = append(maps, uintptr(unsafe.Pointer(&r.mem[0])))
		}
	}
	if got := countFDs(t); got != fdsBefore+2 {
		t.Errorf("%d fds open with the queue, want %d + 2 sockets", got, fdsBefore)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := countFDs(t); got != fdsBefore {
		t.Errorf("%d fds open after Close, want %d", got, fdsBefore)
	}
	mapped := mappings(t)
	for _, a := range maps {
		if mapped[a] {
			t.Errorf("mapping at %#x still present after Close", a)
		}
	}
	if _, err := q.Read(make([]link.Frame, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if err := q.Write(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := q.Send(0, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if fd := q.FD(0); fd != -1 {
		t.Errorf("FD after Close = %d, want -1", fd)
	}
	_ = q.Stats() // must not touch the closed sockets
}

// TestOpenErrors: a missing interface fails with its name and leaves no
// socket behind.
func TestOpenErrors(t *testing.T) {
	l := newLab(t)
	before := countFDs(t)
	var err error
	inNS(t, l.d, func() { _, err = Open(small("d0", "nosuch0")) })
	if err == nil || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("Open with a missing interface: %v, want an error naming it", err)
	}
	if got := countFDs(t); got != before {
		t.Errorf("%d fds after the failed Open, want %d", got, before)
	}
}

// countFDs counts the process's open sockets (what a leaking Open would
// leave); namespace handles and pidfds of the rest of the test binary come
// and go and are not counted.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// mappings returns the start addresses of the process's mappings.
func mappings(t testing.TB) map[uintptr]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	m := map[uintptr]bool{}
	for line := range strings.Lines(string(b)) {
		var start, end uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err == nil {
			m[uintptr(start)] = true
		}
	}
	return m
}

// BenchmarkEchoVeth: frames/s through Read → swap addresses → Write on
// one port (same-port TX, copy mode, native XDP on veth, default
// rings, batches of 64). The generator is an AF_PACKET socket in the peer
// namespace sending 64-byte UDP frames with sendmmsg (64 a call,
// PACKET_QDISC_BYPASS), pinned to CPU 0 where the veth softirq then runs;
// the queue is pinned to CPU 1. Both share this 2-CPU machine: read
// frames/s together with gen-pps (what the generator offered).
func BenchmarkEchoVeth(b *testing.B) {
	l := newLab(b)
	q := l.open(b, Config{Ifaces: []string{"d0"}})
	_ = udpIn(b, l.c, clientAddr) // the echoes' destination
	frame := udpFrame(l.macD0, l.macC0, clientAddr, vipAddr, make([]byte, 18))
	gen := newPacketGen(b, l.c, "c0", frame, 64)
	stop := make(chan struct{})
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		unpin := pin(b, 0)
		defer unpin()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent += gen.send()
		}
	}()
	unpin := pin(b, 1)
	defer unpin()
	frames := make([]link.Frame, 64)
	got := 0
	b.ResetTimer()
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for got < b.N && time.Now().Before(deadline) {
		n, err := q.Read(frames, 10*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		for i := range frames[:n] {
			swapInPlace(frames[i].Bytes())
			frames[i].Action = link.Tx
		}
		if err := q.Write(frames[:n]); err != nil {
			b.Fatal(err)
		}
		got += n
	}
	el := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	st := q.Stats()
	ks, _ := q.kernelStatsOf(0)
	b.Logf("N=%d in %v: stats %+v; kernel %+v", got, el, st, ks)
	b.ReportMetric(float64(got)/el.Seconds(), "frames/s")
	b.ReportMetric(float64(sent)/el.Seconds(), "gen-pps")
	b.ReportMetric(float64(st.RxFrames)/float64(max(st.Polls, 1)), "frames/poll")
	b.ReportMetric(float64(st.TxFrames)/float64(max(st.Kicks, 1)), "frames/kick")
	b.ReportMetric(float64(st.RxDropped), "rx-dropped")
	b.ReportMetric(float64(st.TxDropped), "tx-dropped")
}

// packetGen sends one frame over and over from an AF_PACKET socket with
// sendmmsg.
type packetGen struct {
	fd   int
	iov  unix.Iovec
	msgs []mmsghdr
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func newPacketGen(t testing.TB, ns, ifname string, frame []byte, batch int) *packetGen {
	t.Helper()
	g := &packetGen{fd: -1, msgs: make([]mmsghdr, batch)}
	var err error
	inNS(t, ns, func() {
		var ifc *net.Interface
		if ifc, err = net.InterfaceByName(ifname); err != nil {
			return
		}
		if g.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return
		}
		if err = unix.Bind(g.fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			return
		}
		err = unix.SetsockoptInt(g.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	})
	if g.fd >= 0 {
		t.Cleanup(func() { unix.Close(g.fd) })
	}
	if err != nil {
		t.Fatalf("AF_PACKET generator on %s in %s: %v", ifname, ns, err)
	}
	g.iov.Base = &frame[0]
	g.iov.SetLen(len(frame))
	for i := range g.msgs {
		g.msgs[i].hdr.Iov = &g.iov
		g.msgs[i].hdr.SetIovlen(1)
	}
	return g
}

// send sends one batch and returns how many frames the kernel took.
func (g *packetGen) send() int {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(g.fd), uintptr(unsafe.Pointer(&g.msgs[0])), uintptr(len(g.msgs)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// pin locks the calling goroutine to its thread and that thread to cpu
// (modulo the CPUs there are); the returned func undoes both.
func pin(t testing.TB, cpu int) func() {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	set.Set(cpu % runtime.NumCPU())
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Logf("pin to CPU %d: %v", cpu, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}
}
