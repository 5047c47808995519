//go:build !linux

package conntrack

import (
	"sync/atomic"
	"unsafe"
)

const hugePage = 2 << 20

// allocHuge is Linux-only; elsewhere the tables live on the Go heap.
func allocHuge[T any](owner *T, n int) unsafe.Pointer { return nil }

// mappedBytes stays 0: nothing is mapped outside the Go heap here.
var mappedBytes atomic.Int64
