package benchlab

import (
	"math"
	"time"
)

// PerUnit is the busy time spent per unit of work (packet, request,
// connection), in microseconds; NaN when no unit was done.
func PerUnit(busy time.Duration, units uint64) float64 {
	if units == 0 {
		return math.NaN()
	}
	return float64(busy) / float64(time.Microsecond) / float64(units)
}

// Rate is units per second over d; NaN for a non-positive interval.
func Rate(units uint64, d time.Duration) float64 {
	if d <= 0 {
		return math.NaN()
	}
	return float64(units) / d.Seconds()
}

// delta is after-before for counters that only grow; 0 if the counter
// went backwards (an interface was re-created).
func delta(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}
