package sched

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vsd/vsd/internal/service"
)

func TestRRSequence(t *testing.T) {
	ds := newTestDests(1, 5, 1) // weights do not matter to rr
	s := mustNew(t, "rr", 0)
	s.Update(ds)
	if got := sequence(s, ds, 7); got != "ABCABCA" {
		t.Fatalf("rr sequence %s, want ABCABCA", got)
	}
}

func TestRRSkipsIneligible(t *testing.T) {
	ds := newTestDests(1, 0, 1, 1) // B quiesced
	setOverloaded(t, ds[2], true)  // C overloaded
	s := mustNew(t, "rr", 0)
	s.Update(ds)
	if got := sequence(s, ds, 5); got != "ADADA" {
		t.Fatalf("sequence %s, want ADADA", got)
	}
	setOverloaded(t, ds[2], false) // flags need no Update
	if got := sequence(s, ds, 4); got != "CDAC" {
		t.Fatalf("after clearing OVERLOAD: %s, want CDAC", got)
	}
	for _, d := range ds {
		setOverloaded(t, d, true)
	}
	if got := sequence(s, ds, 2); got != "--" {
		t.Fatalf("all overloaded: %s, want --", got)
	}
	// A failed scan leaves the cursor where it was (after C).
	for _, d := range ds {
		setOverloaded(t, d, false)
	}
	if got := sequence(s, ds, 3); got != "DAC" {
		t.Fatalf("after recovery: %s, want DAC", got)
	}
}

func TestRRCursorOnUpdate(t *testing.T) {
	a, b, c, d, x := newTestDest(0, 1), newTestDest(1, 1), newTestDest(2, 1), newTestDest(3, 1), newTestDest(4, 1)
	name := func(p *service.Dest) string { return destName([]*service.Dest{a, b, c, d, x}, p) }
	pick := func(s service.Scheduler, n int) string {
		out := ""
		for range n {
			out += name(s.Schedule(&service.Request{}))
		}
		return out
	}
	tests := []struct {
		name   string
		before int // picks before the update
		after  []*service.Dest
		want   string
	}{
		// Cursor on B; B deleted → cursor on its predecessor A → C next.
		{"delete remembered", 2, []*service.Dest{a, c, d}, "CDA"},
		// Cursor on A (first); A deleted → cursor at the head → B next.
		{"delete remembered first", 1, []*service.Dest{b, c, d}, "BCD"},
		// Cursor on B; C deleted: cursor stays on B → D next.
		{"delete other", 2, []*service.Dest{a, b, d}, "DAB"},
		// Cursor on C; B and C deleted at once → nearest survivor A.
		{"delete two", 3, []*service.Dest{a, d}, "DAD"},
		// Cursor on B; X (named E) added at the head: cursor stays on B.
		{"add at head", 2, []*service.Dest{x, a, b, c, d}, "CDEAB"},
		// Everything deleted.
		{"delete all", 2, nil, "---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, "rr", 0)
			s.Update([]*service.Dest{a, b, c, d})
			if got, want := pick(s, tt.before), "ABCD"[:tt.before]; got != want {
				t.Fatalf("before: %s, want %s", got, want)
			}
			s.Update(tt.after)
			if got := pick(s, len(tt.want)); got != tt.want {
				t.Fatalf("after update: %s, want %s", got, tt.want)
			}
		})
	}
}

// TestRRProperty compares rr with a model (a cursor over the list) for
// random eligibility changes.
func TestRRProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		n := 1 + rng.IntN(6)
		ws := make([]int32, n)
		for i := range ws {
			ws[i] = int32(rng.IntN(3))
		}
		ds := newTestDests(ws...)
		s := mustNew(t, "rr", 0)
		s.Update(ds)
		last := -1
		for step := range 30 {
			d := ds[rng.IntN(n)]
			setOverloaded(t, d, rng.IntN(3) == 0)
			want := -1
			for k := 1; k <= n; k++ {
				i := (last + k) % n
				if ds[i].Weight() > 0 && !ds[i].Overloaded() {
					want = i
					break
				}
			}
			got := slices.Index(ds, s.Schedule(&service.Request{}))
			if got != want {
				t.Fatalf("iter %d step %d: picked %d, want %d", iter, step, got, want)
			}
			if want >= 0 {
				last = want
			}
		}
	}
}
