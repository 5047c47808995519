package director

// Benchmarks of the whole engine (decode, lookup, state, rewrite, next hop).
//
//	go test -run '^$' -bench 'Established|NewConn' -benchmem ./internal/director
//
// Each op is one packet. Frames are restored from a pristine copy before
// every op (NAT rewrites them in place); BenchmarkCopyOnly measures that
// copy alone so it can be subtracted.

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// flows builds n distinct client flows (IPv4, spread over 2^24 addresses
// and all ports) to one NAT service with 3 real servers, creates their
// connections with a SYN each, and returns the engine and the ACK frames of
// those flows in random order.
func benchFlows(b testing.TB, n, bits int) (*testEngine, [][]byte) {
	te := newTestEngine(b, bits)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 8080, Weight: 1, Method: service.Masq})
	}
	frames := make([][]byte, n)
	buf := make([]byte, link.Headroom+128)
	fr := []link.Frame{{Buf: buf}}
	for i := range n {
		c := netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
		cp := uint16(1024 + i%60000)
		syn := tcpFrame(clientMAC, dirMAC, ap(c, cp), ap(vip4, 80), packet.TCPSyn, "")
		copy(buf[link.Headroom:], syn)
		fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(syn)}
		te.w.Process(fr, te.now)
		if fr[0].Action != link.Tx {
			b.Fatalf("flow %d: SYN not forwarded", i)
		}
		frames[i] = tcpFrame(clientMAC, dirMAC, ap(c, cp), ap(vip4, 80), packet.TCPAck, "")
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
	// Lay the frames out contiguously in the order they will be sent, as a
	// receive ring would hold them: reading the next frame is then not a
	// cache miss of the benchmark's own making.
	arena := make([]byte, 0, n*len(frames[0]))
	for i, f := range frames {
		arena = append(arena, f...)
		frames[i] = arena[len(arena)-len(f):]
	}
	return te, frames
}

// benchmarkEstablished sends packets of established flows in batches of 32.
func benchmarkEstablished(b *testing.B, n, bits int) {
	te, frames := benchFlows(b, n, bits)
	const batch = 32
	bufs := make([][]byte, batch)
	fr := make([]link.Frame, batch)
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+128)
	}
	b.ReportAllocs()
	b.ResetTimer()
	j := 0
	for done := 0; done < b.N; done += batch {
		for i := range batch {
			f := frames[j]
			j++
			if j == len(frames) {
				j = 0
			}
			copy(bufs[i][link.Headroom:], f)
			fr[i] = link.Frame{Buf: bufs[i], Off: link.Headroom, Len: len(f)}
		}
		if r := te.w.Process(fr, te.now); r.Tx != batch {
			b.Fatalf("batch: %+v", r)
		}
	}
}

func BenchmarkEstablishedNAT1M(b *testing.B)    { benchmarkEstablished(b, 1<<20, 20) }
func BenchmarkEstablishedNAT64K(b *testing.B)   { benchmarkEstablished(b, 1<<16, 16) }
func BenchmarkEstablishedNAT1MB12(b *testing.B) { benchmarkEstablished(b, 1<<20, 12) }

// BenchmarkEstablishedNAT1K: 1024 flows, so the table and frames stay in
// the L1/L2 caches: the engine's CPU work per packet without memory stalls.
func BenchmarkEstablishedNAT1K(b *testing.B) { benchmarkEstablished(b, 1<<10, 10) }

// BenchmarkCopyOnly is the frame-restoring overhead included above.
func BenchmarkCopyOnly(b *testing.B) {
	f := tcpFrame(clientMAC, dirMAC, ap(cip4, 1), ap(vip4, 80), packet.TCPAck, "")
	buf := make([]byte, link.Headroom+128)
	fr := make([]link.Frame, 1)
	for b.Loop() {
		copy(buf[link.Headroom:], f)
		fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(f)}
	}
}

