//go:build !linux

package conntrack

import "unsafe"

const hugePage = 2 << 20

// allocHuge is Linux-only; elsewhere the tables live on the Go heap.
func allocHuge[T any](owner *T, n int) unsafe.Pointer { return nil }
