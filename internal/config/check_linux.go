package config

import (
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cpuAllowed returns a test for the CPUs in this process's affinity mask
// (what the workers may be pinned to) and a description such as "0-1".
// When the mask cannot be read it falls back to 0..runtime.NumCPU()-1.
func cpuAllowed() (func(int) bool, string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		n := runtime.NumCPU()
		return func(c int) bool { return c >= 0 && c < n }, "0-" + strconv.Itoa(n-1)
	}
	size := 8 * int(unsafe.Sizeof(set))
	var parts []string
	for c := 0; c < size; {
		if !set.IsSet(c) {
			c++
			continue
		}
		e := c
		for e+1 < size && set.IsSet(e+1) {
			e++
		}
		if e == c {
			parts = append(parts, strconv.Itoa(c))
		} else {
			parts = append(parts, strconv.Itoa(c)+"-"+strconv.Itoa(e))
		}
		c = e + 1
	}
	return func(c int) bool { return c >= 0 && c < size && set.IsSet(c) }, strings.Join(parts, ",")
}
