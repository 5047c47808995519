package conntrack

import (
	"fmt"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

func TestTickRounding(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 10})
	e := tb.At(mustInsert(t, tb, conn(packet.ProtoTCP, "10.0.0.1", 1, "10.0.0.2", 2), 0))
	for _, now := range []clock.Time{0, 1, clock.Time(Tick) - 1, clock.Time(Tick), clock.Seconds(12345) + 77, -clock.Seconds(3) - 5} {
		for _, d := range []time.Duration{0, 1, time.Millisecond, Tick, 3 * time.Second, 900 * time.Second} {
			e.Touch(now, d)
			deadline := now.Add(d)
			if e.Expired(deadline - 1) {
				t.Errorf("now %d timeout %v: expired early at deadline-1ns", now, d)
			}
			if !e.Expired(deadline.Add(Tick)) {
				t.Errorf("now %d timeout %v: not expired one tick after the deadline", now, d)
			}
			if r := e.Remaining(now); r < d || r >= d+Tick {
				t.Errorf("now %d timeout %v: remaining %v", now, d, r)
			}
		}
	}
	// Clamping.
	e.Touch(0, 1000*24*time.Hour)
	if r := e.Remaining(0); r > MaxTimeout+Tick || r < MaxTimeout-Tick {
		t.Errorf("long timeout not clamped: %v", r)
	}
	if e.Expired(clock.Time(MaxTimeout - time.Minute)) {
		t.Error("clamped timeout expired too early")
	}
	e.Touch(clock.Seconds(5), -time.Hour)
	if !e.Expired(clock.Seconds(5).Add(Tick)) {
		t.Error("negative timeout not treated as 0")
	}
}

func TestLazyExpiryInLookups(t *testing.T) {
	// 256 buckets and 2000 conns: long chains, so expired entries are met
	// in the middle of chains.
	tb, rec := newTestTable(t, Config{Bits: 8, MaxEntries: 4000})
	now := clock.Seconds(1000)
	var conns []Conn
	for i := 0; i < 2000; i++ {
		k := benchKey(i)
		c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Dest: 1}
		if i%2 == 0 {
			c.Expires = now.Add(10 * time.Second)
		} else {
			c.Expires = now.Add(time.Hour)
		}
		mustInsert(t, tb, c, now)
		conns = append(conns, c)
	}
	// Just before expiry everything is found.
	for _, c := range conns {
		if lookupIn(tb, c.key(), now.Add(10*time.Second-time.Nanosecond)) == 0 {
			t.Fatalf("conn %v missing before expiry", c)
		}
	}
	if rec.count() != 0 {
		t.Fatalf("unbound %d before expiry", rec.count())
	}
	// After expiry, the short-lived ones are gone, each unbound exactly once,
	// the long-lived ones are still found.
	later := now.Add(10*time.Second + Tick)
	for i, c := range conns {
		got := lookupIn(tb, c.key(), later)
		if (got != 0) != (i%2 == 1) {
			t.Fatalf("conn %d after expiry: idx %d", i, got)
		}
	}
	if rec.count() != 1000 {
		t.Errorf("unbound %d, want 1000", rec.count())
	}
	for i := 0; i < 2000; i += 2 {
		if n := rec.calls[keyOf(conns[i])]; n != 1 {
			t.Fatalf("conn %d unbound %d times", i, n)
		}
	}
	st := tb.Stats()
	if st.Conns != 1000 || st.Expired != 1000 || st.Slots != 1000 {
		t.Errorf("stats %+v", st)
	}
	// Touching keeps a conn alive.
	idx := lookupIn(tb, conns[1].key(), later)
	h := tb.Hash(false, conns[1].Proto, &conns[1].Caddr, conns[1].Cport)
	tb.Lock(h)
	tb.At(idx).Touch(later, 2*time.Hour)
	tb.Unlock(h)
	if lookupIn(tb, conns[1].key(), now.Add(90*time.Minute)) != idx {
		t.Error("touched conn expired")
	}
}

