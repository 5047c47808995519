package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
)

// small rings keep the tests' memory and time down.
var smallCfg = Config{BlockSize: 1 << 16, Blocks: 8, TxFrames: 256, Batch: 32}

// Frames the peer sends on either port arrive through Read byte for byte,
// with the right Port, at link.Headroom of a BufSize buffer whose headroom
// the director may write; an 802.1Q or 802.1ad tag the kernel strips off
// is back in place.
func TestReadFromPeer(t *testing.T) {
	e := newEnv(t, 2)
	q := e.open(t, smallCfg)
	raw := []*rawSock{openRaw(t, e.p, "p0", testEtherType), openRaw(t, e.p, "p1", testEtherType)}
	sent := map[uint32][]byte{}
	sentPort := map[uint32]uint16{}
	for i := range 6 {
		port := i % 2
		f := rawFrame(dMAC(port), pMAC(port), uint32(0xa0000+i), 60+i*100)
		sent[uint32(0xa0000+i)], sentPort[uint32(0xa0000+i)] = f, uint16(port)
		raw[port].send(t, f)
	}
	// In-band tagged frames: the receiving kernel strips the tag into
	// skb metadata before the packet sockets see it.
	for i, tpid := range []uint16{0x8100, 0x88a8} {
		tag := uint32(0xb0000 + i)
		inner := rawFrame(dMAC(0), pMAC(0), tag, 80)
		f := append(append(append([]byte{}, inner[:12]...), byte(tpid>>8), byte(tpid), 0x20, 0x64), inner[12:]...)
		sent[tag], sentPort[tag] = f, 0
		raw[0].send(t, f)
	}
	gotFrames := collect(t, q, len(sent), 2*time.Second, func(f *link.Frame) bool {
		b := f.Bytes()
		if len(b) > 16 && (b[12] == 0x81 || b[12] == 0x88 && b[13] == 0xa8) {
			b = b[4:] // rawTag looks after the VLAN tag
		}
		_, ok := rawTag(b)
		if ok {
			// The headroom is ours: writing into it must not disturb the frame.
			clear(f.Buf[:f.Off])
		}
		return ok
	})
	if len(gotFrames) != len(sent) {
		t.Fatalf("received %d of %d frames", len(gotFrames), len(sent))
	}
	for _, g := range gotFrames {
		b := g.bytes
		if b[12] != 0x88 || b[13] != 0xb5 {
			b = b[4:]
		}
		tag, _ := rawTag(b)
		want, ok := sent[tag]
		if !ok {
			t.Fatalf("unexpected tag %#x", tag)
		}
		if !bytes.Equal(g.bytes, want) {
			t.Errorf("frame %#x:\n got % x\nwant % x", tag, g.bytes, want)
		}
		if g.port != sentPort[tag] {
			t.Errorf("frame %#x on port %d, sent to port %d", tag, g.port, sentPort[tag])
		}
		delete(sent, tag)
	}
	// (No check of Polls: when every frame is already in the ring at the
	// first Read, no poll is needed, and CI once saw exactly that.)
	s := q.Stats()
	if s.RxFrames < 8 || s.PerPortRx[0] < 5 || s.PerPortRx[1] < 3 {
		t.Errorf("stats %+v", s)
	}
}

