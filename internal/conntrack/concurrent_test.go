package conntrack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// countingUnbinder counts unbinds per dest with atomics, as the director
// would fix its counters.
type countingUnbinder struct {
	perDest [8]atomic.Int64
	total   atomic.Int64
}

func (u *countingUnbinder) Unbind(idx uint32, e *Entry) {
	u.perDest[e.Dest()].Add(1)
	u.total.Add(1)
}

// TestConcurrent runs workers (lookup, insert with and without templates,
// touch, delete), a reaper, and control-plane readers and sweepers at once.
// Run it with -race.
func TestConcurrent(t *testing.T) {
	unb := &countingUnbinder{}
	tb, err := New(Config{Bits: 10, MaxEntries: 2500, Unbinder: unb, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var clk atomic.Int64 // virtual time, ns
	clk.Store(int64(clock.Seconds(100)))
	now := func() clock.Time { return clock.Time(clk.Load()) }

	const workers = 4
	iters := 20000
	if testing.Short() {
		iters = 4000
	}
	var binds [8]atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for i := 0; i < iters; i++ {
				n := now()
				clk.Add(int64(100 * time.Microsecond))
				flow := rng.IntN(3000)
				k := benchKey(flow)
				if flow%4 == 0 {
					k = benchKey6(flow)
				}
				dest := uint32(1 + flow%7)
				h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
				tb.Lock(h)
				idx := tb.LookupInLocked(h, &k, n)
				if idx != 0 {
					e := tb.At(idx)
					e.CountInPkt()
					e.SetState(uint8(rng.IntN(11)))
					e.Touch(n, time.Duration(rng.IntN(3000))*time.Millisecond)
					if c := e.Controller(); c != 0 && rng.IntN(4) == 0 {
						tb.Assure(c)
					}
					if rng.IntN(10) == 0 {
						tb.DeleteLocked(h, idx)
					}
					tb.Unlock(h)
					continue
				}
				tb.Unlock(h)

				c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
					Dest: dest, Flags: FlagInactive, Expires: n.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)}
				if flow%3 == 0 { // persistent: template per /24 (v4) or /64 (v6)
					tk := Key{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Vport: k.Vport}
					if k.V6 {
						clear(tk.Caddr[8:])
					} else {
						tk.Caddr[15] = 0
					}
					th := tb.Hash(tk.V6, tk.Proto, &tk.Caddr, 0)
					tb.Lock(th)
					tidx := tb.LookupTemplateLocked(th, &tk, n)
					if tidx == 0 {
						tc := Conn{V6: tk.V6, Proto: tk.Proto, Caddr: tk.Caddr, Vaddr: tk.Vaddr, Vport: tk.Vport,
							Dest: dest, Flags: FlagTemplate, Expires: n.Add(time.Second)}
						var ok bool
						if tidx, ok = tb.InsertLocked(th, &tc, n); ok {
							binds[dest].Add(1)
						}
					}
					if tidx != 0 {
						tb.ControlLocked(tidx)
						tb.At(tidx).Touch(n, time.Second)
						c.Dest = tb.At(tidx).Dest()
					}
					tb.Unlock(th)
					c.Control = tidx
				}
				tb.Lock(h)
				if tb.LookupInLocked(h, &k, n) == 0 {
					if _, ok := tb.InsertLocked(h, &c, n); ok {
						binds[c.Dest].Add(1)
					} else if c.Control != 0 {
						tb.Uncontrol(c.Control)
					}
				} else if c.Control != 0 {
					tb.Uncontrol(c.Control)
				}
				tb.Unlock(h)
			}
		}(w)
	}
	var side sync.WaitGroup
	side.Add(2)
	go func() { // reaper
		defer side.Done()
		per := tb.ReapBuckets(time.Millisecond, 50*time.Millisecond)
		for !stop.Load() {
			tb.Reap(now(), per)
		}
	}()
	go func() { // control plane: listings, stats, random drop
		defer side.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			n := 0
			tb.Range(func(idx uint32, e *Entry) bool {
				_ = tb.ConnLocked(idx, now())
				n++
				return n < 500
			})
			_ = tb.Stats()
			tb.Sweep(rng.IntN(tb.Buckets()), 4, now(), func(idx uint32, e *Entry) bool {
				return e.InPkts() < 2 && rng.IntN(3) == 0
			})
		}
	}()
	wg.Wait()
	stop.Store(true)
	side.Wait()

	// No key is in the table twice.
	seen := map[Conn]bool{}
	tb.Range(func(idx uint32, e *Entry) bool {
		k := keyOf(tb.ConnLocked(idx, 0))
		if seen[k] {
			t.Errorf("duplicate entry %+v", k)
		}
		seen[k] = true
		return true
	})
	// Every template's n_control equals the conns that name it.
	controls := map[uint32]uint32{}
	tb.Range(func(idx uint32, e *Entry) bool {
		if c := e.Controller(); c != 0 {
			controls[c]++
		}
		return true
	})
	tb.Range(func(idx uint32, e *Entry) bool {
		if e.IsTemplate() && e.Controls() != controls[idx] {
			t.Errorf("template %d: n_control %d, conns %d", idx, e.Controls(), controls[idx])
		}
		return true
	})

	tb.Flush(now())
	st := tb.Stats()
	if st.Conns != 0 || st.Templates != 0 || st.Slots != 0 {
		t.Fatalf("after flush: %+v", st)
	}
	if int64(st.Inserted) != unb.total.Load() {
		t.Errorf("inserted %d, unbound %d", st.Inserted, unb.total.Load())
	}
	for d := range binds {
		if b, u := binds[d].Load(), unb.perDest[d].Load(); b != u {
			t.Errorf("dest %d: %d binds, %d unbinds", d, b, u)
		}
	}
	if st.Inserted < 1000 || st.Expired == 0 || st.Deleted == 0 || st.Refused == 0 {
		t.Errorf("test did not exercise enough: %+v", st)
	}
	t.Logf("%+v", st)
}
