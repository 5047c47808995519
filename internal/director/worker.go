package director

import (
	"github.com/vsd/vsd/internal/defense"
	"sync/atomic"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/forward"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
	"github.com/vsd/vsd/internal/synproxy"
)

// Worker processes batches of frames. One per receive queue; not safe for
// concurrent use. It owns its decode scratch, its neighbour cache and its
// counters, so the per-packet path shares nothing writable with other
// workers except the connection table's bucket locks and the destinations'
// connection counters.
type Worker struct {
	e *Engine
	p *packet.Parsed // the frame being handled: points into ps

	// Per-batch scratch: the decode result and bucket hash of every frame
	// of the current chunk, so the table's cache misses of a whole chunk
	// can be started before the first lookup.
	ps    [chunk]packet.Parsed
	res   [chunk]packet.Result
	hs    [chunk]uint32
	nh    int          // frames of the chunk with a valid hash
	hi    [chunk]uint8 // frame → its index in hs
	hp    [chunk]uint8 // index in hs → its frame
	conn  conntrack.Conn
	req   service.Request
	neigh neighCache
	ipID  uint16
	cnt   counters

	// Which copy of the traffic counters (service.Stats) this worker
	// writes; shared is set when a later worker got the same shard.
	shard  int
	shared atomic.Bool
	pend   statCache // this batch's traffic counts, not yet in the shared counters

	traces  traceRing     // debug_level records
	limiter sourceLimiter // per-source packet rates of services that set one
	connLim sourceLimiter // per-connection packet rates of services that set one

	dropper defense.Dropper // the drop_packet defense's count
	defSeen *defense.State  // the defense state dropper was set from

	ic   icmpState // ICMP errors: quoted-packet scratch, generated-error rate
	frag fragState // fragments: the first's key, the outbox (frag.go)
}

// NewWorker returns a new worker of the engine.
func (e *Engine) NewWorker() *Worker {
	w := &Worker{e: e}
	e.mu.Lock()
	w.shard = len(e.workers) % service.StatShards
	if len(e.workers) >= service.StatShards {
		w.shared.Store(true)
		e.workers[w.shard].shared.Store(true)
	}
	e.workers = append(e.workers, w)
	e.mu.Unlock()
	return w
}

// Result counts what one Process call decided. Tx, Pass and Drop include
// the outbox's extra frames; Held counts frames of the batch whose copy the
// fragment tracker holds (their Action is Drop: the buffer is free).
type Result struct {
	Tx, Pass, Drop, Held int
}

// batch holds what is fixed for one Process call.
type batch struct {
	now  clock.Time
	def  *defense.State
	snap *service.Snapshot
	tun  *Tunables
	to   *state.Timeouts
	res  Result
}

// Process decides the fate of every frame in frames, in place: each frame's
// Action becomes Tx (with Port set to the egress port and the frame
// rewritten; Off/Len may change for tunnels and generated ICMP), Pass or
// Drop. It allocates nothing.
func (w *Worker) Process(frames []link.Frame, now clock.Time) Result {
	b := batch{now: now, snap: w.e.snap.Load(), tun: w.e.tun.Load(), to: w.e.timeouts.Load(), def: w.e.def.Load()}
	if b.def != w.defSeen {
		// A new once-a-second update: the automatic rate restarts its
		// count, level 3's keeps counting (as in the kernel).
		w.dropper.SetRate(b.def.DropRate, b.def.Settings.DropPacket != 3)
		w.defSeen = b.def
	}
	w.pend.shard = service.Shard{Index: w.shard, Shared: w.shared.Load()}
	w.pend.stats = &w.e.stats
	w.neigh.gen = w.e.neighGen.Load()
	w.frag.out.reset()
	total := len(frames)
	for rest := frames; len(rest) > 0; {
		n := min(len(rest), chunk)
		w.chunk(rest[:n], &b)
		rest = rest[n:]
	}
	w.pend.flush()
	c := &w.cnt
	inc(&c.frames, uint64(total))
	inc(&c.tx, uint64(b.res.Tx))
	inc(&c.pass, uint64(b.res.Pass))
	return b.res
}

