package benchlab

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk run printed (wrk 4, with --latency).
type WrkResult struct {
	Requests                      uint64                    // "N requests in D, ..."
	Duration                      time.Duration             // D of that line
	RequestsSec                   float64                   // "Requests/sec:"
	LatencyAvg                    time.Duration             // Thread Stats "Latency" average
	LatencyMax                    time.Duration             // Thread Stats "Latency" maximum
	Percentiles                   map[float64]time.Duration // "Latency Distribution": 50, 75, 90, 99
	Connect, Read, Write, Timeout uint64                    // "Socket errors:" (absent: all 0)
	Non2xx3xx                     uint64                    // "Non-2xx or 3xx responses:"
}

// Failed is every request wrk counted as failed: socket errors of any
// kind plus responses that were not 2xx or 3xx.
func (r WrkResult) Failed() uint64 {
	return r.Connect + r.Read + r.Write + r.Timeout + r.Non2xx3xx
}

// P99 is the 99th percentile latency, 0 if wrk ran without --latency.
func (r WrkResult) P99() time.Duration { return r.Percentiles[99] }

// ParseWrk parses wrk's report. The summary line ("N requests in D") and
// "Requests/sec:" are required; the rest is optional. Errors quote the line.
func ParseWrk(out string) (WrkResult, error) {
	r := WrkResult{Percentiles: map[float64]time.Duration{}}
	var haveSummary, haveRate, inDist bool
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		bad := func(what string, err error) error {
			return fmt.Errorf("wrk output line %d %q: %s: %v", n, line, what, err)
		}
		switch {
		case len(f) == 0:
			continue
		case f[0] == "Latency" && len(f) == 2 && f[1] == "Distribution":
			inDist = true
			continue
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			p, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
			if err != nil || !(p >= 0 && p <= 100) {
				return r, bad("percentile", fmt.Errorf("not a percentage"))
			}
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, bad("percentile latency", err)
			}
			r.Percentiles[p] = d
			continue
		}
		inDist = false
		switch {
		case f[0] == "Latency" && len(f) >= 4:
			var err error
			if r.LatencyAvg, err = parseWrkDuration(f[1]); err != nil {
				return r, bad("average latency", err)
			}
			if r.LatencyMax, err = parseWrkDuration(f[3]); err != nil {
				return r, bad("maximum latency", err)
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return r, bad("request count", err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, bad("duration", err)
			}
			r.Requests, r.Duration, haveSummary = v, d, true
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || !(v >= 0 && v < 1e12) {
				return r, bad("requests/sec", fmt.Errorf("not a rate"))
			}
			r.RequestsSec, haveRate = v, true
		case strings.HasPrefix(line, "Socket errors:"):
			for _, kv := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				kf := strings.Fields(kv)
				if len(kf) != 2 {
					return r, bad("socket errors", fmt.Errorf("want NAME COUNT, got %q", kv))
				}
				v, err := strconv.ParseUint(kf[1], 10, 64)
				if err != nil {
					return r, bad("socket errors "+kf[0], err)
				}
				switch kf[0] {
				case "connect":
					r.Connect = v
				case "read":
					r.Read = v
				case "write":
					r.Write = v
				case "timeout":
					r.Timeout = v
				default:
					return r, bad("socket errors", fmt.Errorf("unknown kind %q", kf[0]))
				}
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, bad("non-2xx/3xx count", err)
			}
			r.Non2xx3xx = v
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("wrk output: %w", err)
	}
	if !haveSummary {
		return r, fmt.Errorf("wrk output: no \"N requests in D\" line (did wrk run?)")
	}
	if !haveRate {
		return r, fmt.Errorf("wrk output: no \"Requests/sec:\" line")
	}
	return r, nil
}

// parseWrkDuration reads wrk's time format: a number with one of the
// units us, ms, s, m, h (wrk prints e.g. "812.00us", "2.61ms", "10.00s",
// "1.00m").
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v >= 0 && v <= 1e6) || num == "" {
			return 0, fmt.Errorf("time %q: not a number of %s", s, u.suffix)
		}
		return time.Duration(math.Round(v * float64(u.unit))), nil
	}
	return 0, fmt.Errorf("time %q: no unit (us, ms, s, m, h)", s)
}
