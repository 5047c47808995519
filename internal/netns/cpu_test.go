package netns

import (
	"strings"
	"testing"
	"time"
)

const statSample = `cpu  1000 20 300 5000 40 5 6 7 0 0
cpu0 600 10 200 2000 20 3 4 5 0 0
cpu1 400 10 100 3000 20 2 2 2 0 0
intr 12345 0 0
ctxt 999
cpu3 1 2 3 4
`

func TestParseStat(t *testing.T) {
	got, err := parseStat([]byte(statSample))
	if err != nil {
		t.Fatal(err)
	}
	want := []CPUTimes{
		{CPU: 0, Busy: 600 + 10 + 200 + 3 + 4 + 5, Total: 600 + 10 + 200 + 2000 + 20 + 3 + 4 + 5},
		{CPU: 1, Busy: 400 + 10 + 100 + 2 + 2 + 2, Total: 400 + 10 + 100 + 3000 + 20 + 2 + 2 + 2},
		{CPU: 3, Busy: 1 + 2 + 3, Total: 1 + 2 + 3 + 4}, // an old kernel's four values
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, bad := range []struct{ in, msg string }{
		{"", "no per-CPU lines"},
		{"cpu 1 2 3 4\n", "no per-CPU lines"},
		{"cpuX 1 2 3 4\n", `bad CPU name "cpuX"`},
		{"cpu-1 1 2 3 4\n", "bad CPU name"},
		{"cpu0 1 2 3\n", "3 values, want at least 4"},
		{"cpu0 1 2 x 4\n", `value 3 "x"`},
		{"cpu0 1 2 3 4 5 6 -7\n", `value 7 "-7"`},
		{"cpu0 18446744073709551615 1 0 0\n", "overflow"},
	} {
		_, err := parseStat([]byte(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("parseStat(%q): %v, want %q", bad.in, err, bad.msg)
		}
	}
}

func TestBusy(t *testing.T) {
	before := []CPUTimes{{CPU: 0, Busy: 100, Total: 1000}, {CPU: 2, Busy: 50, Total: 500}}
	after := []CPUTimes{{CPU: 2, Busy: 125, Total: 600}, {CPU: 0, Busy: 100, Total: 1000}}
	iv, err := Busy(before, after, 2)
	if err != nil {
		t.Fatal(err)
	}
	if iv.Busy != 750*time.Millisecond || iv.Total != time.Second || iv.Share != 0.75 {
		t.Errorf("cpu 2: %+v, want 750ms of 1s, share 0.75", iv)
	}
	if iv, err := Busy(before, after, 0); err != nil || iv != (CPUInterval{}) {
		t.Errorf("idle interval: %+v, %v", iv, err)
	}
	if _, err := Busy(after, before, 2); err == nil || !strings.Contains(err.Error(), "backwards") {
		t.Errorf("swapped readings: %v", err)
	}
	if _, err := Busy(before, after, 1); err == nil || !strings.Contains(err.Error(), "cpu 1") {
		t.Errorf("missing cpu: %v", err)
	}
}

// TestCPUBusyCountsASpin spins one goroutine for 200 ms and checks the
// machine's busy time (summed over CPUs) grew by at least half of it.
func TestCPUBusyCountsASpin(t *testing.T) {
	before, err := CPUBusy()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 1 {
		t.Fatalf("%d CPUs in /proc/stat", len(before))
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
	}
	after, err := CPUBusy()
	if err != nil {
		t.Fatal(err)
	}
	var busy time.Duration
	for _, c := range before {
		iv, err := Busy(before, after, c.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if iv.Share < 0 || iv.Share > 1 {
			t.Errorf("cpu %d: share %v", c.CPU, iv.Share)
		}
		busy += iv.Busy
	}
	if busy < 100*time.Millisecond {
		t.Errorf("a 200ms spin shows as %v busy over all CPUs", busy)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statSample))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := parseStat(b)
		if err != nil {
			return
		}
		if len(ts) == 0 {
			t.Fatal("no error and no CPUs")
		}
		for _, c := range ts {
			if c.CPU < 0 || c.Busy > c.Total {
				t.Fatalf("bad result %+v", c)
			}
		}
	})
}
