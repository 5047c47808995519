package director

import (
	"sync/atomic"
	"time"

	"github.com/vsd/vsd/internal/forward"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/synproxy"
)

func secs(s uint32) time.Duration { return time.Duration(s) * time.Second }

// transmit sends a client packet to its destination with the connection's
// forwarding method.
func (w *Worker) transmit(f *link.Frame, b *batch, info *fwdInfo) {
	p := w.p
	d := info.dest
	if w.frag.first {
		w.fragRecord(b, fwdValue(info))
	}
	switch info.method {
	case service.Local:
		w.pass(f, b, EventPassNoService)
		return
	case service.Masq:
		// Size first: an error must quote the client's own packet.
		if !w.fitsTowards(f, b, &d.Addr16, &p.Dst) {
			return
		}
		if info.ackShift != 0 {
			synproxy.ShiftAck(f.Bytes(), p, info.ackShift)
		}
		// The fused rewrite of a whole IPv4 TCP segment costs 10 ns
		// against 48 for NATIn then DecTTL (forward benchmarks).
		if forward.NATInDecTTL(f.Bytes(), p, &d.Addr16, info.dport) {
			w.toNextHop(f, b, &d.Addr16)
			return
		}
		// TTL first: an ICMP time exceeded must quote the client's own
		// packet, not one already rewritten to the real server.
		if !forward.DecTTL(f.Bytes(), p) {
			w.timeExceeded(f, b)
			return
		}
		forward.NATIn(f.Bytes(), p, d.Addr16, info.dport)
		w.toNextHop(f, b, &d.Addr16)
	case service.Route:
		if !w.fitsTowards(f, b, &d.Addr16, &p.Dst) {
			return
		}
		w.route(f, b, &d.Addr16)
	case service.Tunnel:
		w.tunnel(f, b, d, false)
	default:
		w.drop(f, b, ReasonUnsupported)
	}
}

// route decrements the TTL and sets the MAC addresses towards the next hop
// for addr (same family as the packet), then marks the frame Tx.
func (w *Worker) route(f *link.Frame, b *batch, addr *[16]byte) {
	if !forward.DecTTL(f.Bytes(), w.p) {
		w.timeExceeded(f, b)
		return
	}
	w.toNextHop(f, b, addr)
}

// toNextHop sets the MAC addresses towards the next hop for addr (same
// family as the packet) and marks the frame Tx.
func (w *Worker) toNextHop(f *link.Frame, b *batch, addr *[16]byte) {
	mac, port, ok := w.resolve(w.p.V6, addr)
	if !ok {
		w.drop(f, b, ReasonNoNeighbor)
		return
	}
	forward.SetMACs(f.Bytes(), w.e.ports[port].MAC, mac)
	w.tx(f, b, port)
}

// tunnel encapsulates the packet towards a Tunnel destination (IPIP or
// GUE; outer family = the destination's family). icmpErr says the packet
// is an ICMP error being forwarded: it skips the size check.
func (w *Worker) tunnel(f *link.Frame, b *batch, d *service.Dest, icmpErr bool) {
	p := w.p
	cfg := d.Config()
	if cfg.TunType == service.TunGRE {
		w.drop(f, b, ReasonUnsupported)
		return
	}
	if !forward.DecTTL(f.Bytes(), p) {
		w.timeExceeded(f, b)
		return
	}
	v6 := d.Addr.Is6()
	mac, port, ok := w.resolve(v6, &d.Addr16)
	if !ok {
		w.drop(f, b, ReasonNoNeighbor)
		return
	}
	// Size check with the tunnel header included. IPv4 with pmtu_disc
	// off: no check, the outer header never gets DF (the kernel
	// fragments instead; fragmenting is done elsewhere).
	if !icmpErr && (p.V6 || b.tun.PMTUDisc) &&
		!w.fitsPort(f, b, port, forward.TunnelOverhead(v6, cfg.TunType == service.TunGUE), &p.Dst) {
		return
	}
	o := forward.Outer{V6: v6, Dst: d.Addr16, PMTUDisc: b.tun.PMTUDisc}
	if v6 {
		o.Src = w.e.port6[port]
	} else {
		o.Src = w.e.port4[port]
	}
	overhead := forward.TunnelOverhead(v6, cfg.TunType == service.TunGUE)
	if m := w.e.ports[port].MTU; m > 0 && !p.V6 && w.ipLen()+overhead > m {
		// An IPv4 packet that may be fragmented (no DF, or pmtu_disc
		// off) and does not fit once encapsulated: fragment the inner
		// packet so that every piece fits with its own outer header.
		// (Fragmenting the outer packet instead, as the kernel does,
		// would leave the real server to reassemble before it can
		// decapsulate, which vsd's decapsulator does not.)
		first := w.frag.out.n
		if !w.fragmentOut(f, b, port, m-overhead) {
			return
		}
		for i := first; i < w.frag.out.n; i++ {
			of := &w.frag.out.frames[i]
			if of.Action == link.Tx && !w.encap(of, &w.frag.piece, cfg, o, mac, port) {
				of.Action = link.Drop
				b.res.Tx--
				b.res.Drop++
				inc(&w.cnt.drops[ReasonNoHeadroom], 1)
			}
		}
		if packet.Decode(f.Bytes(), p) != packet.OK {
			w.drop(f, b, ReasonMalformed)
			return
		}
	}
	if !w.encap(f, p, cfg, o, mac, port) {
		w.drop(f, b, ReasonNoHeadroom)
		return
	}
	w.tx(f, b, port)
}

