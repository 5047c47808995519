package flood

import (
	"testing"
	"time"
)

func TestPacerArithmetic(t *testing.T) {
	p := newPacer(20000, 128, 0)
	if n := p.take(0, 128); n != 0 {
		t.Errorf("an empty bucket gave %d", n)
	}
	if d := p.wait(20); d != time.Millisecond {
		t.Errorf("wait(20) at 20000 pps = %v, want 1ms", d)
	}
	if n := p.take(int64(time.Millisecond), 128); n != 20 {
		t.Errorf("after 1ms: %d, want 20", n)
	}
	if n := p.take(int64(time.Millisecond), 128); n != 0 {
		t.Errorf("the same instant again: %d, want 0", n)
	}
	// 50 µs is one packet; 49 µs is not, but the remainder is kept.
	if n := p.take(int64(time.Millisecond+49*time.Microsecond), 128); n != 0 {
		t.Errorf("after 49µs: %d", n)
	}
	if n := p.take(int64(time.Millisecond+100*time.Microsecond), 128); n != 2 {
		t.Errorf("after 100µs: %d, want 2", n)
	}
	// A long stall is capped at the burst (20 ms of packets = 400).
	if n := p.take(int64(10*time.Second), 1000); n != 400 {
		t.Errorf("after a stall: %d, want the burst of 400", n)
	}
	// want limits what is taken; the rest stays.
	p = newPacer(1000, 10, 0)
	if n := p.take(int64(5*time.Millisecond), 3); n != 3 {
		t.Errorf("want 3 of 5: %d", n)
	}
	if n := p.take(int64(5*time.Millisecond), 10); n != 2 {
		t.Errorf("the remaining 2: %d", n)
	}
	if d := p.wait(1); d != time.Millisecond {
		t.Errorf("wait(1) at 1000 pps = %v", d)
	}
	// A rate that does not divide a second: wait rounds up, so the caller
	// never wakes early.
	p = newPacer(3, 1, 0)
	d := p.wait(1)
	if d != 333333334 {
		t.Errorf("wait(1) at 3 pps = %d ns", d)
	}
	if n := p.take(int64(d), 1); n != 1 {
		t.Errorf("after the wait: %d", n)
	}
	// The clock going backwards gives nothing and takes nothing.
	if n := p.take(0, 1); n != 0 {
		t.Errorf("backwards: %d", n)
	}
}

// TestPacerVirtualRun drives the pacer as Run does, on a virtual clock
// whose sleeps overshoot by a random-ish amount: over 1 s it sends the rate
// within one packet, never more than the burst at once.
func TestPacerVirtualRun(t *testing.T) {
	for _, rate := range []uint64{1, 1000, 20000, 1_000_000, 30_000_000} {
		const batch = 128
		p := newPacer(rate, batch, 0)
		chunk := int(min(max(rate/1000, 1), batch))
		var now, sent int64
		over := int64(0)
		for i := 0; now < int64(time.Second); i++ {
			if n := p.take(now, batch); n > 0 {
				sent += int64(n)
				now += 2000 // the send itself takes 2 µs
				continue
			}
			over = int64(i*7919) % 300_000 // oversleep 0..300 µs
			now += int64(p.wait(chunk)) + over
			if i > 10_000_000 {
				t.Fatal("no progress")
			}
		}
		// Sends end at now (≥ 1 s); the bucket allows rate*now, at most.
		allowed := int64(rate) * now / 1e9
		if sent > allowed || sent < allowed-int64(chunk)-int64(rate)*300_000/1e9-batch {
			t.Errorf("rate %d: %d sent in %v virtual, allowed %d", rate, sent, time.Duration(now), allowed)
		}
	}
}
