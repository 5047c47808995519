package conntrack

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

func v4conn(i int, exp clock.Time) Conn {
	k := benchKey(i)
	return Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Expires: exp}
}

// fill inserts conns first, first+1, ... until one is refused and returns
// how many went in.
func fill(tb *Table, first int, exp, now clock.Time) int {
	n := 0
	for ; ; n++ {
		if _, ok := insert(tb, v4conn(first+n, exp), now); !ok {
			return n
		}
	}
}

func TestSetBudgetRaiseThenFill(t *testing.T) {
	const small, big = 2 << 20, 8 << 20
	tb, _ := newTestTable(t, Config{Bits: 10, BudgetBytes: small, MaxBudgetBytes: big})
	now := clock.Seconds(1)
	exp := now.Add(time.Hour)
	capSmall := tb.Capacity()
	if got := budgetSlots(small, tb.fixed); int64(capSmall) != got || tb.Budget() != small || tb.MaxBudget() != big {
		t.Fatalf("cap %d (want %d) budget %d max %d", capSmall, got, tb.Budget(), tb.MaxBudget())
	}
	if n := fill(tb, 0, exp, now); n != capSmall {
		t.Fatalf("filled %d, capacity %d", n, capSmall)
	}
	if h := tb.HeadroomBytes(); h != 0 {
		t.Fatalf("headroom %d at a full table", h)
	}
	if err := tb.SetBudget(big); err != nil {
		t.Fatal(err)
	}
	capBig := tb.Capacity()
	if capBig <= capSmall || tb.Budget() != big {
		t.Fatalf("cap %d after raise (was %d), budget %d", capBig, capSmall, tb.Budget())
	}
	if h := tb.HeadroomBytes(); h != int64(capBig-capSmall)*slotSize {
		t.Fatalf("headroom %d, want %d", h, int64(capBig-capSmall)*slotSize)
	}
	if n := fill(tb, capSmall, exp, now); n != capBig-capSmall {
		t.Fatalf("filled %d more, want %d", n, capBig-capSmall)
	}
	for i := 0; i < capBig; i += 97 {
		if lookupIn(tb, v4conn(i, exp).key(), now) == 0 {
			t.Fatalf("conn %d lost", i)
		}
	}
	st := tb.Stats()
	if st.Conns != int64(capBig) || st.Slots != int64(capBig) || st.Capacity != int64(capBig) || st.Refused != 2 {
		t.Errorf("stats %+v", st)
	}
	if got := tb.BytesInUse(); got > big {
		t.Errorf("BytesInUse %d > maximum budget %d", got, big)
	}
}

func TestSetBudgetLowerBelowUse(t *testing.T) {
	const big, small = 4 << 20, 1 << 20
	tb, _ := newTestTable(t, Config{Bits: 10, BudgetBytes: big})
	now := clock.Seconds(1)
	// Half the conns expire after a second, half after an hour.
	total := 0
	for ; ; total++ {
		exp := now.Add(time.Hour)
		if total%2 == 0 {
			exp = now.Add(time.Second)
		}
		if _, ok := insert(tb, v4conn(total, exp), now); !ok {
			break
		}
	}
	bytesBefore := tb.BytesInUse()
	if err := tb.SetBudget(small); err != nil {
		t.Fatal(err)
	}
	capSmall := tb.Capacity()
	if total/2 <= capSmall {
		t.Fatalf("test setup: %d long-lived conns fit %d slots", total/2, capSmall)
	}
	if h := tb.HeadroomBytes(); h != 0 {
		t.Errorf("headroom %d above the budget", h)
	}
	refused := tb.Stats().Refused
	if _, ok := insert(tb, v4conn(total, now.Add(time.Hour)), now); ok {
		t.Fatal("insert accepted above a lowered budget")
	}
	if got := tb.Stats().Refused; got != refused+1 {
		t.Errorf("refused %d, want %d", got, refused+1)
	}
	// Nothing was lost.
	for i := 0; i < total; i += 31 {
		if lookupIn(tb, v4conn(i, 0).key(), now) == 0 {
			t.Fatalf("conn %d lost by lowering the budget", i)
		}
	}
	// The short-lived half expires: still above the budget, still refused.
	later := now.Add(2 * time.Second)
	tb.Reap(later, tb.Buckets())
	if tb.Len() != int64(total-total/2-total%2) {
		t.Fatalf("len %d after reaping, want %d", tb.Len(), total-total/2-total%2)
	}
	if _, ok := insert(tb, v4conn(total, later.Add(time.Hour)), later); ok {
		t.Fatal("insert accepted above a lowered budget after reaping")
	}
	// Delete long-lived conns until one slot is free: exactly one insert fits.
	for i := 1; tb.SlotsInUse() >= int64(capSmall); i += 2 {
		k := v4conn(i, 0).key()
		h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
		tb.Lock(h)
		idx := tb.LookupInLocked(h, &k, later)
		if idx == 0 || !tb.DeleteLocked(h, idx) {
			tb.Unlock(h)
			t.Fatalf("delete %d failed", i)
		}
		tb.Unlock(h)
	}
	if h := tb.HeadroomBytes(); h != slotSize {
		t.Errorf("headroom %d, want one slot", h)
	}
	if _, ok := insert(tb, v4conn(total, later.Add(time.Hour)), later); !ok {
		t.Fatal("insert refused below the lowered budget")
	}
	if _, ok := insert(tb, v4conn(total+1, later.Add(time.Hour)), later); ok {
		t.Fatal("insert accepted at the lowered budget")
	}
	if got := tb.BytesInUse(); got != bytesBefore {
		t.Errorf("BytesInUse %d, was %d: chunks are kept", got, bytesBefore)
	}
	// Raising back to the starting budget makes room again.
	if err := tb.SetBudget(big); err != nil {
		t.Fatal(err)
	}
	if n := fill(tb, total+1, later.Add(time.Hour), later); int64(n) != int64(tb.Capacity())-(tb.SlotsInUse()-int64(n)) || n == 0 {
		t.Errorf("filled %d after raising back", n)
	}
}