// encap puts the tunnel header o (of cfg's type) in front of frame f, its
// packet decoded into p (decoded here for an outbox frame: pass a
// scratch), and sets the MAC addresses towards the real server. false:
// no headroom, or the frame could not be decoded.
func (w *Worker) encap(f *link.Frame, p *packet.Parsed, cfg *service.DestConfig, o forward.Outer, mac [6]byte, port uint16) bool {
	if p != w.p && packet.Decode(f.Bytes(), p) != packet.OK {
		return false
	}
	w.ipID++
	o.ID = w.ipID
	var off, n int
	var ok bool
	if cfg.TunType == service.TunGUE {
		off, n, ok = forward.EncapGUE(f.Buf, f.Off, f.Len, p, o, forward.FlowPort(p), cfg.TunPort, cfg.TunFlags&service.TunFlagCsum != 0)
	} else {
		off, n, ok = forward.EncapIPIP(f.Buf, f.Off, f.Len, p, o)
	}
	if !ok {
		return false
	}
	f.Off, f.Len = off, n
	forward.SetMACs(f.Bytes(), w.e.ports[port].MAC, mac)
	return true
}

// noDest answers a packet for a service with no usable destination with
// ICMP port unreachable, as the kernel does (ipvs-semantics.md §6.4).
func (w *Worker) noDest(f *link.Frame, b *batch, svc *service.Service) {
	if svc.Key.Port == 21 && w.p.DstPort != 21 {
		// Other traffic to an FTP VIP is not ours (kernel ip_vs_leave).
		w.pass(f, b, EventPassNoCreate)
		return
	}
	if b.tun.NoICMPUnreachable {
		w.drop(f, b, ReasonNoDest)
		return
	}
	port := f.Port
	off, n, ok := forward.PortUnreachable(f.Buf, f.Off, f.Len, w.p, w.p.Dst)
	if !ok {
		w.drop(f, b, ReasonNoDest)
		return
	}
	if !w.errorAllowed(b) {
		w.drop(f, b, ReasonICMPRateLimit)
		return
	}
	f.Off, f.Len = off, n
	w.event(EventNoDestICMP)
	w.tx(f, b, port)
}

// timeExceeded answers a packet whose TTL ran out with ICMP time exceeded
// from the director's own address on the ingress port.
func (w *Worker) timeExceeded(f *link.Frame, b *batch) {
	port := f.Port
	from := w.e.port4[port]
	if w.p.V6 {
		from = w.e.port6[port]
	}
	off, n, ok := forward.TimeExceeded(f.Buf, f.Off, f.Len, w.p, from)
	if !ok {
		w.drop(f, b, ReasonTTL)
		return
	}
	if !w.errorAllowed(b) {
		w.drop(f, b, ReasonICMPRateLimit)
		return
	}
	f.Off, f.Len = off, n
	w.event(EventTTLICMP)
	w.tx(f, b, port)
}

// neighCache is a small direct-mapped cache of next hops per worker, so
// the per-packet path does not call the (shared, slower) resolver.
type neighCache struct {
	gen     uint64
	entries [256]neighEntry
}

type neighEntry struct {
	addr  [16]byte
	mac   [6]byte
	port  uint16
	v6    bool
	gen   uint64 // valid when equal to the cache's gen and non-zero
	valid bool
}

func (w *Worker) resolve(v6 bool, addr *[16]byte) ([6]byte, uint16, bool) {
	i := (uint32(addr[15]) ^ uint32(addr[14])<<1 ^ uint32(addr[13])<<2 ^ uint32(addr[7])) & 255
	ne := &w.neigh.entries[i]
	if ne.valid && ne.gen == w.neigh.gen && ne.addr == *addr && ne.v6 == v6 {
		return ne.mac, ne.port, true
	}
	mac, port, ok := w.e.neighbors.Resolve(v6, *addr)
	if !ok || int(port) >= len(w.e.ports) {
		return mac, 0, false
	}
	*ne = neighEntry{addr: *addr, mac: mac, port: port, v6: v6, gen: w.neigh.gen, valid: true}
	return mac, port, true
}

// NeighborsChanged tells every worker to forget its cached next hops.
func (e *Engine) NeighborsChanged() { e.neighGen.Add(1) }

// counters are a worker's own counters. Only the worker writes them, with
// a load and a store rather than a read-modify-write (on amd64 the atomic
// store is still an XCHG: keep these off the per-packet path where a
// count can be batched); readers load them atomically.
type counters struct {
	frames, tx, pass atomic.Uint64 // drops: the sum of drops[]
	drops            [numReasons]atomic.Uint64
	events           [numEvents]atomic.Uint64
	_                [64]byte // keep the next worker's counters off this cache line
}

func inc(c *atomic.Uint64, n uint64) { c.Store(c.Load() + n) }

func (c *counters) addTo(s *Counters) {
	s.Frames += c.frames.Load()
	s.Tx += c.tx.Load()
	s.Pass += c.pass.Load()
	for i := range c.drops {
		s.Drops[i] += c.drops[i].Load()
	}
	for i := range c.events {
		s.Events[i] += c.events[i].Load()
	}
}
