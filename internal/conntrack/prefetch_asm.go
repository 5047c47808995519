//go:build amd64 || arm64

package conntrack

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into the cache and
// returns at once (PREFETCHT0 / PRFM PLDL1KEEP): unlike a load, it never
// waits for memory, never faults and does not hold up the instructions
// after it, so the packets before can be handled while the line is on its
// way.
//
//go:noescape
func prefetch(p unsafe.Pointer)
