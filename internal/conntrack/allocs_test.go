package conntrack

import (
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// nopUnbinder is an Unbinder that only counts.
type nopUnbinder struct{ n int }

func (u *nopUnbinder) Unbind(uint32, *Entry) { u.n++ }

// TestPacketPathAllocs: nothing on the packet path allocates, including
// inserts (from the free list) and lazy expiry through the Unbinder.
func TestPacketPathAllocs(t *testing.T) {
	unb := &nopUnbinder{}
	tb, err := New(Config{Bits: 10, MaxEntries: 4096, Unbinder: unb, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Seconds(10)
	rs := addr("10.0.0.9")
	tb.SetDestAddr(1, rs)
	var keys []Key
	for i := 0; i < 500; i++ {
		k := benchKey(i)
		if i%2 == 1 {
			k = benchKey6(i)
		}
		keys = append(keys, k)
		mustInsert(t, tb, Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
			Dport: 8080, Dest: 1, Expires: now.Add(time.Hour)}, now)
	}
	tmpl := Conn{Proto: packet.ProtoTCP, Caddr: addr("198.51.100.0"), Vaddr: addr("192.0.2.1"), Vport: 80, Flags: FlagTemplate, Expires: now.Add(time.Hour)}
	mustInsert(t, tb, tmpl, now)
	tk := tmpl.key()
	th := tb.Hash(false, tk.Proto, &tk.Caddr, 0)
	hs := make([]uint32, 32)

	i := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"hash+lookup in (hit)", func() {
			k := &keys[i%len(keys)]
			i++
			h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			idx := tb.LookupInLocked(h, k, now)
			if idx == 0 {
				panic("miss")
			}
			e := tb.At(idx)
			e.CountInPkt()
			e.SetState(1)
			e.SetFlags(FlagInactive)
			e.Touch(now, 900*time.Second)
			tb.Unlock(h)
		}},
		{"lookup in (miss)", func() {
			k := keys[i%len(keys)]
			i++
			k.Vport++
			h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			if tb.LookupInLocked(h, &k, now) != 0 {
				panic("hit")
			}
			tb.Unlock(h)
		}},
		{"lookup out", func() {
			k := &keys[i%len(keys)]
			i++
			h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			tb.LookupOutLocked(h, k.V6, k.Proto, &k.Caddr, k.Cport, &rs, 8080, now)
			tb.Unlock(h)
		}},
		{"lookup template", func() {
			tb.Lock(th)
			if tb.LookupTemplateLocked(th, &tk, now) == 0 {
				panic("template miss")
			}
			tb.Unlock(th)
		}},
		{"insert+delete", func() {
			k := benchKey(100000 + i%7)
			if i%2 == 0 {
				k = benchKey6(100000 + i%7)
			}
			i++
			c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Dest: 1, Expires: now.Add(time.Second)}
			h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			idx, ok := tb.InsertLocked(h, &c, now)
			if !ok || !tb.DeleteLocked(h, idx) {
				panic("insert/delete failed")
			}
			tb.Unlock(h)
		}},
		{"insert+lazy expiry", func() {
			k := benchKey(200000 + i%5)
			i++
			c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Dest: 1, Expires: now.Add(time.Second)}
			h := tb.Hash(false, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			if _, ok := tb.InsertLocked(h, &c, now); !ok {
				panic("insert failed")
			}
			if tb.LookupInLocked(h, &k, now.Add(2*time.Second)) != 0 {
				panic("not expired")
			}
			tb.Unlock(h)
		}},
		{"reap", func() { tb.Reap(now, 64) }},
		{"prefetch", func() {
			for j := range hs {
				k := &keys[(i+j)%len(keys)]
				hs[j] = tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			}
			i++
			tb.Prefetch(hs)
			tb.PrefetchChains(hs)
		}},
		{"dest addr", func() { _ = tb.DestAddr(1) }},
	}
	for _, tt := range tests {
		if a := testing.AllocsPerRun(1000, tt.fn); a != 0 {
			t.Errorf("%s: %v allocs per run", tt.name, a)
		}
	}
	if unb.n == 0 {
		t.Error("Unbinder never called")
	}
}
