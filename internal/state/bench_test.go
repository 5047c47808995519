package state

import (
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// Inputs that vary per iteration so the compiler cannot fold the calls.
var benchFlags = [8]packet.TCPFlags{syn, syn | ack, ack, psh | ack, fin | ack, rst, ack | urg, psh}

var sinkTCP TCPState
var sinkSCTP SCTPState

// tcpBenchInputs is a fixed pseudo-random mix of directions, modes and
// flags, so the benchmark measures the lookup and not the input arithmetic.
var tcpBenchInputs = func() (in [256]struct {
	secure bool
	d      Dir
	f      packet.TCPFlags
}) {
	x := uint32(12345)
	for i := range in {
		x = x*1103515245 + 12345
		in[i].secure = x>>30&1 != 0
		in[i].d = Dir(x >> 16 % 3)
		in[i].f = benchFlags[x>>8&7]
	}
	return in
}()

func BenchmarkTCPTransition(b *testing.B) {
	st := TCPNone
	for i := 0; b.Loop(); i++ {
		in := &tcpBenchInputs[uint8(i)]
		st = TCPTransition(in.secure, in.d, in.f, st)
	}
	sinkTCP = st
}

func BenchmarkSCTPTransition(b *testing.B) {
	st := SCTPNone
	for i := 0; b.Loop(); i++ {
		in := &tcpBenchInputs[uint8(i)]
		st = SCTPNext(in.d, SCTPEventOf(uint8(in.f)&15, 6, in.secure), st)
	}
	sinkSCTP = st
}

func BenchmarkTimeout(b *testing.B) {
	to := DefaultTimeouts()
	var sum int64
	for i := 0; b.Loop(); i++ {
		sum += int64(to.Timeout(packet.ProtoTCP, uint8(i&15)))
	}
	if sum == 0 {
		b.Fatal("no timeouts")
	}
}

// The per-packet functions must not allocate.
func TestZeroAlloc(t *testing.T) {
	to := DefaultTimeouts()
	var i int
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		st := TCPTransition(i&1 != 0, Dir(i%3), benchFlags[i&7], TCPState(i%11))
		ev, ok := TCPEventOf(benchFlags[i&7])
		st = TCPNext(ok, Dir(i%3), ev, st)
		sc := SCTPNext(Dir(i%3), SCTPEventOf(uint8(i), 6, i&2 != 0), SCTPState(i%14))
		d := to.Timeout(packet.ProtoTCP, uint8(st)) + to.Timeout(packet.ProtoSCTP, uint8(sc)) + to.Timeout(packet.ProtoUDP, 0)
		if IsActive(packet.ProtoTCP, uint8(st)) || ExpectsNewConn(packet.ProtoTCP, uint8(st), i&4 != 0, 3) ||
			TCPCreates(benchFlags[i&7], i&8 != 0) || SCTPCreates(uint8(i), false) || NewConnPacket(packet.ProtoTCP, syn, 0) {
			sink++
		}
		sink += len(StateName(packet.ProtoSCTP, uint8(sc), i&16 != 0)) + len(st.String()) + int(d)
		sink += int(PacketDir(i&1 != 0, i&2 != 0))
	})
	if allocs != 0 {
		t.Fatalf("per-packet functions allocate: %v allocs per run", allocs)
	}
	if sink == 0 {
		t.Fatal("sink unused")
	}
}
