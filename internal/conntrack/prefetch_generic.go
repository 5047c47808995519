//go:build !amd64 && !arm64

package conntrack

import "unsafe"

// prefetch does nothing where no prefetch instruction is wired up.
func prefetch(p unsafe.Pointer) {}
