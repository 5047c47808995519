package afpacket

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/vsd/vsd/internal/link"
)

// fakePkt is one packet written into a test block the way the kernel lays
// it out.
type fakePkt struct {
	data        []byte
	vlan        bool
	tci         uint16
	tpid        uint16 // written with TP_STATUS_VLAN_TPID_VALID when nonzero
	origLen     int    // tp_len when larger than len(data) (a truncated capture)
	badMac      bool   // tp_mac pointing past the block
	zeroNextp   bool   // tp_next_offset 0 although packets follow
	csumPartial bool   // TP_STATUS_CSUMNOTREADY
}

type linkFrame = link.Frame

const fakeMacOff = 80 // TPACKET_ALIGN(48 + sizeof(sockaddr_ll)) + padding, as the kernel places it

// writeBlock lays pkts out in blk and sets the block status to status.
func writeBlock(blk []byte, status uint32, pkts []fakePkt) {
	clear(blk)
	ne.PutUint32(blk[0:], 3) // TPACKET_V3
	ne.PutUint32(blk[bdNumPkts:], uint32(len(pkts)))
	ne.PutUint32(blk[bdFirst:], bdHdrLen)
	off := bdHdrLen
	for i, p := range pkts {
		h := blk[off:]
		step := (fakeMacOff + len(p.data) + 7) &^ 7
		next := step
		if i == len(pkts)-1 || p.zeroNextp {
			next = 0
		}
		ne.PutUint32(h[h3Next:], uint32(next))
		ne.PutUint32(h[h3Snaplen:], uint32(len(p.data)))
		plen := len(p.data)
		if p.origLen > plen {
			plen = p.origLen
		}
		ne.PutUint32(h[h3Len:], uint32(plen))
		var st uint32 = tpStatusUser
		if p.vlan {
			st |= tpStatusVlanValid
			ne.PutUint32(h[h3VlanTCI:], uint32(p.tci))
			if p.tpid != 0 {
				st |= tpStatusVlanTpidValid
				ne.PutUint16(h[h3VlanTPID:], p.tpid)
			}
		}
		if p.csumPartial {
			st |= tpStatusCsumNotReady
		}
		ne.PutUint32(h[h3Status:], st)
		mac := fakeMacOff
		if p.badMac {
			mac = 0xfff0
		}
		ne.PutUint16(h[h3Mac:], uint16(mac))
		copy(h[fakeMacOff:], p.data)
		off += step
	}
	ne.PutUint32(blk[bdStatus:], status)
}

func newFakeRing(blockSize, blocks int) *rxRing {
	return &rxRing{mem: make([]byte, blockSize*blocks), blockSize: blockSize, blocks: blocks}
}

func (r *rxRing) blockStatus(b int) uint32 { return atomic.LoadUint32(r.status(b)) }

func testBufs(n, size int) [][]byte {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, size)
	}
	return b
}

func pktBytes(i int) []byte {
	p := make([]byte, 60)
	for j := range p {
		p[j] = byte(i*7 + j)
	}
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	return p
}