func (w *Worker) drop(f *link.Frame, b *batch, r Reason) {
	f.Action = link.Drop
	b.res.Drop++
	inc(&w.cnt.drops[r], 1)
	if b.tun.DebugLevel >= DebugDrops {
		w.trace(b, r.String(), nil, 0)
	}
}

func (w *Worker) pass(f *link.Frame, b *batch, ev Event) {
	f.Action = link.Pass
	b.res.Pass++
	inc(&w.cnt.events[ev], 1)
	if b.tun.DebugLevel >= DebugDrops {
		w.trace(b, ev.String(), nil, 0)
	}
}

func (w *Worker) tx(f *link.Frame, b *batch, port uint16) {
	if m := w.e.ports[port].MTU; m > 0 && f.Len-int(w.p.L3Off) > m && !w.fragmentOut(f, b, port, m) {
		return // dropped: could not be fragmented
	}
	f.Action = link.Tx
	f.Port = port
	b.res.Tx++
}

func (w *Worker) event(ev Event) { inc(&w.cnt.events[ev], 1) }

// fwdInfo is what the packet path copies out of a connection entry before
// releasing the bucket lock.
type fwdInfo struct {
	method   service.Method
	dest     *service.Dest
	dport    uint16
	ackShift uint32 // syn_proxy: added to a client segment's acknowledgement number
	ready    bool   // syn_proxy: the frame is already the packet to send; it needs only its next hop
}

// chunk is how many frames are decoded and prefetched together.
const chunk = 32

// Prefetch distances, in frames: while frame k is handled, the first
// entry of frame k+entryAhead's bucket and, if that entry is not the one,
// the second entry of frame k+nextAhead's bucket are requested.
// EstablishedNAT1M on the 2 vCPU VM: 4/2 260-300 ns, 6/3 and 8/4 210-265,
// 12/6 and 16/8 205-230 (same runs; ±20 % noise between runs); all up
// front (32/8) was no better. The whole pipeline took EstablishedNAT1M
// from ~380 to ~240 ns and 64K from ~315 to ~220.
const (
	entryAhead = 16
	nextAhead  = 8
)

// chunk handles up to `chunk` frames as a software pipeline, so that the
// table's cache misses are in flight while other frames are handled:
// decode every frame, hash its client side and request its bucket head;
// request the first entries of the first frames; then handle each frame
// while requesting the entries of the frames a few places behind it.
func (w *Worker) chunk(frames []link.Frame, b *batch) {
	t := w.e.table
	w.nh = 0
	for i := range frames {
		p := &w.ps[i]
		w.res[i] = packet.Decode(frames[i].Bytes(), p)
		w.hi[i] = uint8(w.nh) // for a frame without ports: the next one's
		if w.res[i] == packet.OK && p.Flags.Has(packet.FlagL4) {
			h := t.Hash(p.V6, p.Proto, &p.Src, p.SrcPort)
			t.PrefetchBucket(h)
			w.hs[w.nh] = h
			w.hp[w.nh] = uint8(i)
			w.nh++
		}
	}
	for k := range min(entryAhead, w.nh) {
		w.prefetchEntry(k)
	}
	for i := range frames {
		k := int(w.hi[i])
		if k+entryAhead < w.nh {
			w.prefetchEntry(k + entryAhead)
		}
		if n := k + nextAhead; n < w.nh {
			q := &w.ps[w.hp[n]]
			t.PrefetchNext(w.hs[n], q.SrcPort, q.DstPort)
		}
		w.p = &w.ps[i]
		if w.p.Flags&packet.FlagFragment != 0 && w.res[i] == packet.OK && w.fragment(&frames[i], b) {
			continue // a non-first fragment, handled (frag.go)
		}
		w.frame(&frames[i], b, w.res[i], w.hs[k])
		if w.frag.first {
			w.fragDone(&frames[i], b)
		}
	}
}