// A UDP datagram from the peer, turned around and written back out of
// the same port, reaches the peer's socket; one rewritten for the other
// subnet and written out of port 1 reaches port 1's peer.
func TestWriteBackAndAcross(t *testing.T) {
	e := newEnv(t, 2)
	q := e.open(t, smallCfg)
	c0 := e.udpPeer(t, 0, 4000)
	c1 := e.udpPeer(t, 1, 4001)
	svc := netip.AddrPortFrom(dIP(0), 9000)
	const n = 10
	for i := range n {
		if _, err := c0.WriteToUDPAddrPort(fmt.Appendf(nil, "ping %d", i), svc); err != nil {
			t.Fatal(err)
		}
	}
	frames := make([]link.Frame, 64)
	seen := 0
	deadline := time.Now().Add(2 * time.Second)
	for seen < n && time.Now().Before(deadline) {
		k, err := q.Read(frames, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			f := &frames[i]
			u, ok := parseUDP(f.Bytes())
			if !ok || u.dst != svc {
				continue
			}
			if f.Port != 0 || !bytes.Equal(u.srcMAC, pMAC(0)) || !bytes.Equal(u.dstMAC, dMAC(0)) || !u.ipHdrOK ||
				u.src != netip.AddrPortFrom(pIP(0), 4000) {
				t.Fatalf("datagram on port %d: %+v", f.Port, u)
			}
			var idx int
			if _, err := fmt.Sscanf(string(u.payload), "ping %d", &idx); err != nil {
				t.Fatalf("payload %q", u.payload)
			}
			seen++
			if idx%2 == 0 { // back out of port 0
				reflect(f.Bytes())
				f.Action, f.Port = link.Tx, 0
				continue
			}
			// Across: to port 1's peer, from an address on its subnet,
			// growing the frame into the headroom by a 4-byte prefix we
			// then drop again (exercises Off moving).
			b := f.Bytes()
			copy(b[0:6], pMAC(1))
			copy(b[6:12], dMAC(1))
			ip := b[14:]
			copy(ip[12:16], dIP(1).AsSlice())
			copy(ip[16:20], pIP(1).AsSlice())
			binary.BigEndian.PutUint16(ip[10:], 0)
			binary.BigEndian.PutUint16(ip[10:], csum(ip[:u.ihl], 0))
			udp := ip[u.ihl:]
			binary.BigEndian.PutUint16(udp[0:], 9000)
			binary.BigEndian.PutUint16(udp[2:], 4001)
			binary.BigEndian.PutUint16(udp[6:], 0) // no UDP checksum (IPv4)
			f.Off -= 4
			f.Len += 4
			copy(f.Buf[f.Off:], b)
			f.Len -= 4
			f.Action, f.Port = link.Tx, 1
		}
		if err := q.Write(frames[:k]); err != nil {
			t.Fatal(err)
		}
	}
	if seen != n {
		t.Fatalf("director saw %d of %d datagrams", seen, n)
	}
	check := func(c *net.UDPConn, from netip.AddrPort, parity int) {
		t.Helper()
		for range n / 2 {
			p, src, err := readUDP(c, 2*time.Second)
			if err != nil {
				t.Fatalf("peer of port %d: %v", parity, err)
			}
			var idx int
			if _, err := fmt.Sscanf(string(p), "ping %d", &idx); err != nil || idx%2 != parity || src != from {
				t.Fatalf("peer of port %d got %q from %v", parity, p, src)
			}
		}
	}
	check(c0, svc, 0)
	check(c1, netip.AddrPortFrom(dIP(1), 9000), 1)
	if s := q.Stats(); s.TxFrames != n || s.PerPortTx[0] != n/2 || s.PerPortTx[1] != n/2 || s.TxDropped != 0 || s.Kicks == 0 || s.Kicks > s.TxFrames {
		t.Errorf("stats %+v", s)
	}
}

