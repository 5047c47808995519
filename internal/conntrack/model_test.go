package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// modelKeys is the small key space the model test plays in: both families,
// three protocols, keys sharing clients and ports, so chains mix them.
var modelKeys = func() []Key {
	var ks []Key
	protos := []packet.Proto{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP}
	for i := 0; i < 24; i++ {
		k := benchKey(i / 4)
		if i%3 == 0 {
			k = benchKey6(i / 4)
		}
		k.Proto = protos[i%3]
		k.Vport = 80 + uint16(i%2)
		ks = append(ks, k)
	}
	return ks
}()

type modelEntry struct {
	idx      uint32
	deadline clock.Time
}

// runModel interprets ops against a Table and a plain map and fails on any
// difference. Times are whole ticks, so expiry is exact.
func runModel(t *testing.T, ops []byte) {
	unb := &nopUnbinder{}
	tb, err := New(Config{Bits: 8, MaxEntries: 1024, Unbinder: unb, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	rs := addr("10.0.0.99")
	tb.SetDestAddr(1, rs)
	now := clock.Time(Tick) * 1000
	model := map[Key]modelEntry{}
	live := func(k Key) (modelEntry, bool) {
		m, ok := model[k]
		return m, ok && now < m.deadline
	}
	inserted := 0
	for len(ops) >= 2 {
		op, arg := ops[0], ops[1]
		ops = ops[2:]
		k := modelKeys[int(arg)%len(modelKeys)]
		timeout := time.Duration(1+arg>>5) * 50 * Tick
		h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
		switch op % 6 {
		case 0: // new conn if none
			tb.Lock(h)
			idx := tb.LookupInLocked(h, &k, now)
			m, ok := live(k)
			if (idx != 0) != ok || ok && idx != m.idx {
				tb.Unlock(h)
				t.Fatalf("insert-lookup %v: idx %d, model %+v live %v", k, idx, m, ok)
			}
			if idx == 0 {
				c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
					Dest: 1, Dport: 8080, Expires: now.Add(timeout)}
				idx, ok := tb.InsertLocked(h, &c, now)
				if !ok {
					tb.Unlock(h)
					t.Fatal("insert refused")
				}
				model[k] = modelEntry{idx, now.Add(timeout)}
				inserted++
			}
			tb.Unlock(h)
		case 1: // packet of an established conn: lookup + touch
			tb.Lock(h)
			idx := tb.LookupInLocked(h, &k, now)
			m, ok := live(k)
			if (idx != 0) != ok || ok && idx != m.idx {
				tb.Unlock(h)
				t.Fatalf("lookup %v: idx %d, model %+v live %v", k, idx, m, ok)
			}
			if idx != 0 {
				tb.At(idx).Touch(now, timeout)
				model[k] = modelEntry{idx, now.Add(timeout)}
			}
			tb.Unlock(h)
		case 2: // time passes
			now += clock.Time(Tick) * clock.Time(arg)
		case 3: // full reaper pass: exactly the expired ones go
			tb.Reap(now, tb.Buckets())
			for mk, m := range model {
				if now >= m.deadline {
					delete(model, mk)
				}
			}
			if got := tb.Len(); got != int64(len(model)) {
				t.Fatalf("after reap: Len %d, model %d", got, len(model))
			}
			if unb.n != inserted-len(model) {
				t.Fatalf("after reap: %d unbinds, want %d", unb.n, inserted-len(model))
			}
		case 4: // expire now
			tb.Lock(h)
			idx := tb.LookupInLocked(h, &k, now)
			if idx != 0 {
				if !tb.DeleteLocked(h, idx) {
					tb.Unlock(h)
					t.Fatal("delete failed")
				}
				delete(model, k)
			}
			tb.Unlock(h)
		case 5: // NAT reply
			// Every conn of the same client socket NATs to the same dest
			// here, so any of them may answer (as in the kernel).
			idx := lookupOut(tb, k.V6, k.Proto, k.Caddr, k.Cport, rs, 8080, now)
			want := map[uint32]bool{}
			for mk := range model {
				if m, ok := live(mk); ok && mk.V6 == k.V6 && mk.Proto == k.Proto && mk.Caddr == k.Caddr && mk.Cport == k.Cport {
					want[m.idx] = true
				}
			}
			if (idx != 0) != (len(want) > 0) || idx != 0 && !want[idx] {
				t.Fatalf("reply %v: idx %d, model %v", k, idx, want)
			}
		}
	}
	tb.Flush(now)
	if tb.Len() != 0 || unb.n != inserted {
		t.Fatalf("after flush: Len %d, unbinds %d, inserted %d", tb.Len(), unb.n, inserted)
	}
}

func TestModelRandom(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		ops := make([]byte, 2000)
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		runModel(t, ops)
	}
}

func FuzzTableOps(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 2, 200, 1, 1, 3, 0})
	f.Add([]byte{0, 7, 0, 31, 5, 7, 4, 7, 5, 7, 2, 255, 3, 0, 0, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			ops = ops[:4096]
		}
		runModel(t, ops)
	})
}
