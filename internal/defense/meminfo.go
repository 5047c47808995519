package defense

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// HostAvailablePages reads /proc/meminfo text and returns the kernel's
// measure of available memory for its defenses: free plus buffer pages
// (MemFree + Buffers; the page cache and swap do not count), in 4 KiB
// pages.
func HostAvailablePages(r io.Reader) (int64, error) {
	var free, buffers int64 = -1, -1
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "MemFree" && name != "Buffers") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("meminfo: %s: %q is not \"N kB\"", name, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<50 {
			return 0, fmt.Errorf("meminfo: %s: %q is not a size in kB", name, f[0])
		}
		if name == "MemFree" {
			free = kb
		} else {
			buffers = kb
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	if free < 0 || buffers < 0 {
		return 0, fmt.Errorf("meminfo: no MemFree or Buffers line")
	}
	return (free + buffers) * 1024 / PageSize, nil
}
