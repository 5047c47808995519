package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// TestPeekMatchesSchedule: for every deterministic scheduler, over a long
// run with changing load, Peek (asked twice) names the destination the
// following Schedule picks, so Peek neither moved the scheduler's state
// nor predicted wrongly. Requests vary client and destination address, so
// the hash and locality schedulers see many keys.
func TestPeekMatchesSchedule(t *testing.T) {
	for _, name := range Names() {
		if name == "twos" {
			continue // random: TestPeekTwos
		}
		t.Run(name, func(t *testing.T) {
			s, err := New(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			dests := newTestDests(3, 1, 2, 0, 4)
			s.Update(dests)
			p := s.(Peeker)
			rng := rand.New(rand.NewPCG(1, 2))
			picked := map[*service.Dest]int{}
			for i := range 2000 {
				r := &service.Request{Now: clock.Seconds(int64(i))}
				r.Src[15], r.Dst[15] = byte(rng.IntN(40)), byte(rng.IntN(8))
				r.Src[10], r.Src[11], r.Dst[10], r.Dst[11] = 0xff, 0xff, 0xff, 0xff
				a, b := p.Peek(r), p.Peek(r)
				got := s.Schedule(r)
				if a != b || a != got {
					t.Fatalf("step %d: Peek %v then %v, Schedule %v", i, destLabel(a), destLabel(b), destLabel(got))
				}
				if got != nil {
					picked[got]++
					if rng.IntN(3) == 0 {
						got.Active.Add(1) // load moves the least-connection family
					}
				}
				if i == 1000 {
					setWeight(dests[4], 0) // the heaviest: fo moves too
					s.Update(dests)
				}
			}
			if name != "none" && len(picked) < 2 {
				t.Fatalf("only %d destinations picked in 2000 requests: the run proves little", len(picked))
			}
		})
	}
}

// TestPeekKeepsRoundRobin: a thousand peeks do not move rr's or wrr's
// cursor: the sequence of Schedule picks is the same as without them.
func TestPeekKeepsRoundRobin(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		seq := func(peeks int) string {
			s, _ := New(name, 0)
			s.Update(newTestDests(3, 1, 2))
			out := ""
			for range 12 {
				for range peeks {
					s.(Peeker).Peek(&service.Request{})
				}
				out += destLabel(s.Schedule(&service.Request{}))
			}
			return out
		}
		if a, b := seq(0), seq(1000); a != b {
			t.Fatalf("%s: picks %s without peeks, %s with", name, a, b)
		}
	}
}

// TestPeekLeavesCache: Peek neither adds nor refreshes lblc/lblcr cache
// entries (a refreshed lastuse would keep an entry alive past GC).
func TestPeekLeavesCache(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		s, _ := New(name, 0)
		s.Update(newTestDests(1, 1))
		c := s.(Cache)
		r := &service.Request{Now: clock.Seconds(10)}
		r.Dst[15] = 9
		s.(Peeker).Peek(r)
		if c.Len() != 0 {
			t.Fatalf("%s: Peek added a cache entry", name)
		}
		first := s.Schedule(r)
		c.SetExpiration(60 * 1e9)
		late := &service.Request{Now: clock.Seconds(1000), Dst: r.Dst}
		if got := s.(Peeker).Peek(late); got != first {
			t.Fatalf("%s: Peek %v, cached %v", name, destLabel(got), destLabel(first))
		}
		for i := 1; i <= localityFullCheckEvery; i++ {
			c.GC(clock.Seconds(int64(1000 + i)))
		}
		if c.Len() != 0 {
			t.Fatalf("%s: the entry survived a full check after its expiration: Peek refreshed it", name)
		}
	}
}

// TestPeekTwos: twos's peek is a real draw among eligible destinations.
func TestPeekTwos(t *testing.T) {
	s, _ := New("twos", 0)
	dests := newTestDests(1, 0, 1)
	s.Update(dests)
	for range 200 {
		if d := s.(Peeker).Peek(&service.Request{}); d != dests[0] && d != dests[2] {
			t.Fatalf("twos peeked %v", destLabel(d))
		}
	}
}

func destLabel(d *service.Dest) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprint(d.Addr)
}
