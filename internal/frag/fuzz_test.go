package frag

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// FuzzTracker runs an arbitrary sequence of first fragments, non-first
// fragments, clock steps and expiry passes against a small tracker and a
// plain model of it. Each operation is 2 bytes: op (low 2 bits: kind; the
// rest: datagram id 0..63) and an argument (size or time step).
func FuzzTracker(f *testing.F) {
	f.Add([]byte{1, 10, 0, 0, 1, 20})
	f.Add([]byte{1, 200, 1, 100, 0, 0, 2, 50, 1, 3})
	f.Add(bytes.Repeat([]byte{1, 255, 5, 255, 9, 255}, 30))
	f.Add([]byte{1, 1, 2, 250, 2, 250, 0, 0, 3, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const holdFrags, holdBytes = 8, 4096
		tr, err := New(Config{Entries: 64, HoldFrags: holdFrags, HoldBytes: holdBytes, Remember: time.Second, HoldTime: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		type held struct {
			id   uint32
			data []byte
			exp  clock.Time
		}
		decided := map[uint32]clock.Time{} // model: id → decision expiry
		var pool []held                    // model: live held fragments in arrival order
		now := clock.Seconds(1)
		var nonFirst, outcomes [4]uint64
		sink := &bufSink{room: 1 << 30}
		seq := 0
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			id := uint32(op >> 2)
			k := key(id)
			switch op & 3 {
			case 0: // first fragment
				sink.frames, sink.ports = sink.frames[:0], sink.ports[:0]
				sink.room = int(arg % 4)
				n := tr.First(&k, Value{Word: uint64(id)}, now, sink)
				decided[id] = now.Add(time.Second)
				var want [][]byte
				rest := pool[:0]
				for _, h := range pool {
					if h.id == id && h.exp > now {
						want = append(want, h.data)
					} else if h.id != id {
						rest = append(rest, h)
					}
				}
				pool = rest
				if len(want) > sink.room {
					want = want[:sink.room]
				}
				if n != len(want) || len(sink.frames) != len(want) {
					t.Fatalf("First released %d (sink got %d), model %d", n, len(sink.frames), len(want))
				}
				for i := range want {
					if !bytes.Equal(sink.frames[i], want[i]) {
						t.Fatalf("released fragment %d differs", i)
					}
				}
			case 1: // non-first fragment
				seq++
				fr := frame(int(arg)*8+1, byte(seq))
				v, o := tr.NonFirst(&k, fr, 0, now)
				nonFirst[0]++
				outcomes[o]++
				exp, ok := decided[id]
				evicted := tr.Stats().Evicted != 0
				if ok && exp > now && (o == Matched || !evicted) {
					if o != Matched || v.Word != uint64(id) {
						t.Fatalf("id %d decided: %v %v", id, v, o)
					}
					decided[id] = now.Add(time.Second)
					break
				}
				if o == Matched {
					if !evicted {
						t.Fatalf("id %d matched without a live decision", id)
					}
					break
				}
				if o == Held {
					pool = append(pool, held{id: id, data: fr, exp: now.Add(500 * time.Millisecond)})
				}
			case 2: // time passes
				now = now.Add(time.Duration(arg) * 10 * time.Millisecond)
			case 3:
				tr.Expire(now)
			}
			// Expired fragments are gone from the model (the tracker may
			// keep them until Expire or a full pool, but never releases
			// them).
			live := pool[:0]
			for _, h := range pool {
				if h.exp > now {
					live = append(live, h)
				}
			}
			pool = live
			st := tr.Stats()
			if st.HeldNow > holdFrags || st.HeldBytesNow > holdBytes || st.HeldNow < len(pool) {
				t.Fatalf("pool %d fragments / %d bytes (model %d live)", st.HeldNow, st.HeldBytesNow, len(pool))
			}
			if st.Matched != outcomes[Matched] || st.Held != outcomes[Held] || st.DroppedFull != outcomes[Full] || st.DroppedNoFirst != outcomes[NoFirst] {
				t.Fatalf("stats %+v, outcomes %v", st, outcomes)
			}
			if st.Held < st.Released+st.DroppedTimeout+uint64(st.HeldNow) {
				t.Fatalf("more fragments left the pool than entered it: %+v", st)
			}
		}
	})
}

// TestConcurrent runs first and non-first fragments of the same datagrams
// from several goroutines (the race detector checks the locking); every
// held fragment is either released, or still held, or timed out.
func TestConcurrent(t *testing.T) {
	tr := newT(t, Config{HoldFrags: 32})
	now := clock.Seconds(1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &nopSink{}
			f := frame(600, byte(g))
			for i := range 2000 {
				k := key(uint32(i % 50))
				if (i+g)%3 == 0 {
					tr.First(&k, Value{Word: uint64(i)}, now, s)
				} else {
					tr.NonFirst(&k, f, uint16(g), now)
				}
				if i%100 == 0 {
					tr.Expire(now)
				}
			}
		}()
	}
	wg.Wait()
	st := tr.Stats()
	if st.Held != st.Released+st.DroppedTimeout+uint64(st.HeldNow) {
		t.Fatalf("held fragments unaccounted: %+v", st)
	}
	if st.Tracked == 0 || st.Matched == 0 {
		t.Fatalf("stats %+v", st)
	}
}
