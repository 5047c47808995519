package sched

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/vsd/vsd/internal/service"
)

// leastCase is a hand-made counter state and the index each scheduler must
// pick (-1 = none).
type leastCase struct {
	name  string
	dests []destState
	want  int
}

func runLeastCases(t *testing.T, sched string, cases []leastCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := buildDests(t, tc.dests)
			s := mustNew(t, sched, 0)
			s.Update(ds)
			if got := indexOf(ds, s.Schedule(&service.Request{})); got != tc.want {
				t.Fatalf("%s picked %d, want %d", sched, got, tc.want)
			}
		})
	}
}

// Values chosen so that 32-bit products would overflow and reverse the
// comparison: A has ratio 1, B slightly less.
var big64 = []destState{{w: 1 << 30, act: 1 << 22}, {w: 1<<30 - 1, act: 1<<22 - 1}}

func TestLC(t *testing.T) {
	runLeastCases(t, "lc", []leastCase{
		{"tie goes to first", []destState{{w: 1}, {w: 1}, {w: 1}}, 0},
		{"256 per active", []destState{{w: 1, act: 1}, {w: 1, inac: 300}, {w: 1, act: 1}}, 0},
		{"inactive only", []destState{{w: 1, inac: 257}, {w: 1, act: 1}}, 1},
		{"weight ignored", []destState{{w: 100, act: 2}, {w: 1, act: 1}}, 1},
		{"weight 0 never", []destState{{w: 0}, {w: 1, act: 5}}, 1},
		{"overload skipped", []destState{{w: 1, over: true}, {w: 1, act: 9}}, 1},
		{"none eligible", []destState{{w: 0}, {w: 3, over: true}}, -1},
		{"empty", nil, -1},
	})
}

func TestWLC(t *testing.T) {
	runLeastCases(t, "wlc", []leastCase{
		{"per weight", []destState{{w: 1, act: 1}, {w: 3, act: 2}}, 1},
		{"tie goes to first", []destState{{w: 2, act: 2}, {w: 1, act: 1}}, 0},
		{"all idle", []destState{{w: 1}, {w: 5}}, 0},
		{"inactive counts 1", []destState{{w: 1, inac: 100}, {w: 1, act: 1}}, 0},
		{"weight 0 first never", []destState{{w: 0}, {w: 1, act: 10}}, 1},
		{"weight 0 later never", []destState{{w: 1, act: 10}, {w: 0}}, 0},
		{"overload skipped", []destState{{w: 1, over: true}, {w: 0}, {w: 1, act: 3}, {w: 2, act: 5}}, 3},
		{"overloaded later skipped", []destState{{w: 1, act: 3}, {w: 10, over: true}}, 0},
		{"64-bit products", big64, 1},
		{"none eligible", []destState{{w: 0}, {w: 1, over: true}}, -1},
	})
}

func TestSED(t *testing.T) {
	runLeastCases(t, "sed", []leastCase{
		{"weight beats idle", []destState{{w: 1}, {w: 3, act: 1}}, 1},
		{"inactive ignored", []destState{{w: 1, inac: 1000}, {w: 1}}, 0},
		{"tie goes to first", []destState{{w: 1, act: 1}, {w: 2, act: 3}}, 0},
		{"weight 0 never", []destState{{w: 0}, {w: 1, act: 7}}, 1},
		{"overload skipped", []destState{{w: 9, over: true}, {w: 1, act: 7}}, 1},
		{"64-bit products", []destState{{w: 1 << 30, act: 1<<30 - 1}, {w: 1<<30 - 1, act: 1<<30 - 3}}, 1},
		{"none eligible", []destState{{w: 0, act: 0}}, -1},
	})
}

func TestNQ(t *testing.T) {
	runLeastCases(t, "nq", []leastCase{
		{"first idle wins", []destState{{w: 1, act: 1}, {w: 1, inac: 50}, {w: 5}}, 1},
		{"idle beats weight", []destState{{w: 100, act: 1}, {w: 1}}, 1},
		{"no idle: sed rule", []destState{{w: 1, act: 1}, {w: 3, act: 2}}, 1},
		{"no idle: tie first", []destState{{w: 1, act: 1}, {w: 1, act: 1}}, 0},
		{"idle but overloaded", []destState{{w: 1, over: true}, {w: 1, act: 2}}, 1},
		{"idle but weight 0", []destState{{w: 0}, {w: 1, act: 2}}, 1},
		{"none eligible", []destState{{w: 0}, {w: 1, over: true}}, -1},
	})
}

func TestFO(t *testing.T) {
	runLeastCases(t, "fo", []leastCase{
		{"highest weight", []destState{{w: 1}, {w: 3, act: 100}, {w: 3}, {w: 2}}, 1},
		{"highest overloaded", []destState{{w: 1}, {w: 3, over: true}, {w: 2}}, 2},
		{"all weight 0", []destState{{w: 0}, {w: 0}}, -1},
		{"load ignored", []destState{{w: 2, act: 1000}, {w: 1}}, 0},
	})
}

func TestOVF(t *testing.T) {
	runLeastCases(t, "ovf", []leastCase{
		{"full one skipped", []destState{{w: 3, act: 2}, {w: 5, act: 6}}, 0},
		{"active == weight allowed", []destState{{w: 3}, {w: 5, act: 5}}, 1},
		{"tie goes to first", []destState{{w: 4, act: 1}, {w: 4}}, 0},
		{"inactive ignored", []destState{{w: 1, inac: 1000}}, 0},
		{"weight 0 skipped", []destState{{w: 0}, {w: 1}}, 1},
		{"overload skipped", []destState{{w: 9, over: true}, {w: 1}}, 1},
		{"all full", []destState{{w: 1, act: 2}, {w: 2, act: 3}}, -1},
	})
}

// referencePick is an independent statement of each rule: sort the
// eligible destinations by an exact rational key and take the first of
// the best (list order breaks ties).
func referencePick(sched string, ds []*service.Dest) int {
	best, bestKey := -1, (*big.Rat)(nil)
	for i, d := range ds {
		w := int64(d.Weight())
		if w <= 0 || d.Overloaded() {
			continue
		}
		act, inac := int64(d.Active.Load()), int64(d.Inactive.Load())
		var key *big.Rat // smaller is better
		switch sched {
		case "lc":
			key = big.NewRat(256*act+inac, 1)
		case "wlc":
			key = big.NewRat(256*act+inac, w)
		case "sed":
			key = big.NewRat(act+1, w)
		case "nq":
			if act == 0 {
				return i
			}
			key = big.NewRat(act+1, w)
		case "fo":
			key = big.NewRat(-w, 1)
		case "ovf":
			if act > w {
				continue
			}
			key = big.NewRat(-w, 1)
		}
		if best < 0 || key.Cmp(bestKey) < 0 {
			best, bestKey = i, key
		}
	}
	return best
}

func TestLeastFamilyProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"lc", "wlc", "sed", "nq", "fo", "ovf"} {
		s := mustNew(t, name, 0)
		for iter := range 2000 {
			states := make([]destState, 1+rng.IntN(6))
			for i := range states {
				// Small ranges make ties frequent.
				states[i] = destState{w: int32(rng.IntN(4)), act: int32(rng.IntN(4)), inac: int32(rng.IntN(3) * 128), over: rng.IntN(5) == 0}
			}
			ds := buildDests(t, states)
			s.Update(ds)
			got, want := indexOf(ds, s.Schedule(&service.Request{})), referencePick(name, ds)
			if got != want {
				t.Fatalf("%s iter %d %+v: picked %d, reference %d", name, iter, states, got, want)
			}
		}
	}
}