// Send puts the caller's bytes on the wire exactly; bad ports and lengths
// are errors. Neither Queue's own transmissions nor the host's (an
// ordinary packet socket in D, through the qdisc) show up in Read.
func TestSendAndNoOwnTx(t *testing.T) {
	e := newEnv(t, 2)
	q := e.open(t, smallCfg)
	peer := openRaw(t, e.p, "p1", testEtherType)
	host := openRaw(t, e.d, "d1", testEtherType)
	f := rawFrame(pMAC(1), dMAC(1), 0xc0001, 200)
	if err := q.Send(1, f); err != nil {
		t.Fatal(err)
	}
	copy(f, "scribble") // Send copied: the sent bytes must not change
	want := rawFrame(pMAC(1), dMAC(1), 0xc0001, 200)
	if b, ok := peer.recv(2 * time.Second); !ok || !bytes.Equal(b, want) {
		t.Fatalf("peer got % x (%v), want % x", b, ok, want)
	}
	hostFrame := rawFrame(pMAC(1), dMAC(1), 0xc0002, 100)
	host.send(t, hostFrame)
	if b, ok := peer.recv(2 * time.Second); !ok || !bytes.Equal(b, hostFrame) {
		t.Fatalf("peer did not get the host's frame: % x", b)
	}
	// A burst through Write as well.
	frames := make([]link.Frame, 8)
	for i := range frames {
		buf := make([]byte, 256)
		fr := rawFrame(pMAC(1), dMAC(1), uint32(0xc0100+i), 64)
		copy(buf[link.Headroom:], fr)
		frames[i] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(fr), Port: 1, Action: link.Tx}
	}
	if err := q.Write(frames); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if b, ok := peer.recv(2 * time.Second); !ok {
			t.Fatalf("peer got %d of %d written frames", i, len(frames))
		} else if tag, _ := rawTag(b); tag != uint32(0xc0100+i) {
			t.Fatalf("frame %d has tag %#x", i, tag)
		}
	}
	own := collect(t, q, 1, 300*time.Millisecond, func(f *link.Frame) bool { _, ok := rawTag(f.Bytes()); return ok })
	if len(own) != 0 {
		t.Fatalf("Read returned %d outgoing frames, first % x", len(own), own[0].bytes)
	}
	for _, c := range []struct {
		port  int
		frame []byte
	}{
		{2, want}, {-1, want}, {0, want[:13]}, {0, make([]byte, 1515)},
	} {
		if err := q.Send(c.port, c.frame); err == nil {
			t.Errorf("Send(%d, %d bytes) succeeded", c.port, len(c.frame))
		}
	}
	// A VLAN-tagged frame may be 4 bytes longer than MTU + 14.
	tagged := rawFrame(pMAC(1), dMAC(1), 0, 1518)
	binary.BigEndian.PutUint16(tagged[12:], 0x8100)
	if err := q.Send(1, tagged); err != nil {
		t.Errorf("Send of a 1518-byte tagged frame: %v", err)
	}
	if s := q.Stats(); s.TxDropped != 4 || s.TxFrames != 10 {
		t.Errorf("stats %+v, want 4 dropped and 10 sent", s)
	}
}