func TestLazyExpiryOutAndTemplateLookups(t *testing.T) {
	tb, rec := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(1)
	rs := addr("10.9.9.9")
	tb.SetDestAddr(1, rs)
	c := conn(packet.ProtoUDP, "198.51.100.7", 53000, "192.0.2.1", 53)
	c.Dest, c.Dport, c.Expires = 1, 53, now.Add(time.Second)
	mustInsert(t, tb, c, now)
	if lookupOut(tb, false, c.Proto, c.Caddr, c.Cport, rs, 53, now) == 0 {
		t.Fatal("reply not matched")
	}
	if lookupOut(tb, false, c.Proto, c.Caddr, c.Cport, rs, 53, now.Add(2*time.Second)) != 0 || rec.count() != 1 {
		t.Fatalf("expired conn matched by reply, unbound %d", rec.count())
	}
	tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 80)
	tmpl.Flags, tmpl.Expires = FlagTemplate, now.Add(time.Second)
	mustInsert(t, tb, tmpl, now)
	if lookupTemplate(tb, tmpl.key(), now.Add(2*time.Second)) != 0 || rec.count() != 2 {
		t.Fatalf("expired template found, unbound %d", rec.count())
	}
}

// TestReaperFullPass: after ReapBuckets worth of calls covering the whole
// table, every expired entry is freed exactly once and nothing live is.
func TestReaperFullPass(t *testing.T) {
	for _, bits := range []int{8, 12, 16} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			tb, rec := newTestTable(t, Config{Bits: bits, MaxEntries: 10000})
			now := clock.Seconds(50)
			const n = 5000
			for i := 0; i < n; i++ {
				k := benchKey(i)
				if i%3 == 0 {
					k = benchKey6(i)
				}
				c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
					Dest: uint32(i % 5), Expires: now.Add(time.Duration(i%10) * time.Second)}
				mustInsert(t, tb, c, now)
			}
			later := now.Add(5 * time.Second) // i%10 < 5 expired (0..4 s)
			per := tb.ReapBuckets(10*time.Millisecond, time.Second)
			if want := (tb.Buckets() + 99) / 100; per != want {
				t.Errorf("ReapBuckets = %d, want %d", per, want)
			}
			freed := 0
			for calls := 0; calls*per < tb.Buckets(); calls++ {
				freed += tb.Reap(later, per)
			}
			if freed != n/2 || rec.count() != n/2 {
				t.Errorf("freed %d, unbound %d, want %d", freed, rec.count(), n/2)
			}
			for k, cnt := range rec.calls {
				if cnt != 1 {
					t.Errorf("%v unbound %d times", k, cnt)
				}
			}
			st := tb.Stats()
			if st.Conns != n/2 || st.Expired != n/2 {
				t.Errorf("stats %+v", st)
			}
			// A second pass frees nothing more.
			if f := tb.Reap(later, tb.Buckets()); f != 0 {
				t.Errorf("second pass freed %d", f)
			}
		})
	}
}

func TestReapBuckets(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 12, MaxEntries: 10})
	tests := []struct {
		every, pass time.Duration
		want        int
	}{
		{10 * time.Millisecond, time.Second, 41},
		{100 * time.Millisecond, time.Second, 410},
		{time.Second, time.Second, 4096},
		{time.Millisecond, time.Hour, 1},
		{time.Second, 0, 4096},
	}
	for _, tt := range tests {
		if got := tb.ReapBuckets(tt.every, tt.pass); got != tt.want {
			t.Errorf("ReapBuckets(%v, %v) = %d, want %d", tt.every, tt.pass, got, tt.want)
		}
	}
}

