package benchlab

import (
	"math"
	"slices"
)

// Summary is the median of repeated measurements with their spread.
// N is 0 when there were no valid measurements (NaN values are skipped).
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median, minimum and maximum of xs, ignoring NaN.
// For an even count the median is the mean of the two middle values.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	n := len(v)
	m := v[n/2]
	if n%2 == 0 {
		m = (v[n/2-1] + v[n/2]) / 2
	}
	return Summary{Median: m, Min: v[0], Max: v[n-1], N: n}
}

// Spread is (Max-Min)/Median: the relative width of the range, 0 for a
// single value, NaN when there is nothing to compare.
func (s Summary) Spread() float64 {
	if s.N == 0 || s.Median == 0 {
		return math.NaN()
	}
	return (s.Max - s.Min) / math.Abs(s.Median)
}