// A burst larger than a block and than a batch arrives in order and
// complete across many Reads: first 1000 frames with nobody reading (so
// blocks hold more frames than a batch and are read over several Reads),
// then 3000 at ~100 kpps while reading.
func TestBurstAcrossBlocksAndBatches(t *testing.T) {
	e := newEnv(t, 1)
	cfg := smallCfg
	cfg.Blocks = 16
	// A block is handed over when full or BlockTimeout after it was
	// opened, whichever is first: at 2ms an unread ring of 16 blocks
	// overflows after ~32ms at any rate. Give the unread first phase room.
	cfg.BlockTimeout = 20 * time.Millisecond
	q := e.open(t, cfg)
	c := e.udpPeer(t, 0, 4100)
	dst := netip.AddrPortFrom(dIP(0), 9100)
	send := func(from, to int, pace bool) {
		for i := from; i < to; i++ {
			var p [8]byte
			binary.BigEndian.PutUint32(p[:], uint32(i))
			if _, err := c.WriteToUDPAddrPort(p[:], dst); err != nil {
				t.Error(err)
				return
			}
			if pace && i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	const pre, total = 1000, 4000
	// Without pauses: a pause longer than BlockTimeout closes a block, so
	// paced frames would fill blocks only partly and could overrun the
	// ring before anyone reads.
	send(0, pre, false)
	done := make(chan struct{})
	go func() { send(pre, total, true); close(done) }()
	defer func() { <-done }()
	frames := make([]link.Frame, 64)
	next, fullBatches := 0, 0
	deadline := time.Now().Add(5 * time.Second)
	for next < total && time.Now().Before(deadline) {
		n, err := q.Read(frames, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if n > smallCfg.Batch {
			t.Fatalf("Read returned %d frames, Batch is %d", n, smallCfg.Batch)
		}
		if n == smallCfg.Batch {
			fullBatches++
		}
		for i := range n {
			u, ok := parseUDP(frames[i].Bytes())
			if !ok || u.dst != dst {
				continue
			}
			if seq := int(binary.BigEndian.Uint32(u.payload)); seq != next {
				t.Fatalf("got datagram %d, want %d (lost or reordered); stats %+v, driver %+v", seq, next, q.Stats(), q.DriverStats())
			}
			next++
		}
		q.Write(frames[:n])
	}
	if next != total {
		t.Fatalf("received %d of %d datagrams", next, total)
	}
	s, d := q.Stats(), q.DriverStats()
	t.Logf("reads with a full batch %d, blocks %d, polls %d", fullBatches, d.RxBlocks, s.Polls)
	if s.RxDropped != 0 || fullBatches < pre/smallCfg.Batch || d.RxBlocks < 3 || d.RxMalformed+d.RxOversize+d.RxTruncated != 0 {
		t.Fatalf("stats %+v driver %+v full batches %d", s, d, fullBatches)
	}
}

// With nobody reading, a two-block ring overflows and the kernel's drop
// count shows in Stats.RxDropped.
func TestRxDroppedCounted(t *testing.T) {
	e := newEnv(t, 1)
	q := e.open(t, Config{BlockSize: 1 << 12, Blocks: 2, TxFrames: 16})
	peer := openRaw(t, e.p, "p0", testEtherType)
	const n = 300
	for i := range n {
		peer.send(t, rawFrame(dMAC(0), pMAC(0), uint32(i), 60))
	}
	time.Sleep(20 * time.Millisecond)
	got := collect(t, q, n, 200*time.Millisecond, func(f *link.Frame) bool { _, ok := rawTag(f.Bytes()); return ok })
	s := q.Stats()
	t.Logf("received %d, kernel dropped %d, freezes %d", len(got), s.RxDropped, q.DriverStats().RxFreezes)
	if s.RxDropped == 0 || len(got)+int(s.RxDropped) != n {
		t.Fatalf("received %d + dropped %d, want %d with some dropped", len(got), s.RxDropped, n)
	}
}

// Two Queues in one fanout group split the flows: every flow's packets
// reach exactly one of them, and both get flows.
func TestFanoutSharesFlows(t *testing.T) {
	e := newEnv(t, 1)
	cfg := smallCfg
	cfg.FanoutGroup = 77
	qs := []*Queue{e.open(t, cfg), e.open(t, cfg)}
	const flows, per = 16, 10
	var conns []*net.UDPConn
	for i := range flows {
		conns = append(conns, e.udpPeer(t, 0, uint16(5000+i)))
	}
	dst := netip.AddrPortFrom(dIP(0), 9200)
	for k := range per {
		for _, c := range conns {
			if _, err := c.WriteToUDPAddrPort([]byte{byte(k)}, dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := map[uint16]int{} // flow source port → queue
	count := [2]int{}
	frames := make([]link.Frame, 64)
	deadline := time.Now().Add(2 * time.Second)
	for count[0]+count[1] < flows*per && time.Now().Before(deadline) {
		for qi, q := range qs {
			n, err := q.Read(frames, 5*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				u, ok := parseUDP(frames[i].Bytes())
				if !ok || u.dst != dst {
					continue
				}
				if o, seen := owner[u.src.Port()]; seen && o != qi {
					t.Fatalf("flow from port %d reached both queues", u.src.Port())
				}
				owner[u.src.Port()] = qi
				count[qi]++
			}
			q.Write(frames[:n])
		}
	}
	t.Logf("queue 0: %d packets, queue 1: %d packets, %d flows", count[0], count[1], len(owner))
	if count[0]+count[1] != flows*per || len(owner) != flows || count[0] == 0 || count[1] == 0 {
		t.Fatalf("packets per queue %v over %d flows, want %d in all split over both", count, len(owner), flows*per)
	}
	// A Queue in another group with a different type of fanout would be
	// refused; a second Open in the same group after Close still works.
	qs[0].Close()
	e.open(t, cfg)
}

// A Read/Write cycle (frames read, turned around, written; or an empty
// ring and a ppoll) allocates nothing.
func TestReadWriteNoAllocs(t *testing.T) {
	e := newEnv(t, 1)
	q := e.open(t, smallCfg)
	c := e.udpPeer(t, 0, 4200)
	dst := netip.AddrPortFrom(dIP(0), 9300)
	for i := range 400 {
		if _, err := c.WriteToUDPAddrPort([]byte{byte(i)}, dst); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	frames := make([]link.Frame, 8)
	probe := rawFrame(pMAC(0), dMAC(0), 1, 64)
	allocs := testing.AllocsPerRun(200, func() {
		n, err := q.Read(frames, time.Millisecond)
		if err != nil {
			panic(err)
		}
		for i := range n {
			if _, ok := parseUDP(frames[i].Bytes()); ok {
				reflect(frames[i].Bytes())
				frames[i].Action = link.Tx
			}
		}
		if err := q.Write(frames[:n]); err != nil {
			panic(err)
		}
		if err := q.Send(0, probe); err != nil {
			panic(err)
		}
	})
	s := q.Stats()
	if allocs != 0 {
		t.Fatalf("%v allocations per Read/Write/Send cycle", allocs)
	}
	if s.RxFrames < 400 || s.TxFrames < 400 || s.Polls == 0 {
		t.Fatalf("the cycle did not run both ways and poll: %+v", s)
	}
}

// Close gives back every socket and mapping, twice is harmless, and the
// Queue refuses work afterwards.
func TestCloseReleases(t *testing.T) {
	e := newEnv(t, 2)
	var first *Queue
	inNS(t, e.d, func() {}) // warm up what inNS itself opens
	q := e.open(t, smallCfg)
	q.Close()
	fds, maps := fdCount(t), ringMaps(t)
	for range 3 {
		inNS(t, e.d, func() {
			var err error
			first, err = Open(Config{Ifaces: e.ifaces(), BlockSize: 1 << 16, Blocks: 4, TxFrames: 64})
			if err != nil {
				t.Error(err)
			}
		})
		if first == nil {
			t.FailNow()
		}
		if got := ringMaps(t); got != maps+4 {
			t.Errorf("open queue has %d socket mappings, want %d", got, maps+4)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		if err := first.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if got := fdCount(t); got != fds {
		t.Errorf("%d fds after Open/Close, %d before", got, fds)
	}
	if got := ringMaps(t); got != maps {
		t.Errorf("%d socket mappings after Close, %d before", got, maps)
	}
	frames := make([]link.Frame, 4)
	if _, err := first.Read(frames, time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := first.Write(frames); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := first.Send(0, make([]byte, 60)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	_ = first.Stats()
	// Bad interface names and a too small BufSize fail with the name.
	var err error
	inNS(t, e.d, func() { _, err = Open(Config{Ifaces: []string{"d0", "nosuch0"}}) })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`"nosuch0"`)) {
		t.Errorf("Open with a missing interface: %v", err)
	}
	inNS(t, e.d, func() { _, err = Open(Config{Ifaces: []string{"d0"}, BufSize: 1024}) })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("BufSize 1024")) {
		t.Errorf("Open with a small BufSize: %v", err)
	}
	if got := fdCount(t); got != fds {
		t.Errorf("%d fds after failed Opens, %d before", got, fds)
	}
}