// prefetchEntry requests the first entry of the bucket of hashed frame k
// and, for a frame that will probably create a connection, the slot its
// entry will take.
func (w *Worker) prefetchEntry(k int) {
	t := w.e.table
	t.PrefetchEntry(w.hs[k])
	if opensConn(&w.ps[w.hp[k]]) {
		t.PrefetchInsert(w.hs[k])
	}
}

// opensConn reports whether p is a TCP SYN: a packet that will probably
// create a connection (the prefetch hint for the insert; the creation rules
// are mayCreate's).
func opensConn(p *packet.Parsed) bool {
	return p.Proto == packet.ProtoTCP && p.TCPFlags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn
}

// frame handles one decoded frame; h is the bucket of its client side
// (valid when the transport header was decoded).
func (w *Worker) frame(f *link.Frame, b *batch, res packet.Result, h uint32) {
	p := w.p
	switch res {
	case packet.OK:
	case packet.NotIP:
		w.pass(f, b, EventPassNoService)
		return
	default:
		w.drop(f, b, ReasonMalformed)
		return
	}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
	case packet.ProtoICMP, packet.ProtoICMPv6:
		w.handleICMP(f, b) // icmp.go
		return
	default:
		// Other protocols: the host's business.
		w.pass(f, b, EventPassNoService)
		return
	}
	if !p.Flags.Has(packet.FlagL4) {
		// Non-first fragment: no ports to look up.
		w.pass(f, b, EventPassNoService)
		return
	}

	t := w.e.table
	t.Lock(h)
	if idx := t.LookupPacketLocked(h, p, b.now); idx != 0 {
		info, ok := w.inboundLocked(f, b, h, idx)
		if ok || info.ready {
			t.Unlock(h)
			w.countIn(info.dest)
			if info.ready {
				w.toNextHop(f, b, &info.dest.Addr16)
				return
			}
			w.transmit(f, b, &info)
			return
		}
		if f.Action == link.Drop {
			t.Unlock(h)
			return
		}
		// The old entry was expired; schedule the packet anew (lock held).
	}
	var mark uint32
	if b.snap.HasMarks() {
		mark = b.snap.Mark(p.V6, p.Proto, &p.Dst, p.DstPort)
	}
	svc := b.snap.Lookup(p.V6, p.Proto, &p.Dst, p.DstPort, mark)
	if svc == nil {
		t.Unlock(h)
		w.reply(f, b)
		return
	}
	w.newConnLocked(f, b, h, svc)
}

// inboundLocked handles a client packet of an existing entry. ok=false
// means: dropped (f.Action == Drop) or the entry was expired and the packet
// must be scheduled as a new connection.
func (w *Worker) inboundLocked(f *link.Frame, b *batch, h uint32, idx uint32) (info fwdInfo, ok bool) {
	t := w.e.table
	en := t.At(idx)
	p := w.p
	d := w.dest(b, en)
	if d == nil {
		// No snapshot knows the id: cannot happen while the entry
		// exists (ids are freed only when nothing uses them); never
		// guess, drop.
		w.drop(f, b, ReasonNoDestConn)
		return info, false
	}
	if en.SeqProxied() {
		if !d.Available() {
			w.drop(f, b, ReasonNoDestConn)
			return info, false
		}
		return w.proxiedInLocked(f, b, h, idx, en, d)
	}
	if state.NewConnPacket(p.Proto, p.TCPFlags, p.SCTPChunk) && !p.Flags.Has(packet.FlagNonFirstFrag) {
		resched := false
		if b.tun.ConnReuseMode == 0 {
			// Mode 0: never reschedule a reused port (kernel: both
			// branches sit under conn_reuse_mode).
		} else if b.tun.ExpireNodestConn && d.Weight() == 0 {
			resched = true
		} else if en.Controller() == 0 &&
			state.ExpectsNewConn(p.Proto, en.State(), en.Flags()&conntrack.FlagNoOutput != 0, b.tun.ConnReuseMode) {
			resched = true
		}
		if resched {
			t.DeleteLocked(h, idx)
			w.event(EventReschedule)
			f.Action = link.Pass // not a drop: the caller schedules anew
			return info, false
		}
	}
	if !d.Available() {
		if b.tun.ExpireNodestConn {
			t.DeleteLocked(h, idx)
			w.event(EventReschedule)
			f.Action = link.Pass
			return info, false
		}
		w.drop(f, b, ReasonNoDestConn)
		return info, false
	}
	if r := d.SvcLimits.ConnRate.Load(); r != 0 && !w.connLim.allowConn(d.SvcLimits, r, &p.Src, p.SrcPort, b.now) {
		// Over its service's conn_rate.
		w.drop(f, b, ReasonRateLimit)
		return info, false
	}
	if r := d.SvcLimits.SourceRate.Load(); r != 0 && !w.limiter.allow(d.SvcLimits, r, &p.Src, b.now) {
		// Over its service's source_rate: dropped before the state
		// machine sees it.
		w.drop(f, b, ReasonRateLimit)
		return info, false
	}
	dir := state.Input
	if en.Flags()&conntrack.FlagNoOutput != 0 {
		dir = state.InputOnly
	}
	w.transitionLocked(en, d, dir, b)
	info.method = service.Method(en.Method())
	info.dest = d
	info.dport = en.DPort()
	return info, true
}