// A batch limit stops in the middle of a block; the next drain continues
// there, and each block goes back to the kernel right after its last frame.
func TestRxDrainAcrossBatches(t *testing.T) {
	r := newFakeRing(4096, 3)
	var pk0, pk1 []fakePkt
	for i := range 5 {
		pk0 = append(pk0, fakePkt{data: pktBytes(i)})
	}
	for i := 5; i < 8; i++ {
		pk1 = append(pk1, fakePkt{data: pktBytes(i)})
	}
	writeBlock(r.mem[0:4096], tpStatusUser, pk0)
	writeBlock(r.mem[4096:8192], tpStatusUser, pk1)
	frames := make([]link.Frame, 2)
	bufs := testBufs(2, 256)
	want := 0
	var released []int // after each drain: how many blocks are back with the kernel
	for round := 0; round < 4; round++ {
		n := r.drain(frames, bufs, 3)
		if n != 2 {
			t.Fatalf("round %d: drained %d frames, want 2", round, n)
		}
		for i := range n {
			f := frames[i]
			if f.Off != link.Headroom || f.Port != 3 || f.Action != link.Drop || &f.Buf[0] != &bufs[i][0] {
				t.Fatalf("round %d frame %d: Off %d Port %d Action %v, buffer not the worker's", round, i, f.Off, f.Port, f.Action)
			}
			if !bytes.Equal(f.Bytes(), pktBytes(want)) {
				t.Fatalf("round %d frame %d: got % x, want packet %d", round, i, f.Bytes(), want)
			}
			want++
		}
		released = append(released, int(r.blocksDone))
	}
	if got := r.drain(frames, bufs, 3); got != 0 {
		t.Fatalf("empty ring drained %d frames", got)
	}
	// Block 0 (5 frames) is released in round 2 (frames 4,5), block 1 in round 3.
	if want := []int{0, 0, 1, 2}; !equalInts(released, want) {
		t.Fatalf("blocks released after each round %v, want %v", released, want)
	}
	if r.blockStatus(0) != tpStatusKernel || r.blockStatus(1) != tpStatusKernel || r.cur != 2 {
		t.Fatalf("block statuses %d %d cur %d, want both kernel and cur 2", r.blockStatus(0), r.blockStatus(1), r.cur)
	}
	// The ring wraps: block 2, then block 0 again.
	writeBlock(r.mem[8192:], tpStatusUser, []fakePkt{{data: pktBytes(20)}})
	writeBlock(r.mem[:4096], tpStatusUser, []fakePkt{{data: pktBytes(21)}})
	if n := r.drain(frames, bufs, 0); n != 2 || !bytes.Equal(frames[1].Bytes(), pktBytes(21)) || r.cur != 1 {
		t.Fatalf("after wrap: %d frames, cur %d", n, r.cur)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A block the kernel has not handed over is never read, even if it holds
// packets.
func TestRxKernelBlockNotRead(t *testing.T) {
	r := newFakeRing(4096, 2)
	writeBlock(r.mem[:4096], tpStatusKernel, []fakePkt{{data: pktBytes(1)}})
	if r.ready() {
		t.Fatal("ready with the kernel's block")
	}
	if n := r.drain(make([]link.Frame, 4), testBufs(4, 256), 0); n != 0 {
		t.Fatalf("drained %d frames from a kernel-owned block", n)
	}
}

// A tag the kernel stripped is put back after the MAC addresses, with the
// kernel's TPID when it says it is valid and 802.1Q otherwise.
func TestRxVLANReinserted(t *testing.T) {
	r := newFakeRing(4096, 2)
	p := pktBytes(2)
	writeBlock(r.mem[:4096], tpStatusUser, []fakePkt{
		{data: p, vlan: true, tci: 0x2064}, // PCP 1, VID 100
		{data: p, vlan: true, tci: 7, tpid: 0x88a8},
		{data: p},
	})
	frames := make([]link.Frame, 3)
	if n := r.drain(frames, testBufs(3, 256), 0); n != 3 {
		t.Fatalf("drained %d, want 3", n)
	}
	check := func(f link.Frame, tag []byte) {
		t.Helper()
		got := f.Bytes()
		want := append(append(append([]byte{}, p[:12]...), tag...), p[12:]...)
		if !bytes.Equal(got, want) {
			t.Fatalf("frame\n got % x\nwant % x", got, want)
		}
	}
	check(frames[0], []byte{0x81, 0x00, 0x20, 0x64})
	check(frames[1], []byte{0x88, 0xa8, 0x00, 0x07})
	check(frames[2], nil)
}

// Frames that cannot be handed out are skipped and counted; the rest of
// the block is still read.
func TestRxSkipsCounted(t *testing.T) {
	r := newFakeRing(4096, 2)
	big := make([]byte, 300)
	writeBlock(r.mem[:4096], tpStatusUser, []fakePkt{
		{data: pktBytes(1), origLen: 1500}, // truncated capture
		{data: big},                        // larger than the 256-byte buffers minus headroom
		{data: pktBytes(2), vlan: true},
		{data: pktBytes(3)},
	})
	frames := make([]link.Frame, 8)
	n := r.drain(frames, testBufs(8, 256), 0)
	if n != 2 || r.truncated != 1 || r.oversize != 1 || r.malformed != 0 || r.blocksDone != 1 {
		t.Fatalf("n %d truncated %d oversize %d malformed %d blocks %d", n, r.truncated, r.oversize, r.malformed, r.blocksDone)
	}
	if !bytes.Equal(frames[1].Bytes(), pktBytes(3)) {
		t.Fatalf("last frame % x", frames[1].Bytes())
	}
	// A header pointing outside the block abandons the block, not the ring.
	writeBlock(r.mem[4096:], tpStatusUser, []fakePkt{{data: pktBytes(4), badMac: true}, {data: pktBytes(5)}})
	writeBlock(r.mem[:4096], tpStatusUser, []fakePkt{{data: pktBytes(6), zeroNextp: true}, {data: pktBytes(7)}})
	n = r.drain(frames, testBufs(8, 256), 0)
	if n != 1 || !bytes.Equal(frames[0].Bytes(), pktBytes(6)) || r.malformed != 2 || r.blocksDone != 3 {
		t.Fatalf("n %d malformed %d blocks %d", n, r.malformed, r.blocksDone)
	}
}

func TestTxRingFull(t *testing.T) {
	tr := txRing{mem: make([]byte, 4*2048), frameSize: 2048, frames: 4}
	for i := range 4 {
		if !tr.put(pktBytes(i)) {
			t.Fatalf("put %d failed on a ring with room", i)
		}
	}
	if tr.put(pktBytes(9)) {
		t.Fatal("put succeeded on a full ring")
	}
	s := tr.slot(0)
	if ne.Uint32(s[h2Status:]) != tpStatusSendRequest || ne.Uint32(s[h2Len:]) != 60 || !bytes.Equal(s[txDataOff:txDataOff+60], pktBytes(0)) {
		t.Fatalf("slot 0: status %d len %d", ne.Uint32(s[h2Status:]), ne.Uint32(s[h2Len:]))
	}
	// The kernel frees frame 0: the next put wraps into it, frame 1 is still busy.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s[0])), tpStatusAvailable)
	if !tr.put(pktBytes(10)) || tr.put(pktBytes(11)) {
		t.Fatal("wrap-around into the freed frame, then full again, expected")
	}
}

func TestConfigErrors(t *testing.T) {
	nine := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Ifaces is empty"},
		{Config{Ifaces: nine}, "at most 8"},
		{Config{Ifaces: []string{"eth0", "eth0"}}, `"eth0" is listed twice`},
		{Config{Ifaces: []string{""}}, "Ifaces[0]"},
		{Config{Ifaces: []string{"averyveryverylongname"}}, "not an interface name"},
		{Config{Ifaces: []string{"a", "b"}, FanoutGroup: 0xffff}, "FanoutGroup 65535"},
		{Config{Ifaces: []string{"a"}, BlockSize: 5000}, "BlockSize 5000"},
		{Config{Ifaces: []string{"a"}, BlockSize: 1 << 30}, "BlockSize"},
		{Config{Ifaces: []string{"a"}, Blocks: 1}, "Blocks 1"},
		{Config{Ifaces: []string{"a"}, TxFrames: -1}, "TxFrames -1"},
		{Config{Ifaces: []string{"a"}, BufSize: 100}, "BufSize 100"},
		{Config{Ifaces: []string{"a"}, Batch: -3}, "Batch -3"},
		{Config{Ifaces: []string{"a"}, BlockTimeout: -1}, "BlockTimeout"},
	}
	for _, c := range cases {
		_, err := c.cfg.withDefaults(4096)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
		if _, err := Open(c.cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", c.cfg)
		}
	}
	got, err := Config{Ifaces: []string{"a"}}.withDefaults(4096)
	if err != nil || got.BlockSize != DefaultBlockSize || got.Blocks != DefaultBlocks || got.TxFrames != DefaultTxFrames ||
		got.BufSize != DefaultBufSize || got.Batch != DefaultBatch || got.BlockTimeout != DefaultBlockTimeout {
		t.Fatalf("defaults: %+v, %v", got, err)
	}
	if s := txFrameSize(1500); s != 2048 {
		t.Fatalf("tx frame size for MTU 1500: %d", s)
	}
	if s := txFrameSize(9000); s != 16384 {
		t.Fatalf("tx frame size for MTU 9000: %d", s)
	}
}

// FuzzRxBlock feeds arbitrary bytes as a ring block that the kernel has
// handed over: drain must not panic, must stay inside the buffers, must
// give the block back and must finish.
func FuzzRxBlock(f *testing.F) {
	seed := make([]byte, 1024)
	writeBlock(seed, tpStatusUser, []fakePkt{{data: pktBytes(1)}, {data: pktBytes(2), vlan: true, tci: 5}})
	f.Add(seed)
	writeBlock(seed, tpStatusUser, []fakePkt{{data: pktBytes(1), zeroNextp: true}, {data: pktBytes(3)}})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		const bs = 1024
		r := newFakeRing(bs, 2)
		copy(r.mem[:bs], data)
		ne.PutUint32(r.mem[bdStatus:], tpStatusUser)
		frames := make([]link.Frame, 4)
		bufs := testBufs(4, 200)
		total := 0
		for range 300 { // a block holds at most (bs-48)/48 packets; 4 a round
			n := r.drain(frames, bufs, 1)
			for i := range n {
				fr := frames[i]
				if fr.Off != link.Headroom || fr.Len < 0 || fr.Off+fr.Len > len(fr.Buf) || fr.Port != 1 {
					t.Fatalf("bad frame Off %d Len %d cap %d", fr.Off, fr.Len, len(fr.Buf))
				}
			}
			total += n
			if n == 0 {
				break
			}
		}
		if r.open || r.blockStatus(0) != tpStatusKernel || r.blocksDone != 1 {
			t.Fatalf("block not returned: open %v status %d done %d (frames %d)", r.open, r.blockStatus(0), r.blocksDone, total)
		}
	})
}