func TestTemplatePostponedWhileControlling(t *testing.T) {
	tb, rec := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(10)
	tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 443)
	tmpl.Dest = 2
	c1 := conn(packet.ProtoTCP, "198.51.100.7", 1111, "192.0.2.1", 443)
	c1.Dest, c1.Expires = 2, now.Add(100*time.Second)
	c2 := conn(packet.ProtoTCP, "198.51.100.8", 2222, "192.0.2.1", 443)
	c2.Dest, c2.Expires = 2, now.Add(200*time.Second)

	tidx, i1 := persistent(t, tb, tmpl, c1, now, 30*time.Second)
	tidx2, i2 := persistent(t, tb, tmpl, c2, now, 30*time.Second)
	if tidx2 != tidx {
		t.Fatalf("second conn made a new template")
	}
	if got := tb.At(tidx).Controls(); got != 2 {
		t.Fatalf("n_control = %d", got)
	}
	if tb.At(i1).Controller() != tidx || tb.At(i2).Controller() != tidx {
		t.Fatalf("controller not recorded")
	}

	// At +31 s the template's time is up but it controls two conns: postponed
	// by 60 s, still found.
	at := now.Add(31 * time.Second)
	tb.Reap(at, tb.Buckets())
	if lookupTemplate(tb, tmpl.key(), at) != tidx {
		t.Fatal("controlling template expired")
	}
	st := tb.Stats()
	if st.Postponed != 1 || st.Templates != 1 || rec.count() != 0 {
		t.Fatalf("after postpone: %+v, unbound %d", st, rec.count())
	}
	// +101 s: c1 expired; the template was due at +91 s and still controls
	// c2: postponed to +161 s.
	at = now.Add(101 * time.Second)
	tb.Reap(at, tb.Buckets())
	if lookupIn(tb, c1.key(), at) != 0 || lookupTemplate(tb, tmpl.key(), at) != tidx {
		t.Fatal("c1 should be gone, template kept")
	}
	if got := tb.At(tidx).Controls(); got != 1 {
		t.Fatalf("n_control = %d after c1 expired", got)
	}
	// +172 s: due again at +161 s (postponed at +101 s), c2 still alive:
	// postponed to +232 s.
	at = now.Add(172 * time.Second)
	if lookupTemplate(tb, tmpl.key(), at) != tidx {
		t.Fatal("template expired while controlling c2")
	}
	// +211 s: c2 expired; the template, now free, lives until +232 s.
	at = now.Add(211 * time.Second)
	if lookupIn(tb, c2.key(), at) != 0 {
		t.Fatal("c2 did not expire")
	}
	if tb.At(tidx).Controls() != 0 || lookupTemplate(tb, tmpl.key(), at) != tidx {
		t.Fatal("template should outlive its conns until its own expiry")
	}
	at = now.Add(233 * time.Second)
	if lookupTemplate(tb, tmpl.key(), at) != 0 {
		t.Fatal("free template did not expire")
	}
	if rec.count() != 3 || rec.calls[keyOf(Conn{Proto: packet.ProtoTCP, Caddr: tmpl.Caddr, Vaddr: tmpl.Vaddr, Vport: 443, Flags: FlagTemplate})] != 1 {
		t.Errorf("unbinds: %v", rec.calls)
	}
	if st := tb.Stats(); st.Conns != 0 || st.Templates != 0 || st.Slots != 0 || st.Postponed < 3 {
		t.Errorf("final stats %+v", st)
	}
}

func TestDeleteLocked(t *testing.T) {
	tb, rec := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(10)
	tmpl := conn(packet.ProtoUDP, "2001:db8::", 0, "2001:db8:1::1", 53)
	c := conn(packet.ProtoUDP, "2001:db8::5", 5353, "2001:db8:1::1", 53)
	c.Expires = now.Add(time.Minute)
	tidx, idx := persistent(t, tb, tmpl, c, now, time.Minute)
	th := tb.Hash(true, packet.ProtoUDP, &tmpl.Caddr, 0)
	tb.Lock(th)
	if tb.DeleteLocked(th, tidx) {
		t.Error("deleted a template that controls a conn")
	}
	tb.Unlock(th)
	if deleteConn(tb, c, tidx) {
		t.Error("DeleteLocked found an entry in the wrong bucket")
	}
	if !deleteConn(tb, c, idx) {
		t.Fatal("conn not deleted")
	}
	if deleteConn(tb, c, idx) {
		t.Error("deleted twice")
	}
	if lookupIn(tb, c.key(), now) != 0 || rec.count() != 1 {
		t.Errorf("conn still there or not unbound (%d)", rec.count())
	}
	// Not a forced delete: the unused template stays until it expires.
	if tb.At(tidx).Controls() != 0 || lookupTemplate(tb, tmpl.key(), now) != tidx {
		t.Error("template gone after a plain delete of its conn")
	}
	tb.Lock(th)
	if !tb.DeleteLocked(th, tidx) {
		t.Error("free template not deleted")
	}
	tb.Unlock(th)
	if st := tb.Stats(); st.Deleted != 2 || st.Slots != 0 || rec.count() != 2 {
		t.Errorf("stats %+v unbound %d", st, rec.count())
	}
}

