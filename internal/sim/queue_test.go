package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// TestQueueOrder: events come out by time, and in insertion order at
// equal times.
func TestQueueOrder(t *testing.T) {
	var q eventQueue
	rng := rand.New(rand.NewPCG(1, 2))
	type item struct {
		at  clock.Time
		ins int32
	}
	var want []item
	for i := range 5000 {
		at := clock.Time(rng.IntN(50)) // many ties
		q.push(event{at: at, idx: int32(i)})
		want = append(want, item{at, int32(i)})
	}
	slices.SortStableFunc(want, func(a, b item) int { return int(a.at - b.at) })
	for i, w := range want {
		e := q.pop()
		if e.at != w.at || e.idx != w.ins {
			t.Fatalf("pop %d = (%d, %d), want (%d, %d)", i, e.at, e.idx, w.at, w.ins)
		}
	}
	if q.len() != 0 {
		t.Fatalf("queue not empty: %d", q.len())
	}
}

// TestRunStepSchedule: Run stops at its bound and leaves the clock there;
// Schedule in the past runs now; ties run in scheduling order.
func TestRunStepSchedule(t *testing.T) {
	n := New(Config{})
	start := n.Now()
	var got []string
	n.After(2*time.Second, func() { got = append(got, "b") })
	n.After(time.Second, func() { got = append(got, "a1") })
	n.After(time.Second, func() {
		got = append(got, "a2")
		n.Schedule(0, func() { got = append(got, "a3") }) // in the past: runs at once, after a2
	})
	n.Run(start.Add(1500 * time.Millisecond))
	if !slices.Equal(got, []string{"a1", "a2", "a3"}) || n.Now() != start.Add(1500*time.Millisecond) {
		t.Fatalf("after Run: %v at %v", got, n.Now().Sub(start))
	}
	if !n.Step() || !slices.Equal(got, []string{"a1", "a2", "a3", "b"}) || n.Now() != start.Add(2*time.Second) {
		t.Fatalf("after Step: %v at %v", got, n.Now().Sub(start))
	}
	if n.Step() {
		t.Fatal("Step on an empty queue")
	}
	n.Run(start) // the clock never goes back
	if n.Now() != start.Add(2*time.Second) {
		t.Fatalf("clock went back to %v", n.Now())
	}
}
