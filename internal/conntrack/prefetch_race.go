//go:build race

package conntrack

// Prefetch does nothing under the race detector (see prefetch.go).
func (t *Table) Prefetch(hs []uint32) uint32 { return 0 }

// PrefetchChains does nothing under the race detector (see prefetch.go).
func (t *Table) PrefetchChains(hs []uint32) uint32 { return 0 }
