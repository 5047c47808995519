package sched

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vsd/vsd/internal/service"
)

func TestWRRKernelExample(t *testing.T) {
	ds := newTestDests(4, 3, 2)
	s := mustNew(t, "wrr", 0)
	s.Update(ds)
	if got, want := sequence(s, ds, 27), strings.Repeat("AABABCABC", 3); got != want {
		t.Fatalf("wrr sequence\n got %s\nwant %s", got, want)
	}
}

func TestWRRGCD(t *testing.T) {
	ds := newTestDests(4, 2)
	s := mustNew(t, "wrr", 0).(*weightedRoundRobin)
	s.Update(ds)
	if s.di != 2 || s.mw != 3 || s.cw != 3 || s.cl != -1 {
		t.Fatalf("di=%d mw=%d cw=%d cl=%d; want di=2 mw=3 cw=3 cl=-1", s.di, s.mw, s.cw, s.cl)
	}
	if got, want := sequence(s, ds, 12), strings.Repeat("AAB", 4); got != want {
		t.Fatalf("sequence %s, want %s", got, want)
	}
	ds = newTestDests(6, 9, 0)
	s.Update(ds)
	if s.di != 3 || s.mw != 7 {
		t.Fatalf("weights 6,9,0: di=%d mw=%d; want 3, 7", s.di, s.mw)
	}
	ds = newTestDests(0, 0)
	s.Update(ds)
	if s.di != 1 || s.mw != 0 {
		t.Fatalf("all zero: di=%d mw=%d; want 1, 0", s.di, s.mw)
	}
	if d := s.Schedule(&service.Request{}); d != nil {
		t.Fatal("picked a weight-0 destination")
	}
}

func TestWRRUpdateAdjustsCW(t *testing.T) {
	s := mustNew(t, "wrr", 0).(*weightedRoundRobin)
	ds := newTestDests(5, 3, 1)
	s.Update(ds)
	if got := sequence(s, ds, 2); got != "AA" { // cw 5, then 4
		t.Fatalf("sequence %s", got)
	}
	if s.cw != 4 || s.cl != 0 {
		t.Fatalf("cw=%d cl=%d, want 4, 0", s.cw, s.cl)
	}
	// di 2, mw 5: cw (4) ≤ mw and di > 1 → cw = (4/2)·2 + 1 = 5.
	setWeight(ds[0], 6)
	setWeight(ds[1], 4)
	setWeight(ds[2], 2)
	s.Update(ds)
	if s.cw != 5 || s.cl != -1 || s.di != 2 || s.mw != 5 {
		t.Fatalf("cw=%d cl=%d di=%d mw=%d; want 5 -1 2 5", s.cw, s.cl, s.di, s.mw)
	}
	// mw drops to 1 below cw → cw = mw.
	for _, d := range ds {
		setWeight(d, 2)
	}
	s.Update(ds)
	if s.cw != 1 || s.mw != 1 {
		t.Fatalf("cw=%d mw=%d; want 1 1", s.cw, s.mw)
	}
}

func TestWRRAllOverloaded(t *testing.T) {
	ds := newTestDests(4, 3, 2)
	s := mustNew(t, "wrr", 0)
	s.Update(ds)
	for start := range 9 { // fail from every position of the cycle
		s.Update(ds)
		sequence(s, ds, start)
		for _, d := range ds {
			setOverloaded(t, d, true)
		}
		if d := s.Schedule(&service.Request{}); d != nil {
			t.Fatalf("start %d: picked %s with all overloaded", start, destName(ds, d))
		}
		for _, d := range ds {
			setOverloaded(t, d, false)
		}
		if d := s.Schedule(&service.Request{}); d == nil {
			t.Fatalf("start %d: nothing picked after recovery", start)
		}
	}
}

// TestWRRStopsAtLast checks where a failed scan leaves the cursor. With
// weights A2 B1 C1 the cycle is A A B C. After A A B (cl = B, cw = 1) a
// scan with everything overloaded restarts at cw = 2, comes down to cw = 1
// and stops when it is back at B, leaving cl = B, cw = 1: after recovery
// the cycle continues with C.
func TestWRRStopsAtLast(t *testing.T) {
	ds := newTestDests(2, 1, 1)
	s := mustNew(t, "wrr", 0).(*weightedRoundRobin)
	s.Update(ds)
	if got := sequence(s, ds, 3); got != "AAB" {
		t.Fatalf("sequence %s", got)
	}
	for _, d := range ds {
		setOverloaded(t, d, true)
	}
	if d := s.Schedule(&service.Request{}); d != nil {
		t.Fatal("picked with all overloaded")
	}
	if s.cl != 1 || s.cw != 1 {
		t.Fatalf("after the failed scan cl=%d cw=%d, want 1 1", s.cl, s.cw)
	}
	for _, d := range ds {
		setOverloaded(t, d, false)
	}
	if got := sequence(s, ds, 5); got != "CAABC" {
		t.Fatalf("after recovery %s, want CAABC", got)
	}
}

func TestWRRSkipsOverloaded(t *testing.T) {
	ds := newTestDests(4, 3, 2)
	setOverloaded(t, ds[0], true)
	s := mustNew(t, "wrr", 0)
	s.Update(ds)
	// cw 4: nothing; 3: B; 2: B C; 1: B C; then again.
	if got, want := sequence(s, ds, 10), "BBCBCBBCBC"; got != want {
		t.Fatalf("sequence %s, want %s", got, want)
	}
}

// TestWRRProperty: over one cycle every destination is picked weight/gcd
// times; with random OVERLOAD flags wrr fails only when no destination is
// eligible and never picks an ineligible one.
func TestWRRProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 300 {
		n := 1 + rng.IntN(6)
		ws := make([]int32, n)
		mult := int32(1 + rng.IntN(3))
		for i := range ws {
			ws[i] = mult * int32(rng.IntN(5))
		}
		ds := newTestDests(ws...)
		s := mustNew(t, "wrr", 0)
		s.Update(ds)
		g, sum := 0, 0
		for _, w := range ws {
			if w > 0 {
				if g == 0 {
					g = int(w)
				} else {
					g = gcd(g, int(w))
				}
				sum += int(w)
			}
		}
		counts := make([]int, n)
		if sum > 0 {
			for range sum / g {
				counts[indexOf(ds, s.Schedule(&service.Request{}))]++
			}
			for i, w := range ws {
				if counts[i] != int(w)/g {
					t.Fatalf("iter %d weights %v: counts %v (gcd %d)", iter, ws, counts, g)
				}
			}
		}
		for step := range 40 {
			setOverloaded(t, ds[rng.IntN(n)], rng.IntN(2) == 0)
			anyEligible := false
			for _, d := range ds {
				anyEligible = anyEligible || d.Eligible()
			}
			d := s.Schedule(&service.Request{})
			if (d != nil) != anyEligible {
				t.Fatalf("iter %d step %d weights %v: picked %v, eligible exists %v", iter, step, ws, d != nil, anyEligible)
			}
			if d != nil && !d.Eligible() {
				t.Fatalf("iter %d step %d: picked ineligible %s", iter, step, destName(ds, d))
			}
		}
	}
}

func indexOf(ds []*service.Dest, d *service.Dest) int {
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}
