package afpacket

import (
	"testing"

	"github.com/vsd/vsd/internal/link"
)

// BenchmarkRxDrain measures the user-space side of Read on a ring block
// already handed over: walking the headers and copying 64-byte frames into
// the worker's buffers, 64 per batch. No syscalls, no root.
func BenchmarkRxDrain(b *testing.B) {
	const bs = 1 << 16
	r := newFakeRing(bs, 2)
	var pk []fakePkt
	for i := range 64 {
		pk = append(pk, fakePkt{data: pktBytes(i)})
	}
	writeBlock(r.mem[:bs], tpStatusUser, pk)
	writeBlock(r.mem[bs:], tpStatusUser, pk)
	frames := make([]link.Frame, 64)
	bufs := testBufs(64, 2048)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := r.drain(frames, bufs, 0); n != 64 {
			b.Fatalf("drained %d", n)
		}
		ne.PutUint32(r.mem[bdStatus:], tpStatusUser) // hand both blocks over again
		ne.PutUint32(r.mem[bs+bdStatus:], tpStatusUser)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/frame")
}

// BenchmarkWrite sends batches of 64 64-byte frames out of a veth through
// the TX ring, one kick per batch, into a peer namespace that discards
// them. Needs root. The figure includes the kernel's TX path and the
// peer's receive softirq, which run inside the kick on this CPU.
func BenchmarkWrite(b *testing.B) {
	e := newEnv(b, 1)
	q := e.open(b, Config{BlockSize: 1 << 16, Blocks: 4, TxFrames: 1024})
	frames := make([]link.Frame, 64)
	for i := range frames {
		buf := make([]byte, 256)
		f := rawFrame(pMAC(0), dMAC(0), uint32(i), 64)
		copy(buf[link.Headroom:], f)
		frames[i] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(f), Action: link.Tx}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := q.Write(frames); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s := q.Stats()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/frame")
	b.ReportMetric(float64(s.TxDropped)/float64(b.N*64), "dropped/frame")
}
