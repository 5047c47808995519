package benchlab

import (
	"os"
	"strings"
	"testing"
	"time"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrkKeepAlive(t *testing.T) {
	r, err := ParseWrk(readFile(t, "testdata/wrk-keepalive.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 37015 || r.Duration != time.Second || r.RequestsSec != 36867.64 {
		t.Errorf("summary: %d requests in %v, %v/s; want 37015 in 1s, 36867.64/s", r.Requests, r.Duration, r.RequestsSec)
	}
	if r.LatencyAvg != 128840*time.Nanosecond || r.LatencyMax != 4850*time.Microsecond {
		t.Errorf("latency avg %v max %v; want 128.84µs, 4.85ms", r.LatencyAvg, r.LatencyMax)
	}
	want := map[float64]time.Duration{50: 70 * time.Microsecond, 75: 97 * time.Microsecond, 90: 137 * time.Microsecond, 99: 2010 * time.Microsecond}
	if len(r.Percentiles) != len(want) {
		t.Errorf("percentiles %v; want %v", r.Percentiles, want)
	}
	for p, d := range want {
		if r.Percentiles[p] != d {
			t.Errorf("p%v = %v; want %v", p, r.Percentiles[p], d)
		}
	}
	if r.P99() != 2010*time.Microsecond {
		t.Errorf("P99 %v", r.P99())
	}
	if r.Failed() != 0 {
		t.Errorf("failed %d; want 0", r.Failed())
	}
}

func TestParseWrkErrors(t *testing.T) {
	r, err := ParseWrk(readFile(t, "testdata/wrk-errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Connect != 3 || r.Read != 12 || r.Write != 0 || r.Timeout != 7 || r.Non2xx3xx != 5 {
		t.Errorf("errors %+v", r)
	}
	if r.Failed() != 27 {
		t.Errorf("failed %d; want 27", r.Failed())
	}
	if r.Duration != time.Minute || r.P99() != 1200*time.Millisecond || r.LatencyMax != 1050*time.Millisecond {
		t.Errorf("duration %v p99 %v max %v; want 1m, 1.2s, 1.05s", r.Duration, r.P99(), r.LatencyMax)
	}
}

func TestParseWrkWithoutLatency(t *testing.T) {
	var kept []string
	for _, l := range strings.Split(readFile(t, "testdata/wrk-keepalive.txt"), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "Latency D") && !strings.Contains(l, "%   ") && !strings.Contains(l, "%  1") {
			kept = append(kept, l)
		}
	}
	r, err := ParseWrk(strings.Join(kept, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.P99() != 0 || len(r.Percentiles) != 0 {
		t.Errorf("percentiles %v without a distribution", r.Percentiles)
	}
}

func TestParseWrkBad(t *testing.T) {
	good := readFile(t, "testdata/wrk-keepalive.txt")
	cases := []struct{ name, in, want string }{
		{"empty", "", "no \"N requests in D\""},
		{"connect failure", "unable to connect to 10.0.0.1:80 Connection refused\n", "no \"N requests in D\""},
		{"no rate", strings.Replace(good, "Requests/sec:", "Rqs:", 1), "no \"Requests/sec:\""},
		{"bad count", strings.Replace(good, "37015 requests", "x7015 requests", 1), "request count"},
		{"bad unit", strings.Replace(good, "2.01ms", "2.01parsecs", 1), "percentile latency"},
		{"no unit", strings.Replace(good, "2.01ms", "2.01", 1), "no unit"},
		{"NaN latency", strings.Replace(good, "2.01ms", "NaNms", 1), "not a number"},
		{"bad percentile", strings.Replace(good, "99%", "199%", 1), "percentile"},
		{"bad socket errors", strings.Replace(good, "Transfer/sec", "Socket errors: connect x\nTransfer/sec", 1), "socket errors"},
		{"unknown socket error", strings.Replace(good, "Transfer/sec", "Socket errors: bogus 1\nTransfer/sec", 1), "unknown kind"},
		{"negative rate", strings.Replace(good, "36867.64", "-1", 1), "requests/sec"},
	}
	for _, c := range cases {
		_, err := ParseWrk(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one containing %q", c.name, err, c.want)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond, "2.61ms": 2610 * time.Microsecond, "10.00s": 10 * time.Second,
		"1.50m": 90 * time.Second, "2.00h": 2 * time.Hour,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "-1ms", "12", "1e9s", "Infs"} {
		if d, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q) = %v; want an error", in, d)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(readFileF(f, "testdata/wrk-keepalive.txt"))
	f.Add(readFileF(f, "testdata/wrk-errors.txt"))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseWrk(s)
		if err != nil {
			return
		}
		if !(r.RequestsSec >= 0) || r.Duration < 0 {
			t.Fatalf("accepted a negative or NaN figure: %+v", r)
		}
		for p, d := range r.Percentiles {
			if !(p >= 0 && p <= 100) || d < 0 {
				t.Fatalf("accepted percentile %v = %v", p, d)
			}
		}
	})
}

func readFileF(f *testing.F, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
