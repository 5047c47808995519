package sched

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

var lblcClient = netip.MustParseAddr("198.51.100.7")

// toDst is a request for destination IP dst at time now.
func toDst(dst netip.Addr, now clock.Time) *service.Request {
	return v4Request(lblcClient, dst, 1234, now)
}

func TestLBLCLocality(t *testing.T) {
	ds := newTestDests(1, 1, 1)
	s := mustNew(t, "lblc", 0).(*lblc)
	s.Update(ds)
	x, y := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	if d := s.Schedule(toDst(x, 0)); d != ds[0] {
		t.Fatalf("first pick %s, want A (wlc, all idle)", destName(ds, d))
	}
	// A now has more load than B and C, but not lblc-overloaded
	// (active 1 is not above weight 1): x stays on A.
	ds[0].Active.Store(1)
	ds[0].Inactive.Store(40)
	for i := range 5 {
		if d := s.Schedule(toDst(x, clock.Seconds(int64(i)))); d != ds[0] {
			t.Fatalf("x moved to %s", destName(ds, d))
		}
	}
	// A new destination IP gets wlc's choice.
	if d := s.Schedule(toDst(y, 0)); d != ds[1] {
		t.Fatalf("y picked %s, want B", destName(ds, d))
	}
	if s.Len() != 2 {
		t.Fatalf("%d entries, want 2", s.Len())
	}
}

func TestLBLCOverloadRule(t *testing.T) {
	x := netip.MustParseAddr("203.0.113.1")
	tests := []struct {
		name    string
		weights [3]int32 // of A, B, C when x is cached (on A)
		act     [3]int32 // active conns of A, B, C after x was cached on A
		weightA int32
		want    string
	}{
		{"A over weight, C idle", [3]int32{1, 1, 1}, [3]int32{2, 5, 0}, 1, "C"},
		{"A over weight, nobody under half", [3]int32{1, 1, 1}, [3]int32{2, 1, 1}, 1, "A"},
		{"A over weight, B at half", [3]int32{1, 2, 1}, [3]int32{2, 1, 1}, 1, "A"},
		{"A over weight, B under half", [3]int32{1, 3, 1}, [3]int32{2, 1, 1}, 1, "B"},
		{"A at weight", [3]int32{1, 1, 1}, [3]int32{1, 0, 0}, 1, "A"},
		{"A quiesced", [3]int32{1, 1, 1}, [3]int32{0, 1, 0}, 0, "C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newTestDests(tt.weights[:]...)
			s := mustNew(t, "lblc", 0)
			s.Update(ds)
			if d := s.Schedule(toDst(x, 0)); d != ds[0] {
				t.Fatal("not cached on A")
			}
			for i, a := range tt.act {
				ds[i].Active.Store(a)
			}
			setWeight(ds[0], tt.weightA)
			s.Update(ds)
			if got := destName(ds, s.Schedule(toDst(x, 1))); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			// The entry follows the new pick.
			for _, d := range ds {
				d.Active.Store(0)
			}
			setWeight(ds[0], 1)
			if got := destName(ds, s.Schedule(toDst(x, 2))); got != tt.want {
				t.Fatalf("cache holds %s, want %s", got, tt.want)
			}
		})
	}
}

// The kernel does not look at OVERLOAD for a cached destination
// (ip_vs_lblc_schedule checks AVAILABLE, weight and its own overload rule
// only); wlc's fresh pick does skip it.
func TestLBLCCachedIgnoresOverloadFlag(t *testing.T) {
	ds := newTestDests(1, 1)
	s := mustNew(t, "lblc", 0)
	s.Update(ds)
	x, y := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	s.Schedule(toDst(x, 0))
	setOverloaded(t, ds[0], true)
	if d := s.Schedule(toDst(x, 1)); d != ds[0] {
		t.Fatalf("cached OVERLOAD dest: got %s, want A", destName(ds, d))
	}
	if d := s.Schedule(toDst(y, 1)); d != ds[1] {
		t.Fatalf("fresh pick: got %s, want B", destName(ds, d))
	}
	setOverloaded(t, ds[1], true)
	if d := s.Schedule(toDst(netip.MustParseAddr("203.0.113.3"), 1)); d != nil {
		t.Fatalf("all overloaded, fresh pick: got %s", destName(ds, d))
	}
}

