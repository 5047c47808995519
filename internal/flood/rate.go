package flood

import "time"

// pacer is a token bucket in nanotokens (one packet = 1e9), driven by the
// caller's clock (nanoseconds since any start), so its arithmetic is exact
// and testable without sleeping. The bucket holds at most burst packets:
// after a stall the flood catches up by at most that much.
type pacer struct {
	rate   uint64 // packets per second, > 0
	burst  uint64 // in nanotokens
	credit uint64 // in nanotokens
	last   int64  // clock at the last update
}

func newPacer(rate uint64, batch int, now int64) *pacer {
	// Up to 20 ms of packets, but at least two batches.
	b := max(rate/50, 2*uint64(batch))
	return &pacer{rate: rate, burst: b * 1e9, last: now}
}

// take returns how many packets (at most want) may go at clock now, and
// takes them from the bucket.
func (p *pacer) take(now int64, want int) int {
	if d := now - p.last; d > 0 {
		// d is capped so that d*rate cannot overflow (burst covers far less).
		add := uint64(min(d, int64(time.Second))) * p.rate
		p.credit = min(p.credit+add, p.burst)
		p.last = now
	}
	n := min(p.credit/1e9, uint64(want))
	p.credit -= n * 1e9
	return int(n)
}

// wait returns how long after now the bucket holds n packets (0 if it
// does already).
func (p *pacer) wait(n int) time.Duration {
	need := uint64(n) * 1e9
	if p.credit >= need {
		return 0
	}
	return time.Duration((need - p.credit + p.rate - 1) / p.rate) // ns, rounded up
}
