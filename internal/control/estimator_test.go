package control

import (
	"testing"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/service"
)

// TestEstimatorKernelFormula feeds a steady 1000 packets (and 1 conn,
// 64000 bytes) per 2 s interval and checks the kernel's arithmetic step by
// step: avg += (Δ·2^9 − avg)/4, reported (avg + 511) >> 10 for packets
// and (avg' + 15) >> 5 for bytes with Δ·2^4; then that it converges to the
// true rate and that Reset clears it.
func TestEstimatorKernelFormula(t *testing.T) {
	e := NewEstimator()
	var s service.Stats
	w := service.Shard{}
	feed := func() {
		s.AddConn(w)
		for range 1000 {
			s.AddIn(w, 64)
		}
	}
	e.Sample([]*service.Stats{&s}) // starts from the current values
	if r := e.Rates(&s); r != (api.Rates{}) {
		t.Fatalf("first sample rates %+v", r)
	}
	var avgP, avgB, avgC int64
	for i := range 40 {
		feed()
		e.Sample([]*service.Stats{&s})
		avgP += (1000<<9 - avgP) >> 2
		avgB += (64000<<4 - avgB) >> 2
		avgC += (1<<9 - avgC) >> 2
		want := api.Rates{CPS: uint64((avgC + 511) >> 10), InPPS: uint64((avgP + 511) >> 10), InBPS: uint64((avgB + 15) >> 5)}
		if got := e.Rates(&s); got != want {
			t.Fatalf("interval %d: %+v, want %+v", i+1, got, want)
		}
	}
	if got := e.Rates(&s); got.InPPS != 500 || got.InBPS != 32000 || got.CPS != 0 { // 0.5 conn/s: (512/2 + 511) >> 10 = 0
		t.Errorf("after 80 s of 500 pps: %+v", got)
	}
	e.Reset(&s)
	if got := e.Rates(&s); got != (api.Rates{}) {
		t.Errorf("after Reset: %+v", got)
	}
	feed()
	e.Sample([]*service.Stats{&s})
	if got := e.Rates(&s); got.InPPS != 125 { // (1000·512/4 + 511) >> 10
		t.Errorf("first interval after Reset: %+v, want 125 pps", got)
	}
	e.Sample(nil)
	if got := e.Rates(&s); got != (api.Rates{}) {
		t.Errorf("a counter set no longer listed keeps rates %+v", got)
	}
}
