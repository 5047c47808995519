package director

import (
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// mayCreate applies the protocol rules for creating a connection
// (ipvs-semantics.md §2.5, §2.6, §2.7).
func mayCreate(p *packet.Parsed, tun *Tunables) bool {
	switch p.Proto {
	case packet.ProtoTCP:
		return state.TCPCreates(p.TCPFlags, tun.SloppyTCP)
	case packet.ProtoSCTP:
		return state.SCTPCreates(p.SCTPChunk, tun.SloppySCTP)
	}
	return true
}

// newConnLocked schedules a packet that matched no connection but is for
// service svc, creates its entry and forwards it. Called with bucket h
// locked; releases it.
func (w *Worker) newConnLocked(f *link.Frame, b *batch, h uint32, svc *service.Service) {
	t := w.e.table
	p := w.p
	synStateless := svc.Flags&service.FlagSynStateless != 0 && p.Proto == packet.ProtoTCP
	if !mayCreate(p, b.tun) && !(synStateless && p.TCPFlags&(packet.TCPAck|packet.TCPRst|packet.TCPSyn) == packet.TCPAck) {
		t.Unlock(h)
		w.pass(f, b, EventPassNoCreate)
		return
	}
	if r := svc.Limits.ConnRate.Load(); r != 0 && !w.connLim.allowConn(svc.Limits, r, &p.Src, p.SrcPort, b.now) {
		t.Unlock(h)
		w.drop(f, b, ReasonRateLimit)
		return
	}
	if r := svc.Limits.SourceRate.Load(); r != 0 && !w.limiter.allow(svc.Limits, r, &p.Src, b.now) {
		t.Unlock(h)
		w.drop(f, b, ReasonRateLimit)
		return
	}
	if synStateless && w.synProxyNewLocked(f, b, h, svc) {
		// NAT: answered with a SYN cookie, or joined by its valid ACK;
		// neither costs the drop_packet defense a count (a cookie
		// keeps no memory).
		return
	}
	if w.dropper.Drop() {
		// The drop_packet defense (kernel: ip_vs_todrop before
		// scheduling).
		t.Unlock(h)
		w.drop(f, b, ReasonDropPacket)
		return
	}
	if p.SrcPort == 20 && p.Proto == packet.ProtoTCP {
		// FTP active data from the client side is never scheduled.
		t.Unlock(h)
		w.pass(f, b, EventPassNoCreate)
		return
	}
	r := &w.req
	*r = service.Request{V6: p.V6, Proto: p.Proto, Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Now: b.now}

	var d *service.Dest
	var dport uint16
	var tidx uint32
	if svc.Persistent() {
		t.Unlock(h)
		var ok bool
		d, dport, tidx, ok = w.persist(f, b, svc)
		if !ok {
			return // dropped or answered
		}
		t.Lock(h)
		if idx := t.LookupPacketLocked(h, p, b.now); idx != 0 {
			// Another worker created the connection meanwhile: use it,
			// unless it was just expired for rescheduling; then ours is
			// inserted below.
			info, ok := w.inboundLocked(f, b, h, idx)
			if ok || f.Action == link.Drop {
				t.Unlock(h)
				t.Uncontrol(tidx)
				if ok {
					w.countIn(info.dest)
					w.transmit(f, b, &info)
				}
				return
			}
		}
	} else {
		if !svc.Key.IsFwMark() && p.DstPort != svc.Key.Port {
			// A port-0 service without persistence schedules nothing.
			t.Unlock(h)
			w.noDest(f, b, svc)
			return
		}
		d = svc.Sched.Schedule(r)
		if d == nil {
			t.Unlock(h)
			w.noDest(f, b, svc)
			return
		}
		if synStateless && p.TCPFlags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn && d.Config().Method != service.Masq {
			// Stateless until the ACK: the hash scheduler sends the
			// client's ACK to this same server, and that ACK makes the
			// entry; a SYN alone (a flood) leaves nothing behind.
			t.Unlock(h)
			w.countIn(d)
			w.event(EventSynStateless)
			info := fwdInfo{method: d.Config().Method, dest: d, dport: p.DstPort}
			if d.Port != 0 {
				info.dport = d.Port
			}
			w.transmit(f, b, &info)
			return
		}
		dport = d.Port
		if dport == 0 {
			dport = p.DstPort
		}
	}
	cfg := d.Config()
	if svc.Flags&service.FlagOnePacket != 0 && p.Proto == packet.ProtoUDP {
		// One-packet scheduling: forward without keeping an entry.
		t.Unlock(h)
		if tidx != 0 {
			t.Uncontrol(tidx)
		}
		w.countConn(d)
		w.countIn(d)
		w.event(EventOnePacket)
		info := fwdInfo{method: cfg.Method, dest: d, dport: dport}
		w.transmit(f, b, &info)
		return
	}
	c := &w.conn
	*c = conntrack.Conn{V6: p.V6, Proto: p.Proto, Caddr: p.Src, Vaddr: p.Dst, Cport: p.SrcPort, Vport: p.DstPort,
		Dport: dport, Flags: conntrack.Flags(cfg.Method) | conntrack.FlagInactive,
		Dest: uint32(d.ID), Expires: b.now.Add(state.InitialTimeout), Control: tidx}
	if cfg.Method != service.Masq {
		c.Flags |= conntrack.FlagNoOutput
	}
	idx, ok := t.InsertLocked(h, c, b.now)
	if !ok {
		t.Unlock(h)
		if tidx != 0 {
			t.Uncontrol(tidx)
		}
		if w.overloadOK(b, svc, d) {
			// Overload mode: the table is full, but a hash scheduler
			// sends this client to the same server every time, so
			// forward without an entry.
			w.countConn(d)
			w.countIn(d)
			w.event(EventOverloadForward)
			info := fwdInfo{method: cfg.Method, dest: d, dport: dport}
			w.transmit(f, b, &info)
			return
		}
		w.drop(f, b, ReasonTableFull)
		return
	}
	d.Bind(false, true)
	w.countConn(d)
	w.event(EventNewConn)
	if b.tun.DebugLevel >= DebugSchedule {
		w.trace(b, EventNewConn.String(), d, dport)
	}
	e := t.At(idx)
	dir := state.Input
	if e.Flags()&conntrack.FlagNoOutput != 0 {
		dir = state.InputOnly
	}
	info := fwdInfo{method: cfg.Method, dest: d, dport: dport}
	w.transitionLocked(e, d, dir, b)
	t.Unlock(h)
	w.countIn(d)
	w.transmit(f, b, &info)
}

// overloadOK reports whether overload mode may forward a new connection
// of svc to d without an entry: the mode is on, svc's scheduler is a hash
// of the packet (sh, dh, mh: the same client always gets the same server
// while the servers stay), and d's replies do not need the director (not
// NAT: un-NAT needs the entry).
func (w *Worker) overloadOK(b *batch, svc *service.Service, d *service.Dest) bool {
	if !b.tun.OverloadForward || d.Config().Method == service.Masq {
		return false
	}
	switch svc.SchedName {
	case "sh", "dh", "mh":
		return true
	}
	return false
}

// persist finds or creates the persistence template for the packet
// (ipvs-semantics.md §1.8) and attaches a new connection to it. It returns
// the destination, the destination port for the connection and the
// template's index. ok=false means the frame was already dealt with.
func (w *Worker) persist(f *link.Frame, b *batch, svc *service.Service) (d *service.Dest, dport uint16, tidx uint32, ok bool) {
	t := w.e.table
	p := w.p
	tk := conntrack.Key{V6: p.V6, Proto: p.Proto, Vaddr: p.Dst}
	maskAddr(&tk.Caddr, &p.Src, p.V6, svc.Netmask)
	svcPort := svc.Key.Port
	switch {
	case svc.Key.IsFwMark():
		tk.Proto = 0
		tk.Vaddr = conntrack.FwmarkAddr(p.V6, svc.Key.FwMark)
	case p.DstPort == svcPort && svcPort != 21:
		tk.Vport = svcPort
	}
	h := t.Hash(tk.V6, tk.Proto, &tk.Caddr, 0)
	t.Lock(h)
	if idx := t.LookupTemplateLocked(h, &tk, b.now); idx != 0 {
		en := t.At(idx)
		td := b.snap.Dest(service.DestID(en.Dest()))
		if td != nil && td.Available() && !(b.tun.ExpireQuiescentTemplate && td.Weight() == 0) {
			d = td
			tidx = idx
			en.Touch(b.now, secs(svc.Timeout))
			t.ControlLocked(idx)
		} else {
			// Invalid template: make it unfindable; it expires by itself.
			en.Neutralize()
		}
	}
	if d == nil {
		d = svc.Sched.Schedule(&w.req)
		if d == nil {
			t.Unlock(h)
			w.noDest(f, b, svc)
			return nil, 0, 0, false
		}
		c := &w.conn
		*c = conntrack.Conn{V6: tk.V6, Proto: tk.Proto, Caddr: tk.Caddr, Vaddr: tk.Vaddr, Vport: tk.Vport,
			Flags: conntrack.Flags(d.Config().Method) | conntrack.FlagTemplate,
			Dest:  uint32(d.ID), Expires: b.now.Add(secs(svc.Timeout))}
		if p.DstPort == svcPort && svcPort != 21 {
			c.Dport = d.Port
		}
		idx, ok := t.InsertLocked(h, c, b.now)
		switch {
		case ok:
			d.Bind(true, false)
			w.event(EventNewTemplate)
			tidx = idx
			t.ControlLocked(idx)
		case w.overloadOK(b, svc, d):
			// Overload mode: no room for a template; the hash
			// scheduler's choice stands in for it (the connection
			// insert will decide whether the packet goes stateless).
		default:
			t.Unlock(h)
			w.drop(f, b, ReasonTableFull)
			return nil, 0, 0, false
		}
	}
	t.Unlock(h)
	dport = p.DstPort
	if p.DstPort == svcPort && d.Port != 0 {
		dport = d.Port
	}
	return d, dport, tidx, true
}

// maskAddr stores src masked to bits leading bits into dst.
func maskAddr(dst, src *[16]byte, v6 bool, bits int) {
	*dst = *src
	if !v6 {
		bits += 96 // IPv4-mapped: keep the ::ffff: prefix, mask the last 4 bytes
	}
	for i := 0; i < 16; i++ {
		switch {
		case bits >= (i+1)*8:
		case bits <= i*8:
			dst[i] = 0
		default:
			dst[i] &= byte(0xFF << (8 - (bits - i*8)))
		}
	}
}