func TestLBLCRemovedDest(t *testing.T) {
	ds, remove := unavailableDests(t, 1, 1)
	s := mustNew(t, "lblc", 0)
	s.Update(ds)
	x := netip.MustParseAddr("203.0.113.1")
	if s.Schedule(toDst(x, 0)) != ds[0] {
		t.Fatal("not cached on A")
	}
	remove(ds[0])
	s.Update(ds[1:])
	// The entry still names A, which is in the trash now.
	if d := s.Schedule(toDst(x, 1)); d != ds[1] {
		t.Fatalf("got %s, want B", destName(ds, d))
	}
}

// gcCache is what the GC tests need from lblc and lblcr.
type gcCache interface {
	Cache
	lastUse(dst netip.Addr) (clock.Time, bool)
}

func (s *lblc) lastUse(dst netip.Addr) (clock.Time, bool) {
	a := dst.As16()
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if e := s.cache.getLocked(bucketOf(false, &a), &a); e != nil {
		return e.lastuse, true
	}
	return 0, false
}

func (s *lblcr) lastUse(dst netip.Addr) (clock.Time, bool) {
	a := dst.As16()
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if e := s.cache.getLocked(bucketOf(false, &a), &a); e != nil {
		return e.lastuse, true
	}
	return 0, false
}

func dstAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)})
}

func TestCacheFullExpiration(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t, name, 0).(gcCache)
			s.Update(newTestDests(1, 1))
			t0 := clock.Seconds(1000)
			for i := range 100 {
				s.Schedule(toDst(dstAddr(i), t0))
			}
			fresh := t0.Add(DefaultExpiration)
			for i := range 10 { // used again later: these stay
				s.Schedule(toDst(dstAddr(i), fresh))
			}
			if at, ok := s.lastUse(dstAddr(3)); !ok || at != fresh {
				t.Fatalf("lastuse %v %v, want %v", at, ok, fresh)
			}
			now := t0.Add(DefaultExpiration + time.Minute)
			// Counter starts at 1: calls 1..29 only count (entries ≤ max).
			for call := 1; call < localityFullCheckEvery; call++ {
				s.GC(now)
				if s.Len() != 100 {
					t.Fatalf("GC call %d dropped entries: %d left", call, s.Len())
				}
			}
			s.GC(now) // 30th: full check
			if s.Len() != 10 {
				t.Fatalf("after the full check %d entries, want 10", s.Len())
			}
			for i := range 10 {
				if _, ok := s.lastUse(dstAddr(i)); !ok {
					t.Fatalf("recently used entry %d dropped", i)
				}
			}
			// A shorter expiration applies at the next full check.
			s.SetExpiration(time.Second)
			for range localityFullCheckEvery {
				s.GC(now)
			}
			if s.Len() != 0 {
				t.Fatalf("with 1 s expiration %d entries left", s.Len())
			}
		})
	}
}

func TestCacheTrimOverMax(t *testing.T) {
	s := newLBLC()
	s.Update(newTestDests(1, 1))
	t0 := clock.Seconds(10)
	const extra = 600
	for i := range localityMaxEntries + extra {
		s.Schedule(toDst(dstAddr(i), t0))
	}
	recent := t0.Add(5 * time.Minute)
	for i := range 1000 { // used within the last 6 minutes: never trimmed
		s.Schedule(toDst(dstAddr(i), recent))
	}
	if s.Len() != localityMaxEntries+extra {
		t.Fatalf("%d entries", s.Len())
	}
	now := t0.Add(7 * time.Minute)
	s.GC(now)
	goal := extra * 4 / 3
	removed := localityMaxEntries + extra - s.Len()
	// Whole buckets are trimmed, so the goal may be overshot by the rest
	// of the last bucket (about 16 entries per bucket here).
	if removed < goal || removed > goal+64 {
		t.Fatalf("trim removed %d, goal %d", removed, goal)
	}
	for i := range 1000 {
		if _, ok := s.lastUse(dstAddr(i)); !ok {
			t.Fatalf("entry %d used 2 minutes ago was trimmed", i)
		}
	}
	if s.cache.rover == 0 || s.cache.counter != 1 {
		t.Fatalf("rover %d counter %d after a trim", s.cache.rover, s.cache.counter)
	}
	// Below the limit again: the next call only counts.
	s.GC(now)
	if s.cache.counter != 2 || s.Len() != localityMaxEntries+extra-removed {
		t.Fatalf("counter %d, entries %d", s.cache.counter, s.Len())
	}
}

