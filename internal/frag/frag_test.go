package frag

import (
	"bytes"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// bufSink is a Sink with a fixed capacity that records what it got.
type bufSink struct {
	room   int
	frames [][]byte
	ports  []uint16
}

func (s *bufSink) Take(n int, port uint16) []byte {
	if len(s.frames) >= s.room {
		return nil
	}
	b := make([]byte, n)
	s.frames = append(s.frames, b)
	s.ports = append(s.ports, port)
	return b
}

func key(id uint32) Key {
	k := Key{Proto: 17, ID: id}
	k.Src[10], k.Src[11], k.Src[12], k.Src[15] = 0xff, 0xff, 192, 7
	k.Dst[10], k.Dst[11], k.Dst[12], k.Dst[15] = 0xff, 0xff, 10, 100
	return k
}

func frame(n int, b byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = b + byte(i*7)
	}
	return f
}

func newT(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestFirstThenNonFirst(t *testing.T) {
	tr := newT(t, Config{})
	now := clock.Seconds(10)
	k := key(1)
	v := Value{Word: 42}
	if n := tr.First(&k, v, now, nil); n != 0 {
		t.Fatalf("released %d", n)
	}
	got, o := tr.NonFirst(&k, frame(100, 1), 0, now.Add(time.Second))
	if o != Matched || got != v {
		t.Fatalf("NonFirst = %v %v", got, o)
	}
	// The match refreshed the decision: still there 1.9 s later.
	if _, o := tr.NonFirst(&k, frame(100, 1), 0, now.Add(2900*time.Millisecond)); o != Matched {
		t.Fatalf("after refresh: %v", o)
	}
	// Another id, protocol or family is another datagram.
	for _, k2 := range []Key{key(2), {Proto: 6, ID: 1, Src: k.Src, Dst: k.Dst}, {V6: true, Proto: 17, ID: 1, Src: k.Src, Dst: k.Dst}} {
		if _, o := tr.NonFirst(&k2, frame(10, 1), 0, now.Add(time.Second)); o != Held {
			t.Fatalf("%+v: %v, want held", k2, o)
		}
	}
	// Forgotten after Remember without use.
	if _, o := tr.NonFirst(&k, frame(100, 1), 0, now.Add(5*time.Second)); o != Held {
		t.Fatalf("after expiry: %v", o)
	}
	st := tr.Stats()
	if st.Tracked != 1 || st.Matched != 2 || st.Held != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHoldAndRelease(t *testing.T) {
	tr := newT(t, Config{})
	now := clock.Seconds(10)
	k := key(7)
	// Sizes around the block size, to check the chaining.
	sizes := []int{1, 255, 256, 257, 1514, 9000}
	var sent [][]byte
	for i, n := range sizes {
		f := frame(n, byte(i))
		sent = append(sent, f)
		if _, o := tr.NonFirst(&k, f, uint16(i), now); o != Held {
			t.Fatalf("fragment %d: %v", i, o)
		}
	}
	other := key(8)
	tr.NonFirst(&other, frame(50, 9), 3, now)
	if st := tr.Stats(); st.HeldNow != len(sizes)+1 || st.HeldBytesNow != 1+255+256+257+1514+9000+50 {
		t.Fatalf("stats %+v", st)
	}
	s := &bufSink{room: 100}
	if n := tr.First(&k, Value{Word: 1}, now.Add(time.Second), s); n != len(sizes) {
		t.Fatalf("released %d", n)
	}
	for i := range sent {
		if !bytes.Equal(s.frames[i], sent[i]) || s.ports[i] != uint16(i) {
			t.Fatalf("released fragment %d differs (port %d)", i, s.ports[i])
		}
	}
	st := tr.Stats()
	if st.Released != uint64(len(sizes)) || st.HeldNow != 1 || st.HeldBytesNow != 50 {
		t.Fatalf("stats %+v", st)
	}
	// The other datagram's fragment times out.
	if n := tr.Expire(now.Add(time.Second)); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := tr.Expire(now.Add(2 * time.Second)); n != 1 {
		t.Fatalf("expired %d", n)
	}
	if st := tr.Stats(); st.DroppedTimeout != 1 || st.HeldNow != 0 || st.HeldBytesNow != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Its first fragment, late, releases nothing.
	if n := tr.First(&other, Value{}, now.Add(3*time.Second), s); n != 0 {
		t.Fatalf("late first released %d", n)
	}
}

func TestSinkFull(t *testing.T) {
	tr := newT(t, Config{})
	now := clock.Seconds(1)
	k := key(3)
	for i := range 3 {
		tr.NonFirst(&k, frame(100, byte(i)), 0, now)
	}
	s := &bufSink{room: 1}
	if n := tr.First(&k, Value{}, now, s); n != 1 {
		t.Fatalf("released %d", n)
	}
	if st := tr.Stats(); st.HeldNow != 0 || st.Released != 1 || st.DroppedTimeout != 0 {
		t.Fatalf("stats %+v (refused ones are the sink's to count, and freed)", st)
	}
}

func TestPoolLimits(t *testing.T) {
	tr := newT(t, Config{HoldFrags: 4, HoldBytes: 4 * 1024})
	now := clock.Seconds(1)
	for i := range 4 {
		k := key(uint32(i))
		if _, o := tr.NonFirst(&k, frame(1000, 0), 0, now); o != Held {
			t.Fatalf("%d: %v", i, o)
		}
	}
	k := key(99)
	if _, o := tr.NonFirst(&k, frame(10, 0), 0, now); o != Full {
		t.Fatalf("5th fragment: %v, want full", o)
	}
	// Bytes: 3 fragments of 1400 fill 4 KiB (6 blocks each of 256 → 18 > 16).
	tr2 := newT(t, Config{HoldFrags: 10, HoldBytes: 4 * 1024})
	for i := range 3 {
		k := key(uint32(i))
		_, o := tr2.NonFirst(&k, frame(1400, 0), 0, now)
		if want := map[bool]Outcome{true: Held, false: Full}[i < 2]; o != want {
			t.Fatalf("%d: %v, want %v", i, o, want)
		}
	}
	if _, o := tr2.NonFirst(&k, frame(5000, 0), 0, now); o != NoFirst {
		t.Fatalf("larger than the pool: %v", o)
	}
	// Full pool reclaims expired fragments by itself.
	if _, o := tr.NonFirst(&k, frame(10, 0), 0, now.Add(3*time.Second)); o != Held {
		t.Fatalf("after the hold time: %v", o)
	}
	st := tr.Stats()
	if st.DroppedFull != 1 || st.DroppedTimeout != 4 || st.HeldNow != 1 {
		t.Fatalf("stats %+v", st)
	}
	off := newT(t, Config{HoldFrags: -1})
	if _, o := off.NonFirst(&k, frame(10, 0), 0, now); o != NoFirst {
		t.Fatalf("holding off: %v", o)
	}
	if st := tr2.Stats(); st.DroppedNoFirst != 1 || st.DroppedFull != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEviction(t *testing.T) {
	tr := newT(t, Config{Entries: 64})
	now := clock.Seconds(1)
	// Far more datagrams than slots: the table stays its size, newer
	// decisions push out older ones, and the newest are always found.
	for i := range 10000 {
		k := key(uint32(i))
		tr.First(&k, Value{Word: uint64(i)}, now.Add(time.Duration(i)*time.Microsecond), nil)
	}
	k := key(9999)
	if v, o := tr.NonFirst(&k, nil, 0, now.Add(10*time.Millisecond)); o != Matched || v.Word != 9999 {
		t.Fatalf("newest: %v %v", v, o)
	}
	if st := tr.Stats(); st.Evicted < 10000-64 || st.Tracked != 10000 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Entries: -1}, {Entries: 1 << 25}, {HoldBytes: -5}, {HoldFrags: 1 << 20}, {Remember: -time.Second}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// nopSink takes every fragment into one reused buffer.
type nopSink struct{ buf [MaxFrame]byte }

func (s *nopSink) Take(n int, _ uint16) []byte { return s.buf[:n] }

func TestAllocs(t *testing.T) {
	tr := newT(t, Config{})
	now := clock.Seconds(1)
	f := frame(1514, 3)
	s := &nopSink{}
	var id uint32
	n := testing.AllocsPerRun(1000, func() {
		id++
		k := key(id)
		tr.NonFirst(&k, f, 0, now) // held
		tr.First(&k, Value{Word: 1}, now, s)
		tr.NonFirst(&k, f, 0, now) // matched
		tr.Expire(now)
		_ = tr.Stats()
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func TestMemoryFixed(t *testing.T) {
	tr := newT(t, Config{})
	m := tr.MemoryBytes()
	if m < DefaultHoldBytes || m > 2<<20 {
		t.Fatalf("memory %d bytes", m)
	}
}
