package sched

import (
	"math"
	"testing"

	"github.com/vsd/vsd/internal/service"
)

// countPicks schedules n times and counts the picks per destination
// (index len(ds) counts nil).
func countPicks(s service.Scheduler, ds []*service.Dest, n int) []int {
	counts := make([]int, len(ds)+1)
	r := &service.Request{}
	for range n {
		i := indexOf(ds, s.Schedule(r))
		if i < 0 {
			i = len(ds)
		}
		counts[i]++
	}
	return counts
}

// within fails unless got is within 6 standard deviations of n·p.
func within(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sigma := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(got)-mean) > 6*sigma+1 {
		t.Errorf("%s: %d picks of %d, expected %.0f ± %.0f", what, got, n, mean, 6*sigma)
	}
}

func TestTwosFollowsWeights(t *testing.T) {
	// With equal load the first choice always stands. It is uniform over
	// [0, total] inclusive, so the first destination has one extra chance:
	// weights 1, 2, 5 → 2/9, 2/9, 5/9.
	ds := newTestDests(1, 2, 5)
	s := mustNew(t, "twos", 0)
	s.Update(ds)
	const n = 90000
	c := countPicks(s, ds, n)
	within(t, "A", c[0], n, 2.0/9)
	within(t, "B", c[1], n, 2.0/9)
	within(t, "C", c[2], n, 5.0/9)
	if c[3] != 0 {
		t.Errorf("%d nil picks", c[3])
	}
}

func TestTwosPrefersLessLoaded(t *testing.T) {
	// Equal weights; B heavily loaded. Draws in [0,2]: 0,1 → A, 2 → B.
	// B is returned only when both choices are B: 1/9.
	ds := newTestDests(1, 1)
	ds[1].Active.Store(100)
	s := mustNew(t, "twos", 0)
	s.Update(ds)
	const n = 45000
	c := countPicks(s, ds, n)
	within(t, "loaded B", c[1], n, 1.0/9)
}

func TestTwosNeverIneligible(t *testing.T) {
	ds := newTestDests(0, 4, 1, 2)
	setOverloaded(t, ds[1], true)
	s := mustNew(t, "twos", 0)
	s.Update(ds)
	const n = 20000
	c := countPicks(s, ds, n)
	if c[0] != 0 || c[1] != 0 || c[4] != 0 {
		t.Fatalf("picks %v: weight-0, overloaded or nil picked", c)
	}
	// Eligible C(1) D(2), total 3: C gets 2/4, D 2/4.
	within(t, "C", c[2], n, 0.5)
	setOverloaded(t, ds[2], true)
	setOverloaded(t, ds[3], true)
	if d := s.Schedule(&service.Request{}); d != nil {
		t.Fatalf("picked %s with nothing eligible", destName(ds, d))
	}
}