func TestForcedDeleteTakesUnassuredTemplate(t *testing.T) {
	for _, assured := range []bool{false, true} {
		t.Run(fmt.Sprint("assured=", assured), func(t *testing.T) {
			tb, rec := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
			now := clock.Seconds(10)
			tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 80)
			c := conn(packet.ProtoTCP, "198.51.100.9", 4000, "192.0.2.1", 80)
			c.Expires = now.Add(time.Minute)
			tidx, idx := persistent(t, tb, tmpl, c, now, 10*time.Minute)
			if assured {
				tb.Assure(tb.At(idx).Controller())
				if tb.At(tidx).State() != TemplateAssured {
					t.Fatal("Assure did not stick")
				}
			}
			// Random drop / expire_nodest_conn style delete of the conn.
			n := tb.Sweep(0, tb.Buckets(), now, func(i uint32, e *Entry) bool { return !e.IsTemplate() })
			if n != 1 {
				t.Fatalf("sweep deleted %d", n)
			}
			found := lookupTemplate(tb, tmpl.key(), now)
			if assured && found != tidx {
				t.Error("assured template deleted")
			}
			if !assured {
				if found != 0 {
					t.Error("unassured template survived a forced delete of its last conn")
				}
				if rec.count() != 2 {
					t.Errorf("unbound %d, want 2 (conn and template)", rec.count())
				}
				if st := tb.Stats(); st.Templates != 0 || st.Deleted != 2 || st.Slots != 0 {
					t.Errorf("stats %+v", st)
				}
			}
		})
	}
}

func TestSweepSkipsControllingTemplates(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(10)
	tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 80)
	c := conn(packet.ProtoTCP, "198.51.100.9", 4000, "192.0.2.1", 80)
	c.Expires = now.Add(time.Minute)
	tidx, _ := persistent(t, tb, tmpl, c, now, 10*time.Minute)
	offered := map[uint32]bool{}
	tb.Sweep(0, tb.Buckets(), now, func(i uint32, e *Entry) bool { offered[i] = true; return false })
	if offered[tidx] || len(offered) != 1 {
		t.Errorf("offered %v; the controlling template %d must be skipped", offered, tidx)
	}
}

func TestFlush(t *testing.T) {
	tb, rec := newTestTable(t, Config{Bits: 10, MaxEntries: 10000})
	now := clock.Seconds(10)
	total := 0
	for i := 0; i < 200; i++ {
		k := benchKey(i)
		tmpl := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Vport: k.Vport}
		for j := 0; j < 3; j++ {
			c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport + uint16(j), Vport: k.Vport, Expires: now.Add(time.Hour)}
			tidx, _ := persistent(t, tb, tmpl, c, now, time.Hour)
			if j == 1 && i%2 == 0 {
				tb.Assure(tidx)
			}
			total++
		}
		total++
	}
	for i := 0; i < 300; i++ {
		k := benchKey6(i)
		mustInsert(t, tb, Conn{V6: true, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Expires: now.Add(time.Hour)}, now)
		total++
	}
	if tb.Len() != int64(total) {
		t.Fatalf("Len %d, want %d", tb.Len(), total)
	}
	if n := tb.Flush(now); n != total {
		t.Errorf("Flush = %d, want %d", n, total)
	}
	if st := tb.Stats(); st.Conns != 0 || st.Templates != 0 || st.Slots != 0 {
		t.Errorf("after flush: %+v", st)
	}
	if rec.count() != total {
		t.Errorf("unbound %d, want %d", rec.count(), total)
	}
	for k, n := range rec.calls {
		if n != 1 {
			t.Errorf("%v unbound %d times", k, n)
		}
	}
}

func TestRange(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 1000})
	now := clock.Seconds(1)
	want := map[Conn]bool{}
	for i := 0; i < 300; i++ {
		k := benchKey(i)
		if i%2 == 1 {
			k = benchKey6(i)
		}
		c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Expires: now.Add(time.Hour)}
		mustInsert(t, tb, c, now)
		want[keyOf(c)] = true
	}
	seen := map[Conn]bool{}
	tb.Range(func(idx uint32, e *Entry) bool {
		seen[keyOf(tb.ConnLocked(idx, now))] = true
		return true
	})
	if len(seen) != len(want) {
		t.Fatalf("saw %d entries, want %d", len(seen), len(want))
	}
	for k := range want {
		if !seen[k] {
			t.Fatalf("missing %v", k)
		}
	}
	n := 0
	tb.Range(func(uint32, *Entry) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("Range did not stop: %d", n)
	}
}
