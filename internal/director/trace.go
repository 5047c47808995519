package director

import (
	"net/netip"
	"sync"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// The debug trace (tunable debug_level, as the kernel's IPVS debug
// levels): with level ≥ 1 every drop and every pass to the host is
// recorded with its reason; with level ≥ 2 also every scheduling decision
// (which real server a new connection got). Records go into a small ring
// per worker; the control plane drains and logs them (Engine.DrainTrace).
// At level 0 the packet path pays one comparison per drop, pass or new
// connection, nothing else.

// TraceRecord is one recorded decision.
type TraceRecord struct {
	At               clock.Time
	What             string // a Reason's or Event's name
	Proto            packet.Proto
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Dest             netip.AddrPort // the real server, for scheduling decisions
}

// Debug levels at which decisions are traced.
const (
	DebugDrops    = 1 // drops and passes, with the reason
	DebugSchedule = 2 // also each new connection's real server
)

const traceSlots = 512

type traceRing struct {
	mu   sync.Mutex // taken only at debug level ≥ 1
	recs [traceSlots]TraceRecord
	n    uint64 // records written in all
	read uint64 // records handed to DrainTrace
}

// trace records the current packet's decision.
func (w *Worker) trace(b *batch, what string, dest *service.Dest, dport uint16) {
	p := w.p
	r := TraceRecord{At: b.now, What: what, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
	r.Src, r.Dst = netip.AddrFrom16(p.Src), netip.AddrFrom16(p.Dst)
	if !p.V6 {
		r.Src, r.Dst = r.Src.Unmap(), r.Dst.Unmap()
	}
	if dest != nil {
		r.Dest = netip.AddrPortFrom(dest.Addr, dport)
	}
	t := &w.traces
	t.mu.Lock()
	t.recs[t.n%traceSlots] = r
	t.n++
	t.mu.Unlock()
}

// DrainTrace hands every record written since the last call to fn, worker
// by worker, oldest first, and returns how many were overwritten before
// they could be drained.
func (e *Engine) DrainTrace(fn func(worker int, r TraceRecord)) (lost uint64) {
	e.mu.Lock()
	workers := append([]*Worker(nil), e.workers...)
	e.mu.Unlock()
	for i, w := range workers {
		t := &w.traces
		t.mu.Lock()
		if t.n-t.read > traceSlots {
			lost += t.n - t.read - traceSlots
			t.read = t.n - traceSlots
		}
		recs := make([]TraceRecord, 0, t.n-t.read)
		for ; t.read < t.n; t.read++ {
			recs = append(recs, t.recs[t.read%traceSlots])
		}
		t.mu.Unlock()
		for _, r := range recs {
			fn(i, r)
		}
	}
	return lost
}
