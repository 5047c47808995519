//go:build race

package conntrack

// Prefetch does nothing under the race detector (see prefetch.go).
func (t *Table) Prefetch(hs []uint32) uint32 { return 0 }

// PrefetchChains does nothing under the race detector (see prefetch.go).
func (t *Table) PrefetchChains(hs []uint32) uint32 { return 0 }

// PrefetchEntry does nothing under the race detector (see prefetch.go).
func (t *Table) PrefetchEntry(h uint32) {}

// PrefetchNext does nothing under the race detector (see prefetch.go).
func (t *Table) PrefetchNext(h uint32, cport, vport uint16) {}

// PrefetchInsert does nothing under the race detector (see prefetch.go).
func (t *Table) PrefetchInsert(h uint32) {}