func TestSetBudgetBadValues(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 12, BudgetBytes: 4 << 20, MaxBudgetBytes: 16 << 20})
	capBefore, budgetBefore := tb.Capacity(), tb.Budget()
	for _, b := range []int64{-1, 0, 1000, 100 << 10, 16<<20 + 1, 1 << 40} {
		if err := tb.SetBudget(b); !errors.Is(err, ErrBudget) {
			t.Errorf("SetBudget(%d) = %v, want ErrBudget", b, err)
		}
	}
	if tb.Capacity() != capBefore || tb.Budget() != budgetBefore {
		t.Errorf("a refused budget changed the table: cap %d budget %d", tb.Capacity(), tb.Budget())
	}
	if err := tb.SetBudget(16 << 20); err != nil {
		t.Errorf("SetBudget at the maximum: %v", err)
	}
	// A fixed table (no MaxBudgetBytes) may go down and back up, not above.
	fixed, _ := newTestTable(t, Config{Bits: 12, BudgetBytes: 4 << 20})
	c := fixed.Capacity()
	if err := fixed.SetBudget(4<<20 + 1); err == nil {
		t.Error("fixed table raised above its starting budget")
	}
	if err := fixed.SetBudget(2 << 20); err != nil || fixed.Capacity() >= c {
		t.Errorf("lower: %v cap %d", err, fixed.Capacity())
	}
	if err := fixed.SetBudget(4 << 20); err != nil || fixed.Capacity() != c {
		t.Errorf("back up: %v cap %d want %d", err, fixed.Capacity(), c)
	}
	// A table made by slot count can go back to it exactly.
	ent, _ := newTestTable(t, Config{Bits: 10, MaxEntries: 5000})
	if err := ent.SetBudget(ent.Budget()); err != nil || ent.Capacity() != 5000 {
		t.Errorf("MaxEntries table: %v cap %d", err, ent.Capacity())
	}
	if _, err := New(Config{MaxBudgetBytes: -1}); !errors.Is(err, ErrBudget) {
		t.Errorf("negative MaxBudgetBytes: %v", err)
	}
}

// TestSetBudgetConcurrent inserts, looks up and deletes from several
// goroutines while the budget moves up and down. Run it with -race. The
// slots in use never pass the largest budget, and the counts agree at the
// end.
func TestSetBudgetConcurrent(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 10, BudgetBytes: 1 << 20, MaxBudgetBytes: 3 << 20})
	maxCap := budgetSlots(3<<20, tb.fixed)
	now := clock.Seconds(1)
	iters := 30000
	if testing.Short() {
		iters = 5000
	}
	var stop atomic.Bool
	var over atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for i := 0; i < iters; i++ {
				c := v4conn(rng.IntN(120000), now.Add(time.Hour))
				if rng.IntN(5) == 0 {
					k6 := benchKey6(rng.IntN(120000))
					c = Conn{V6: true, Proto: k6.Proto, Caddr: k6.Caddr, Vaddr: k6.Vaddr, Cport: k6.Cport, Vport: k6.Vport, Expires: now.Add(time.Hour)}
				}
				k := c.key()
				h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
				tb.Lock(h)
				if idx := tb.LookupInLocked(h, &k, now); idx != 0 {
					if rng.IntN(2) == 0 {
						tb.DeleteLocked(h, idx)
					}
				} else {
					tb.InsertLocked(h, &c, now)
				}
				tb.Unlock(h)
				if u := tb.SlotsInUse(); u > maxCap {
					over.Store(u)
				}
			}
		}(w)
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		budgets := []int64{1 << 20, 3 << 20, 2 << 20, 1<<20 + 1<<19}
		for i := 0; !stop.Load(); i++ {
			if err := tb.SetBudget(budgets[i%len(budgets)]); err != nil {
				t.Error(err)
				return
			}
			_ = tb.HeadroomBytes()
			_ = tb.Stats()
			time.Sleep(200 * time.Microsecond)
		}
	}()
	wg.Wait()
	stop.Store(true)
	bg.Wait()
	if u := over.Load(); u != 0 {
		t.Errorf("slots in use %d above the largest budget %d", u, maxCap)
	}
	st := tb.Stats()
	if st.Slots != tb.SlotsInUse() {
		t.Errorf("stripe slots %d, global count %d", st.Slots, tb.SlotsInUse())
	}
	if err := tb.SetBudget(3 << 20); err != nil {
		t.Fatal(err)
	}
	tb.Flush(now)
	if tb.Len() != 0 || tb.SlotsInUse() != 0 || tb.HeadroomBytes() != int64(tb.Capacity())*slotSize {
		t.Errorf("after flush: len %d used %d headroom %d", tb.Len(), tb.SlotsInUse(), tb.HeadroomBytes())
	}
	if got := tb.BytesInUse(); got > 3<<20 {
		t.Errorf("BytesInUse %d above the largest budget", got)
	}
}
