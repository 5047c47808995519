package conntrack

import "fmt"

// The memory budget, settable at run time.
//
// The budget caps the number of slots in use (one atomic add per insert and
// per free keeps the count) and bounds the fresh slots the bump allocator
// may hand out, so the memory allocated for slots never grows past the
// largest budget set since the table was made. The chunk directory is sized
// at New for the largest budget allowed (Config.MaxBudgetBytes), so the
// lookup path is the same for any budget.
//
// Lowering the budget below what is in use moves no entry: inserts are
// refused (counted in Stats.Refused, as at a full table) until expiries and
// deletes bring the slots in use below the new budget. Slot chunks already
// allocated are kept (they are reused as entries come and go), so
// BytesInUse does not fall with the budget.

// budgetSlots returns how many slots a budget of b bytes allows when the
// buckets and stripes take fixed bytes: each slot costs its 32 bytes plus
// its share of the directory (8 bytes per chunk); slot 0 is allocated but
// never used.
func budgetSlots(b, fixed int64) int64 {
	slots := (b - fixed - slotSize) * chunkSlots / (slotSize*chunkSlots + 8)
	for slots > 0 && slotsBytes(slots, fixed) > b {
		slots--
	}
	return slots
}

// slotsBytes is the budget that budgetSlots turns into slots.
func slotsBytes(slots, fixed int64) int64 {
	return fixed + (slots+1)*slotSize + (slots+chunkSlots)/chunkSlots*8
}

// setLimit publishes a budget of bytes allowing slots slots.
func (t *Table) setLimit(slots, bytes int64) {
	t.budget.Store(bytes)
	t.limit.Store(uint32(slots) + 1) // slot 0 is nil
	t.capSlots.Store(slots)
}

// SetBudget changes the memory budget to bytes at run time, raising or
// lowering it, without moving or dropping any entry. It fails, changing
// nothing, when bytes leaves no room for entries or is above MaxBudget.
// Safe to call concurrently with everything else; concurrent SetBudget
// calls are applied in some order.
func (t *Table) SetBudget(bytes int64) error {
	if bytes > t.maxBudget {
		return fmt.Errorf("%w: %d bytes is above the table's maximum of %d", ErrBudget, bytes, t.maxBudget)
	}
	slots := min(budgetSlots(bytes, t.fixed), int64(t.maxLimit)-1)
	if slots < 2 {
		return fmt.Errorf("%w: %d bytes, the buckets and stripes alone take %d", ErrBudget, bytes, t.fixed)
	}
	t.setLimit(slots, bytes)
	return nil
}

// Budget returns the current memory budget in bytes (for a table made with
// MaxEntries, the budget those slots correspond to).
func (t *Table) Budget() int64 { return t.budget.Load() }

// MaxBudget returns the largest budget SetBudget accepts.
func (t *Table) MaxBudget() int64 { return t.maxBudget }

// SlotsInUse returns the slots in use (an IPv6 entry uses two), without
// taking any lock.
func (t *Table) SlotsInUse() int64 { return t.used.Load() }

// MinBudget returns the smallest budget SetBudget accepts (room for two
// slots besides the buckets and stripes).
func (t *Table) MinBudget() int64 { return slotsBytes(2, t.fixed) }