// BenchmarkNewConn: every packet is a SYN of a new flow (miss, schedule
// with wlc, insert, state, NAT). The table is sized for the run; entries
// stay (SYN_RECV, 60 s of virtual time).
func BenchmarkNewConn(b *testing.B) { benchNewConn(b, "wlc", 0) }

// BenchmarkSynCookie is BenchmarkNewConn against a syn_proxy NAT service:
// each SYN is answered with a cookie instead of making an entry (its
// scheduler is sh, which syn_proxy needs; BenchmarkNewConnSH is the same
// service without syn_proxy, for the comparison).
func BenchmarkSynCookie(b *testing.B) { benchNewConn(b, "sh", service.FlagSynStateless) }
func BenchmarkNewConnSH(b *testing.B) { benchNewConn(b, "sh", 0) }

func benchNewConn(b *testing.B, sched string, flags service.Flags) {
	te := newTestEngine(b, 22)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: sched, Flags: flags})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 8080, Weight: 1, Method: service.Masq})
	}
	tmpl := tcpFrame(clientMAC, dirMAC, ap(netip.AddrFrom4([4]byte{100, 0, 0, 0}), 1024), ap(vip4, 80), packet.TCPSyn, "")
	const batch = 32
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+128)
	}
	fr := make([]link.Frame, batch)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for done := 0; done < b.N; done += batch {
		for i := range batch {
			copy(bufs[i][link.Headroom:], tmpl)
			f := bufs[i][link.Headroom:]
			// Distinct client address and port per packet (IPv4 source at
			// 26..29, TCP source port at 34..35); fix the checksums
			// incrementally as a sender would have computed them.
			src := uint32(100)<<24 | uint32(n>>6)
			port := uint16(1024 + n&63)
			setSrc(f, src, port)
			n++
			fr[i] = link.Frame{Buf: bufs[i], Off: link.Headroom, Len: len(tmpl)}
		}
		if r := te.w.Process(fr, te.now); r.Tx != batch {
			b.Fatalf("batch: %+v counters %+v", r, te.e.Counters())
		}
	}
}

func setSrc(f []byte, src uint32, port uint16) {
	old := uint32(f[26])<<24 | uint32(f[27])<<16 | uint32(f[28])<<8 | uint32(f[29])
	f[26], f[27], f[28], f[29] = byte(src>>24), byte(src>>16), byte(src>>8), byte(src)
	ipc := uint16(f[24])<<8 | uint16(f[25])
	ipc = packet.Update32(ipc, old, src)
	f[24], f[25] = byte(ipc>>8), byte(ipc)
	oldPort := uint16(f[34])<<8 | uint16(f[35])
	f[34], f[35] = byte(port>>8), byte(port)
	tc := uint16(f[50])<<8 | uint16(f[51])
	tc = packet.Update32(tc, old, src)
	tc = packet.Update16(tc, oldPort, port)
	f[50], f[51] = byte(tc>>8), byte(tc)
}

// TestEstablishedPathAllocatesNothing: the per-packet path of an
// established NAT flow, both directions, allocates nothing.
func TestEstablishedPathAllocatesNothing(t *testing.T) {
	te, frames := benchFlows(t, 1024, 12)
	buf := make([]byte, link.Headroom+128)
	fr := make([]link.Frame, 1)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		f := frames[i%len(frames)]
		i++
		copy(buf[link.Headroom:], f)
		fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(f)}
		te.w.Process(fr, te.now)
		if fr[0].Action != link.Tx {
			t.Fatal("not forwarded")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per established packet", allocs)
	}
	// The reply direction (un-NAT), too.
	rip := families[0].rip(1)
	reply := tcpFrame(rsMAC(1), dirMAC, ap(rip, 8080), ap(netip.AddrFrom4([4]byte{100, 0, 0, 0}), 1024), packet.TCPAck, "")
	allocs = testing.AllocsPerRun(1000, func() {
		copy(buf[link.Headroom:], reply)
		fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(reply)}
		te.w.Process(fr, te.now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reply packet", allocs)
	}
}