// transitionLocked runs the protocol state machine for the current packet
// on entry en and re-arms its timer; it keeps the destination's
// active/inactive counters in step, and marks the controlling template
// ASSURED when the connection is established (UDP: sees a reply).
func (w *Worker) transitionLocked(en *conntrack.Entry, d *service.Dest, dir state.Dir, b *batch) {
	p := w.p
	old := en.State()
	var st uint8
	var active, established bool
	switch p.Proto {
	case packet.ProtoTCP:
		s := state.TCPTransition(b.def.SecureTCP, dir, p.TCPFlags, state.TCPState(old))
		st, active, established = uint8(s), s.Active(), s == state.TCPEstablished
	case packet.ProtoSCTP:
		ev := state.SCTPEventOf(p.SCTPChunk, p.SCTPChunk2, p.Flags.Has(packet.FlagSCTPChunk2))
		s := state.SCTPNext(dir, ev, state.SCTPState(old))
		st, active, established = uint8(s), s.Active(), s == state.SCTPEstablished
	default: // UDP: one state, always inactive; a reply assures the template.
		established = dir == state.Output
	}
	if st != old || (p.Proto == packet.ProtoUDP && established) {
		en.SetState(st)
		// Crossed the active/inactive line: flag and counters move
		// together, or neither does (the flag says which counter Unbind
		// decrements).
		if inactive := en.Flags()&conntrack.FlagInactive != 0; active == inactive && d != nil {
			en.SetFlags(en.Flags() ^ conntrack.FlagInactive)
			d.SetActive(active)
		}
		if tidx := en.Controller(); established && tidx != 0 {
			// The template lives in another bucket, but Assure is
			// atomic and needs no lock; it must run while this
			// bucket's lock keeps the conn, and so its template,
			// alive.
			w.e.table.Assure(tidx)
		}
	}
	en.Touch(b.now, b.to.Timeout(p.Proto, st))
}

// countIn counts the current packet, client to server, on its
// destination, the destination's service and the director's totals
// (kernel: ip_vs_in_stats). Counts gather in the worker's batch cache and
// reach the shared counters once per batch (statCache.flush).
func (w *Worker) countIn(d *service.Dest) {
	n := uint64(w.p.Len) - uint64(w.p.L3Off)
	c := w.pend.entry(d)
	c.InPkts++
	c.InBytes += n
	w.pend.total.InPkts++
	w.pend.total.InBytes += n
}

// countOut counts the current packet, server to client (ip_vs_out_stats).
func (w *Worker) countOut(d *service.Dest) {
	n := uint64(w.p.Len) - uint64(w.p.L3Off)
	c := w.pend.entry(d)
	c.OutPkts++
	c.OutBytes += n
	w.pend.total.OutPkts++
	w.pend.total.OutBytes += n
}

// countConn counts a newly scheduled connection (ip_vs_conn_stats).
func (w *Worker) countConn(d *service.Dest) {
	w.pend.entry(d).Conns++
	w.pend.total.Conns++
}

