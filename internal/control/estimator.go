package control

import (
	"sync"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/service"
)

// EstimatorInterval is how often the estimator samples (kernel: every 2 s).
const EstimatorInterval = 2

// Estimator is the kernel's rate estimator (ipvs-semantics.md §9): every
// EstimatorInterval seconds Sample takes each counter's increase Δ, scales
// it (conns and packets: Δ·2^9, i.e. Δ/2 s in units of 2^-10; bytes:
// Δ·2^4, units of 2^-5) and moves a smoothed average a quarter of the way
// towards it. Rates reports the averages rounded as the kernel reports
// them. Safe for concurrent use.
type Estimator struct {
	mu   sync.Mutex
	ests map[*service.Stats]*estimate
	gen  uint64
}

type estimate struct {
	last service.Counters
	avg  [5]int64 // cps, inpps, outpps (·2^10), inbps, outbps (·2^5)
	gen  uint64
}

// NewEstimator returns an estimator that knows no counters yet.
func NewEstimator() *Estimator { return &Estimator{ests: map[*service.Stats]*estimate{}} }

// Sample visits every counter set in stats: a new one starts from its
// current values (its first rates are 0), a known one is advanced by one
// interval, and one no longer listed is forgotten.
func (e *Estimator) Sample(stats []*service.Stats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gen++
	for _, s := range stats {
		cur := s.Raw()
		est := e.ests[s]
		if est == nil {
			e.ests[s] = &estimate{last: cur, gen: e.gen}
			continue
		}
		if est.gen == e.gen {
			continue // listed twice
		}
		est.gen = e.gen
		d := [5]uint64{cur.Conns - est.last.Conns, cur.InPkts - est.last.InPkts, cur.OutPkts - est.last.OutPkts,
			cur.InBytes - est.last.InBytes, cur.OutBytes - est.last.OutBytes}
		est.last = cur
		for i := range d {
			shift := 9
			if i >= 3 {
				shift = 4
			}
			rate := int64(d[i] << shift)
			est.avg[i] += (rate - est.avg[i]) >> 2
		}
	}
	for s, est := range e.ests {
		if est.gen != e.gen {
			delete(e.ests, s)
		}
	}
}

// Rates returns the current rates of s (zero for a counter set not yet
// sampled twice).
func (e *Estimator) Rates(s *service.Stats) api.Rates {
	e.mu.Lock()
	defer e.mu.Unlock()
	est := e.ests[s]
	if est == nil {
		return api.Rates{}
	}
	round := func(v int64, frac uint) uint64 {
		v += 1<<(frac-1) - 1 // the kernel's +0x1FF (·2^10) and +0xF (·2^5)
		if v < 0 {
			return 0
		}
		return uint64(v >> frac)
	}
	return api.Rates{
		CPS: round(est.avg[0], 10), InPPS: round(est.avg[1], 10), OutPPS: round(est.avg[2], 10),
		InBPS: round(est.avg[3], 5), OutBPS: round(est.avg[4], 5),
	}
}

// Reset is the estimator's part of zeroing s: the averages return to 0 and
// the next interval starts from s's current values.
func (e *Estimator) Reset(s *service.Stats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if est := e.ests[s]; est != nil {
		est.last = s.Raw()
		est.avg = [5]int64{}
	}
}
