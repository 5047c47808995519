package sched

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// schedConfig is one scheduler to exercise, with its service flags.
type schedConfig struct {
	name  string
	flags service.Flags
}

func (c schedConfig) String() string {
	switch {
	case c.flags == 0:
		return c.name
	case c.flags == service.FlagSched1|service.FlagSched2:
		return c.name + "-fallback-port"
	}
	return fmt.Sprintf("%s-%#x", c.name, uint32(c.flags))
}

// allConfigs is every scheduler, plus sh and mh with both flags.
func allConfigs() []schedConfig {
	var out []schedConfig
	for _, n := range Names() {
		out = append(out, schedConfig{n, 0})
	}
	both := service.FlagSched1 | service.FlagSched2
	return append(out, schedConfig{"sh", both}, schedConfig{"mh", both})
}

// TestConcurrentScheduleAndUpdate runs workers that schedule while the
// control side replaces the list, edits weights, flips OVERLOAD and
// collects caches. Run it with -race.
func TestConcurrentScheduleAndUpdate(t *testing.T) {
	pool := newTestDests(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4)
	inPool := map[*service.Dest]bool{}
	for _, d := range pool {
		inPool[d] = true
	}
	for _, cfg := range allConfigs() {
		t.Run(cfg.String(), func(t *testing.T) {
			s := mustNew(t, cfg.name, cfg.flags)
			s.Update(pool[:4])
			var stop atomic.Bool
			var bad atomic.Pointer[service.Dest]
			var picks, attempts atomic.Int64
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Go(func() {
					r := v4Request(clientAddr(w), netip.MustParseAddr("203.0.113.1"), 1, 0)
					for i := 0; !stop.Load(); i++ {
						r.Src[15], r.Dst[15], r.SrcPort = byte(i), byte(i>>4), uint16(i)
						r.Now = clock.Time(i) * 1e6
						attempts.Add(1)
						if d := s.Schedule(r); d != nil {
							picks.Add(1)
							if !inPool[d] {
								bad.Store(d)
							}
						}
					}
				})
			}
			rng := rand.New(rand.NewPCG(9, 10))
			// At least 200 updates, and until the workers made 20000 calls.
			for i := 0; i < 200 || attempts.Load() < 20000; i++ {
				list := make([]*service.Dest, 0, len(pool))
				for _, j := range rng.Perm(len(pool))[:1+rng.IntN(len(pool))] {
					list = append(list, pool[j])
				}
				d := pool[rng.IntN(len(pool))]
				setWeight(d, int32(rng.IntN(4)))
				d.Active.Store(int32(rng.IntN(3)))
				s.Update(list)
				if c, ok := s.(Cache); ok {
					c.GC(clock.Seconds(int64(i) * 60))
				}
			}
			stop.Store(true)
			wg.Wait()
			for _, d := range pool { // leave the pool as it was
				setWeight(d, 1)
				d.Active.Store(0)
			}
			if d := bad.Load(); d != nil {
				t.Fatalf("picked %v, not a destination of the service", d.Addr)
			}
			if cfg.name != "none" && picks.Load() == 0 {
				t.Fatal("no destination was ever picked")
			}
		})
	}
}
