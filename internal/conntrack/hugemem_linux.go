package conntrack

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// mappedBytes is the memory currently mapped by allocHuge (outside the Go
// heap, so runtime.MemStats does not show it); benchmarks add it to
// HeapInuse to measure what a table really holds.
var mappedBytes atomic.Int64

// hugePage is the size of a transparent huge page on amd64 and arm64.
const hugePage = 2 << 20

// madvHugepage is MADV_HUGEPAGE (not in package syscall).
const madvHugepage = 14

// allocHuge returns n zeroed bytes (n a multiple of hugePage) outside the
// Go heap, aligned to a huge page and advised to be backed by transparent
// huge pages, or nil if the mapping fails (the caller then uses the Go
// heap). The mapping is released once owner is unreachable. The memory
// must hold no Go pointers.
func allocHuge[T any](owner *T, n int) unsafe.Pointer {
	if n <= 0 || n%hugePage != 0 {
		return nil
	}
	// One huge page more than needed, so that an aligned start exists;
	// the spare virtual range is never touched, so it costs no memory.
	m, err := syscall.Mmap(-1, 0, n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (hugePage - 1))
	region := m[off : off+n]
	_ = syscall.Madvise(region, madvHugepage) // advice only: without it we get 4 KiB pages
	mappedBytes.Add(int64(n))
	runtime.AddCleanup(owner, func(m []byte) { mappedBytes.Add(-int64(n)); _ = syscall.Munmap(m) }, m)
	return unsafe.Pointer(&region[0])
}
