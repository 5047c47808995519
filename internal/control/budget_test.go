package control

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/director"
)

// TestTableBudgetTunable: table_budget is listed, set at run time through
// the API, and a bad value is refused with its value named and nothing
// changed.
func TestTableBudgetTunable(t *testing.T) {
	s := newServer(t)
	set := func(v int64) error {
		return s.Apply([]api.Op{{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "table_budget", Value: v}}})
	}
	listed := func() int64 {
		for _, tu := range TunablesOf(s.Engine.Tunables(), s.Engine.Timeouts()) {
			if tu.Name == "table_budget" {
				return tu.Value
			}
		}
		t.Fatal("table_budget not listed")
		return 0
	}
	if got := listed(); got != director.DefaultTableBudget {
		t.Fatalf("table_budget %d, want the default %d", got, director.DefaultTableBudget)
	}
	capBefore := s.Engine.Table().Capacity()
	if err := set(32 << 20); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != 32<<20 || s.Engine.Table().Budget() != 32<<20 || s.Engine.Table().Capacity() >= capBefore {
		t.Fatalf("after table_budget=32MiB: listed %d, table %d, capacity %d (was %d)", got, s.Engine.Table().Budget(), s.Engine.Table().Capacity(), capBefore)
	}
	maxB := s.Engine.Table().MaxBudget()
	for _, v := range []int64{-1, 0, 1<<20 - 1, maxB + 1} {
		err := s.Apply([]api.Op{{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "drop_packet", Value: 3}},
			{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "table_budget", Value: v}}})
		want := fmt.Sprintf("table_budget %d: out of range 1048576..%d bytes (1 MiB up to the table's maximum)", v, maxB)
		var oe *api.OpError
		if !errors.As(err, &oe) || oe.Message != want || oe.Index != 1 {
			t.Errorf("table_budget %d: %v, want %q", v, err, want)
		}
	}
	if s.Engine.Table().Budget() != 32<<20 || s.Engine.Tunables().Defense.DropPacket != 0 {
		t.Error("a refused batch changed something")
	}
	if err := set(maxB); err != nil {
		t.Errorf("table_budget at the maximum: %v", err)
	}
	// A batch that sets other tunables leaves the budget alone.
	if err := s.Apply([]api.Op{{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "drop_packet", Value: 1}}}); err != nil || s.Engine.Table().Budget() != maxB {
		t.Errorf("drop_packet: %v, budget %d", err, s.Engine.Table().Budget())
	}
}
