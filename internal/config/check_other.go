//go:build !linux

package config

import (
	"runtime"
	"strconv"
)

// cpuAllowed returns a test for CPUs 0..runtime.NumCPU()-1.
func cpuAllowed() (func(int) bool, string) {
	n := runtime.NumCPU()
	return func(c int) bool { return c >= 0 && c < n }, "0-" + strconv.Itoa(n-1)
}
