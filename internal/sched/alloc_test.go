package sched

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// benchDests returns n destinations with mixed weights and loads; the
// second is quiesced and the third overloaded so that skip and fallback
// paths run too.
func benchDests(t testing.TB, n int) []*service.Dest {
	ds := make([]*service.Dest, n)
	for i := range ds {
		ds[i] = newTestDest(i, int32(1+i%4))
		ds[i].Active.Store(int32(i % 7))
		ds[i].Inactive.Store(int32(i % 5))
	}
	setWeight(ds[1], 0)
	setOverloaded(t, ds[2], true)
	return ds
}

func TestScheduleDoesNotAllocate(t *testing.T) {
	for _, cfg := range allConfigs() {
		for _, n := range []int{3, 100} {
			t.Run(fmt.Sprintf("%v/dests=%d", cfg, n), func(t *testing.T) {
				s := mustNew(t, cfg.name, cfg.flags)
				s.Update(benchDests(t, n))
				// One destination IP: lblc and lblcr hit their entry.
				r := v4Request(clientAddr(1), netip.MustParseAddr("203.0.113.1"), 1, 0)
				s.Schedule(r)
				i := 0
				allocs := testing.AllocsPerRun(2000, func() {
					i++
					r.Src[15], r.Src[14], r.SrcPort, r.Now = byte(i), byte(i>>8), uint16(i), clock.Time(i)
					s.Schedule(r)
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per Schedule", allocs)
				}
			})
		}
	}
}

func BenchmarkSchedule(b *testing.B) {
	for _, cfg := range allConfigs() {
		for _, n := range []int{3, 100} {
			b.Run(fmt.Sprintf("%v/dests=%d", cfg, n), func(b *testing.B) {
				s := mustNew(b, cfg.name, cfg.flags)
				s.Update(benchDests(b, n))
				r := v4Request(clientAddr(1), netip.MustParseAddr("203.0.113.1"), 1, 0)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					r.Src[15], r.Src[14], r.SrcPort = byte(i), byte(i>>8), uint16(i)
					s.Schedule(r)
				}
			})
		}
	}
}

// BenchmarkScheduleParallel measures contention: rr/wrr/lblc take a
// mutex, the others none.
func BenchmarkScheduleParallel(b *testing.B) {
	for _, name := range []string{"rr", "wrr", "wlc", "mh", "lblc"} {
		b.Run(name, func(b *testing.B) {
			s := mustNew(b, name, 0)
			s.Update(benchDests(b, 8))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := v4Request(clientAddr(1), netip.MustParseAddr("203.0.113.1"), 1, 0)
				for i := 0; pb.Next(); i++ {
					r.Src[15] = byte(i)
					s.Schedule(r)
				}
			})
		})
	}
}

// BenchmarkLocalityInsert measures lblc/lblcr misses that create an entry
// (a new destination IP every call; the cache is replaced every 16384
// calls, the kernel's size limit, so chains stay as long as in practice).
func BenchmarkLocalityInsert(b *testing.B) {
	for _, name := range []string{"lblc", "lblcr"} {
		b.Run(name, func(b *testing.B) {
			dests := benchDests(b, 3)
			var s service.Scheduler
			r := v4Request(clientAddr(1), netip.MustParseAddr("203.0.113.1"), 1, 0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%localityMaxEntries == 0 {
					s = mustNew(b, name, 0)
					s.Update(dests)
				}
				r.Dst[15], r.Dst[14], r.Dst[13] = byte(i), byte(i>>8), byte(i>>16)
				s.Schedule(r)
			}
		})
	}
}

func BenchmarkUpdate(b *testing.B) {
	for _, name := range []string{"sh", "mh", "wrr"} {
		for _, n := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/dests=%d", name, n), func(b *testing.B) {
				s := mustNew(b, name, 0)
				ds := benchDests(b, n)
				b.ReportAllocs()
				for b.Loop() {
					s.Update(ds)
				}
			})
		}
	}
}
