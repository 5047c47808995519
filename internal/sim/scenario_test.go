package sim

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func bigScenario(seed uint64) Scenario {
	return Scenario{
		Clients:  10000,
		Duration: 10 * time.Minute,
		Seed:     seed,
		Traffic: append(mixTraffic(),
			Traffic{Kind: FTP, Service: netip.AddrPortFrom(vip4, 21), Weight: 5},
			Traffic{Kind: HTTP11, Service: netip.AddrPortFrom(vip6, 8080), Weight: 5}),
	}
}

// TestScenario10k: 10,000 clients over 10 virtual minutes through a fake
// NAT director (source hashing, so FTP's two connections meet) to three
// servers, with default session parameters (telnet sessions of minutes).
// Everything completes, nothing breaks, the load spreads, and it is fast.
func TestScenario10k(t *testing.T) {
	l := newLab(t, "nat", 3, Config{Seed: 1})
	l.fake.persist = true
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	wall := time.Now()
	r, err := l.n.RunScenario(bigScenario(2026))
	elapsed := time.Since(wall)
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v real for %v virtual; %d frames, %d events, %.2f allocs/frame\n%s", elapsed, r.Elapsed.Round(time.Second),
		r.Wire.Frames, r.Events, float64(ms1.Mallocs-ms0.Mallocs)/float64(r.Wire.Frames), &r)
	noProblems(t, &r)
	if r.Sessions != 10000 || r.SessionsCompleted != 10000 || r.Failed != 0 || r.PersistenceBreaks != 0 {
		t.Errorf("not all sessions completed:\n%s", &r)
	}
	for _, s := range r.Servers {
		if s.Share < 0.29 || s.Share > 0.38 {
			t.Errorf("server %s share %.3f", s.Name, s.Share)
		}
	}
	if len(r.ByKind) != 5 {
		t.Errorf("kinds run: %+v", r.ByKind)
	}
	if elapsed > 30*time.Second {
		t.Errorf("took %v of real time, want well under 30 s", elapsed)
	}
}

// BenchmarkScenario10k measures the 10k-client, 10-minute scenario.
//
//	go test ./internal/sim -run '^$' -bench Scenario10k -benchmem
func BenchmarkScenario10k(b *testing.B) {
	var frames uint64
	for b.Loop() {
		l := newLab(b, "nat", 3, Config{Seed: 1})
		l.fake.persist = true
		r, err := l.n.RunScenario(bigScenario(2026))
		if err != nil {
			b.Fatal(err)
		}
		frames += r.Wire.Frames
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(frames), "ns/frame")
}