func TestLBLCR(t *testing.T) {
	ds := newTestDests(1, 1, 1)
	s := mustNew(t, "lblcr", 0).(*lblcr)
	s.Update(ds)
	x := netip.MustParseAddr("203.0.113.1")
	members := func() string {
		a := x.As16()
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		out := ""
		if e := s.cache.getLocked(bucketOf(false, &a), &a); e != nil {
			for _, d := range e.val.members {
				out += destName(ds, d)
			}
		}
		return out
	}
	if d := s.Schedule(toDst(x, 0)); d != ds[0] || members() != "A" {
		t.Fatalf("first: %s, set %s", destName(ds, d), members())
	}
	// A lblc-overloaded (active 2 > 1, C idle): wlc picks C, C joins.
	ds[0].Active.Store(2)
	ds[1].Active.Store(1)
	t1 := clock.Seconds(10)
	if d := s.Schedule(toDst(x, t1)); d != ds[2] || members() != "CA" {
		t.Fatalf("overloaded: %s, set %s", destName(ds, d), members())
	}
	// The set's least loaded member serves while it is not overloaded,
	// even when a destination outside the set (B, idle) is less loaded.
	ds[0].Active.Store(1)
	ds[0].Inactive.Store(5) // A: 261
	ds[1].Active.Store(0)   // B: 0
	ds[2].Active.Store(1)   // C: 256
	if d := s.Schedule(toDst(x, t1)); d != ds[2] {
		t.Fatalf("set min: %s, want C", destName(ds, d))
	}
	// A is the most loaded member; after the expiration it is dropped,
	// one member per expiration period.
	s.SetExpiration(time.Hour)
	if s.Schedule(toDst(x, t1.Add(time.Hour))); members() != "CA" {
		t.Fatalf("dropped at exactly the expiration: %s", members())
	}
	t2 := t1.Add(time.Hour + time.Second)
	if d := s.Schedule(toDst(x, t2)); d != ds[2] || members() != "C" {
		t.Fatalf("after expiration: %s, set %s", destName(ds, d), members())
	}
	// Members that are OVERLOAD or quiesced are skipped by the set's min;
	// with none usable, wlc picks and the pick joins.
	setOverloaded(t, ds[2], true)
	ds[0].Active.Store(0)
	ds[0].Inactive.Store(0)
	if d := s.Schedule(toDst(x, t2)); d != ds[0] || members() != "AC" {
		t.Fatalf("member overloaded: %s, set %s", destName(ds, d), members())
	}
	setOverloaded(t, ds[2], false)
	// Erasing counts as a change: with 3 members only one goes per period.
	ds[1].Active.Store(0)
	ds[0].Active.Store(5)
	ds[2].Active.Store(5)
	if d := s.Schedule(toDst(x, t2)); d != ds[1] || members() != "BAC" {
		t.Fatalf("third member: %s, set %s", destName(ds, d), members())
	}
	ds[0].Active.Store(9) // most loaded
	ds[1].Active.Store(1)
	t3 := t2.Add(2 * time.Hour)
	s.Schedule(toDst(x, t3))
	if members() != "BC" {
		t.Fatalf("after one period: %s, want BC", members())
	}
	s.Schedule(toDst(x, t3))
	if members() != "BC" {
		t.Fatalf("second erase in the same period: %s", members())
	}
}

func TestLBLCRRemovedMember(t *testing.T) {
	ds, remove := unavailableDests(t, 1, 1)
	s := mustNew(t, "lblcr", 0)
	s.Update(ds)
	x := netip.MustParseAddr("203.0.113.1")
	if s.Schedule(toDst(x, 0)) != ds[0] {
		t.Fatal("not on A")
	}
	remove(ds[0])
	s.Update(ds[1:])
	// The set still holds A, which is in the trash now.
	if d := s.Schedule(toDst(x, 1)); d != ds[1] {
		t.Fatalf("got %s, want B", destName(ds, d))
	}
	if d := s.Schedule(toDst(x, 2)); d != ds[1] {
		t.Fatalf("second time got %s, want B", destName(ds, d))
	}
}
