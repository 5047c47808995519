package defense

import (
	"os"
	"strings"
	"testing"
)

func TestHostAvailablePages(t *testing.T) {
	in := "MemTotal:       24000000 kB\nMemFree:          400000 kB\nMemAvailable:   20000000 kB\nBuffers:           12000 kB\nCached:          9000000 kB\n"
	got, err := HostAvailablePages(strings.NewReader(in))
	if err != nil || got != (400000+12000)/4 {
		t.Fatalf("got %d %v, want %d", got, err, (400000+12000)/4)
	}
	for _, bad := range []string{"MemFree: 5 MB\nBuffers: 1 kB\n", "MemFree: x kB\nBuffers: 1 kB\n", "MemTotal: 5 kB\n", ""} {
		if _, err := HostAvailablePages(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		if p, err := HostAvailablePages(f); err != nil || p <= 0 {
			t.Errorf("this host's /proc/meminfo: %d %v", p, err)
		}
	}
}

func FuzzHostAvailablePages(f *testing.F) {
	f.Add("MemFree: 400000 kB\nBuffers: 12000 kB\n")
	f.Add("MemFree:\nBuffers: kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := HostAvailablePages(strings.NewReader(s))
		if err == nil && p < 0 {
			t.Fatalf("negative pages %d for %q", p, s)
		}
	})
}
