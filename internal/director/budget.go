package director

import "fmt"

// MinTableBudget is the smallest connection-table budget SetTableBudget
// accepts (as the configuration file's table.budget).
const MinTableBudget = 1 << 20

// DefaultTableMaxBudget is the default of Config.TableMaxBudget below a
// larger starting budget: the table's chunk directory is sized for it at
// start (8 bytes per 2 MiB, 16 KiB for 4 GiB), memory only as it is used.
const DefaultTableMaxBudget = 4 << 30

// minTableBudget is the smallest budget this engine's table accepts: 1 MiB,
// or more when the bucket array alone is larger.
func (e *Engine) minTableBudget() int64 { return max(MinTableBudget, e.table.MinBudget()) }

// SetTableBudget changes the connection table's memory budget at run time
// (tunable table_budget), without a restart and without dropping entries:
// a raised budget lets more connections in at once; a budget lowered below
// what is in use refuses new connections (counted as the table being full)
// until enough have expired, and the defenses see no available memory
// meanwhile. A value outside MinTableBudget (or the bucket array's size)
// .. Config.TableMaxBudget is refused and nothing changes.
func (e *Engine) SetTableBudget(bytes int64) error {
	if lo, hi := e.minTableBudget(), e.table.MaxBudget(); bytes < lo || bytes > hi {
		return fmt.Errorf("director: table budget %d bytes: out of range %d..%d", bytes, lo, hi)
	}
	e.defMu.Lock()
	defer e.defMu.Unlock()
	if err := e.table.SetBudget(bytes); err != nil {
		return fmt.Errorf("director: table budget: %w", err)
	}
	e.defendLocked() // the headroom changed: the defense levels may too
	return nil
}
