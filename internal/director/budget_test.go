package director

import (
	"strings"
	"testing"

	"github.com/vsd/vsd/internal/defense"
)

// TestSetTableBudget: the budget moves both ways at run time, the defenses'
// available memory follows it, and values outside the bounds are refused
// with nothing changed.
func TestSetTableBudget(t *testing.T) {
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6}}, Neighbors: staticNeighbors{}, TableBits: 8, TableBudget: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Table().MaxBudget(); got != DefaultTableMaxBudget {
		t.Fatalf("max budget %d, want %d", got, DefaultTableMaxBudget)
	}
	avail := e.AvailablePages()
	if err := e.SetTableBudget(64 << 20); err != nil {
		t.Fatal(err)
	}
	if got := e.AvailablePages(); got <= avail || got > (64<<20)/defense.PageSize {
		t.Errorf("available pages %d after raising to 64 MiB (was %d)", got, avail)
	}
	if tu := e.Tunables(); tu.TableBudget != 64<<20 || tu.TableBudgetMin != MinTableBudget || tu.TableBudgetMax != DefaultTableMaxBudget {
		t.Errorf("tunables report budget %d bounds %d..%d", tu.TableBudget, tu.TableBudgetMin, tu.TableBudgetMax)
	}
	if err := e.SetTableBudget(2 << 20); err != nil {
		t.Fatal(err)
	}
	if got := e.AvailablePages(); got >= avail {
		t.Errorf("available pages %d after lowering to 2 MiB (4 MiB gave %d)", got, avail)
	}
	for _, b := range []int64{-1, 0, MinTableBudget - 1, DefaultTableMaxBudget + 1} {
		err := e.SetTableBudget(b)
		if err == nil || !strings.Contains(err.Error(), "table budget ") {
			t.Errorf("SetTableBudget(%d) = %v", b, err)
		}
	}
	if e.Table().Budget() != 2<<20 {
		t.Errorf("a refused budget changed it: %d", e.Table().Budget())
	}
	// SetTunables with TableBudget 0 leaves it; with a value applies it.
	tu := DefaultTunables()
	e.SetTunables(tu)
	if e.Table().Budget() != 2<<20 {
		t.Errorf("SetTunables without a budget changed it: %d", e.Table().Budget())
	}
	tu.TableBudget = 8 << 20
	e.SetTunables(tu)
	if e.Table().Budget() != 8<<20 {
		t.Errorf("SetTunables did not apply the budget: %d", e.Table().Budget())
	}
}