// statCache gathers one batch's traffic counts per destination in plain
// (worker-private) counters, so the packet path writes the shared,
// atomically read service.Stats once per destination and batch instead of
// per packet (an atomic store is a locked XCHG on amd64). Destinations map
// to slots by id; a collision flushes the slot's previous owner.
type statCache struct {
	slots [statSlots]statSlot
	total service.Counters
	shard service.Shard
	stats *service.Stats // the director's totals
}

const statSlots = 16

type statSlot struct {
	d *service.Dest
	service.Counters
}

// entry returns d's slot, flushing whatever other destination held it.
func (c *statCache) entry(d *service.Dest) *service.Counters {
	s := &c.slots[d.ID%statSlots]
	if s.d != d {
		if s.d != nil {
			c.flushSlot(s)
		}
		s.d = d
	}
	return &s.Counters
}

func (c *statCache) flushSlot(s *statSlot) {
	s.d.Stats.AddCounters(c.shard, &s.Counters)
	s.d.SvcStats.AddCounters(c.shard, &s.Counters)
	s.Counters = service.Counters{}
}

// flush hands everything gathered to the shared counters and forgets the
// destinations (so a removed one is not kept alive).
func (c *statCache) flush() {
	for i := range c.slots {
		if s := &c.slots[i]; s.d != nil {
			c.flushSlot(s)
			s.d = nil
		}
	}
	if c.total != (service.Counters{}) {
		c.stats.AddCounters(c.shard, &c.total)
		c.total = service.Counters{}
	}
}

// dest resolves an entry's destination id. A worker's batch snapshot may
// be older than the one under which another worker created the entry, so
// an id it does not know is looked up in the newest snapshot.
func (w *Worker) dest(b *batch, en *conntrack.Entry) *service.Dest {
	id := service.DestID(en.Dest())
	if d := b.snap.Dest(id); d != nil {
		return d
	}
	return w.e.snap.Load().Dest(id)
}

// reply handles a packet that is not for a service and matched no
// connection from the client side: a NAT reply from a real server, or
// traffic that is not ours.
func (w *Worker) reply(f *link.Frame, b *batch) {
	t := w.e.table
	p := w.p
	h := t.Hash(p.V6, p.Proto, &p.Dst, p.DstPort)
	t.Lock(h)
	idx := t.LookupOutLocked(h, p.V6, p.Proto, &p.Dst, p.DstPort, &p.Src, p.SrcPort, b.now)
	if idx == 0 {
		t.Unlock(h)
		w.pass(f, b, EventPassNoService)
		return
	}
	en := t.At(idx)
	d := w.dest(b, en)
	var seqShift uint32
	if en.SeqProxied() {
		var done bool
		if seqShift, done = w.proxiedReplyLocked(f, b, h, idx, en, d); done {
			return
		}
	}
	if d != nil && d.Available() {
		w.countOut(d)
	}
	en.SetFlags(en.Flags() &^ conntrack.FlagNoOutput)
	w.transitionLocked(en, d, state.Output, b)
	method := service.Method(en.Method())
	_, vaddr := t.AddrsLocked(idx)
	vport := en.VPort()
	t.Unlock(h)
	if method != service.Masq {
		// A reply of a local real server: the host stack routes it.
		w.pass(f, b, EventReply)
		return
	}
	w.event(EventReply)
	if w.frag.first {
		w.fragRecordReply(b, &vaddr, d)
	}
	// TTL first (the kernel forwards, so decrements, before un-NAT): a
	// time exceeded goes back to the real server about its own packet.
	if !forward.DecTTL(f.Bytes(), p) {
		w.timeExceeded(f, b)
		return
	}
	// Too big for the client's side: the error goes to the real server
	// from the director's own address, about its packet as sent.
	if !w.fitsTowards(f, b, &p.Dst, w.portAddr(f.Port)) {
		return
	}
	if seqShift != 0 {
		synproxy.ShiftSeq(f.Bytes(), p, seqShift)
	}
	forward.NATOut(f.Bytes(), p, vaddr, vport)
	w.toNextHop(f, b, &p.Dst)
}
