package netns

import (
	"bytes"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/stat (USER_HZ); 100 on every Linux
// architecture Go supports.
const userHZ = 100

// CPUTimes is one CPU's line of /proc/stat, in jiffies (1/100 s) since
// boot. Busy is user+nice+system+irq+softirq+steal (guest time is already
// inside user); Total adds idle and iowait. Without IRQ time accounting
// the kernel charges little to irq and softirq, so measure a CPU that does
// nothing but the work under test and use its whole busy time.
type CPUTimes struct {
	CPU   int
	Busy  uint64
	Total uint64
}

// CPUInterval is what a CPU did between two readings.
type CPUInterval struct {
	Busy  time.Duration // busy time
	Total time.Duration // wall time as the CPU counted it
	Share float64       // Busy/Total, 0 when Total is 0
}

// CPUBusy reads the per-CPU lines of /proc/stat, in the file's order
// (offline CPUs are missing, so look CPUs up by number: see Busy).
func CPUBusy() ([]CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, fmt.Errorf("netns: cpu times: %w", err)
	}
	return parseStat(b)
}

// Busy returns what CPU cpu did between two CPUBusy readings. It fails if
// either reading lacks the CPU or the counters went backwards (readings
// swapped).
func Busy(before, after []CPUTimes, cpu int) (CPUInterval, error) {
	a, ok := find(before, cpu)
	if !ok {
		return CPUInterval{}, fmt.Errorf("netns: cpu %d not in the first reading", cpu)
	}
	b, ok := find(after, cpu)
	if !ok {
		return CPUInterval{}, fmt.Errorf("netns: cpu %d not in the second reading", cpu)
	}
	if b.Busy < a.Busy || b.Total < a.Total {
		return CPUInterval{}, fmt.Errorf("netns: cpu %d: counters went backwards (readings swapped?)", cpu)
	}
	busy, total := b.Busy-a.Busy, b.Total-a.Total
	iv := CPUInterval{
		Busy:  time.Duration(busy) * (time.Second / userHZ),
		Total: time.Duration(total) * (time.Second / userHZ),
	}
	if total > 0 {
		iv.Share = float64(busy) / float64(total)
	}
	return iv, nil
}

func find(ts []CPUTimes, cpu int) (CPUTimes, bool) {
	for _, t := range ts {
		if t.CPU == cpu {
			return t, true
		}
	}
	return CPUTimes{}, false
}

// parseStat extracts the "cpuN" lines of /proc/stat: the CPU number then
// user nice system idle iowait irq softirq steal [guest guest_nice]; at
// least the first four values, missing ones count as 0.
func parseStat(b []byte) ([]CPUTimes, error) {
	var out []CPUTimes
	for n, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue // not a per-CPU line ("cpu" alone is the sum)
		}
		cpu, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || cpu < 0 {
			return nil, fmt.Errorf("netns: /proc/stat line %d: bad CPU name %q", n+1, f[0])
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("netns: /proc/stat line %d (%s): %d values, want at least 4", n+1, f[0], len(f)-1)
		}
		var v [8]uint64 // user nice system idle iowait irq softirq steal
		for i := 0; i < len(v) && i+1 < len(f); i++ {
			v[i], err = strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("netns: /proc/stat line %d (%s): value %d %q: not a count", n+1, f[0], i+1, f[i+1])
			}
		}
		busy, c1 := sum(v[0], v[1], v[2], v[5], v[6], v[7])
		total, c2 := sum(busy, v[3], v[4])
		if c1 || c2 {
			return nil, fmt.Errorf("netns: /proc/stat line %d (%s): values overflow", n+1, f[0])
		}
		out = append(out, CPUTimes{CPU: cpu, Busy: busy, Total: total})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("netns: /proc/stat: no per-CPU lines")
	}
	return out, nil
}

// sum adds with overflow detection.
func sum(xs ...uint64) (uint64, bool) {
	var s, c uint64
	for _, x := range xs {
		var ci uint64
		s, ci = bits.Add64(s, x, 0)
		c |= ci
	}
	return s, c != 0
}
