package conntrack

import (
	"sync/atomic"
	"unsafe"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Lookups, insertion and removal. Every function here that ends in Locked
// needs the stripe lock of bucket h (Table.Lock(h)) held by the caller, and
// h must be the bucket Hash gives for the key. None allocates.

const (
	// inMatch are the meta bits an inbound lookup compares.
	inMatch = metaV6 | metaProtoMask | uint16(FlagNoCPort)
	// tmplMatch are the meta bits a template lookup compares.
	tmplMatch = metaV6 | metaProtoMask | uint16(FlagTemplate)
	// outMatch are the meta bits an outbound lookup compares (it never
	// matches templates).
	outMatch = metaV6 | metaProtoMask | uint16(FlagTemplate)
)

// LookupInLocked finds the conn of an inbound (client → director) packet:
// equal family, protocol, client and virtual address and port, and the
// client-port-known rule: a key with Cport 0 matches only NO_CPORT conns, a
// key with a non-zero Cport only conns without NO_CPORT. Templates never
// match (their client port is 0 and they lack NO_CPORT).
//
// When nothing matches and NoCPortConns() > 0, the kernel retries with
// Cport 0; that is a different bucket, so the caller does it (unlock, hash
// with cport 0, lock, look up, then FillCPort).
//
// Entries met on the way whose time is up are unlinked and freed (lazy
// expiry; Unbind is called for them). Returns the entry index, 0 if none.
func (t *Table) LookupInLocked(h uint32, k *Key, now clock.Time) uint32 {
	return t.lookupIn(h, k.V6, k.Proto, &k.Caddr, &k.Vaddr, k.Cport, k.Vport, now)
}

// LookupPacketLocked is LookupInLocked for the key of an inbound packet:
// its source is the client side, its destination the virtual side. It
// saves the engine copying the packet's addresses into a Key (13 ns of
// the 190 ns an established packet cost, EstablishedNAT1K profile).
func (t *Table) LookupPacketLocked(h uint32, p *packet.Parsed, now clock.Time) uint32 {
	return t.lookupIn(h, p.V6, p.Proto, &p.Src, &p.Dst, p.SrcPort, p.DstPort, now)
}

func (t *Table) lookupIn(h uint32, v6 bool, proto packet.Proto, caddr, vaddr *[16]byte, cport, vport uint16, now clock.Time) uint32 {
	code := protoCode[proto]
	if code == 0xff {
		return 0
	}
	want := uint16(code) << metaProtoShift
	if cport == 0 {
		want |= uint16(FlagNoCPort)
	}
	ports := uint32(cport) | uint32(vport)<<16
	var addrs uint64
	if v6 {
		want |= metaV6
		addrs = uint64(fingerprint(caddr, vaddr)) << 32
	} else {
		addrs = uint64(v4Word(caddr)) | uint64(v4Word(vaddr))<<32
	}
	nowT := ticksFloor(now)
	s := t.stripeOf(h)
	prev := &t.buckets[h]
	for idx := *prev; idx != 0; {
		e := t.at(idx)
		if expiredAt(e.expires, nowT) && t.expireLocked(s, prev, idx, e, now) {
			idx = *prev
			continue
		}
		if e.ports == ports && e.meta&inMatch == want {
			if !v6 {
				if e.addrs == addrs {
					return idx
				}
			} else if e.addrs>>32 == addrs>>32 {
				if x := t.ext(e); x.caddr == *caddr && x.vaddr == *vaddr {
					return idx
				}
			}
		}
		prev = &e.next
		idx = *prev
	}
	return 0
}

// LookupOutLocked finds the conn of a reply (real server → client)
// packet, hashed on the reply's destination: caddr/cport are the reply's
// destination (the client), saddr/sport its source. It matches conns
// (never templates) with equal family, protocol, client address and port,
// and whose expected reply source is (saddr, sport): the destination's
// address (SetDestAddr) and DPort for NAT conns, the virtual address and
// port for every other method. Lazy expiry as in LookupInLocked.
func (t *Table) LookupOutLocked(h uint32, v6 bool, proto packet.Proto, caddr *[16]byte, cport uint16, saddr *[16]byte, sport uint16, now clock.Time) uint32 {
	code := protoCode[proto]
	if code == 0xff {
		return 0
	}
	want := uint16(code) << metaProtoShift
	var cw, sw uint32
	if v6 {
		want |= metaV6
	} else {
		cw, sw = v4Word(caddr), v4Word(saddr)
	}
	dests := *t.dests.Load()
	nowT := ticksFloor(now)
	s := t.stripeOf(h)
	prev := &t.buckets[h]
	for idx := *prev; idx != 0; {
		e := t.at(idx)
		if expiredAt(e.expires, nowT) && t.expireLocked(s, prev, idx, e, now) {
			idx = *prev
			continue
		}
		if uint16(e.ports) == cport && e.meta&outMatch == want {
			var x *extension
			if !v6 {
				if uint32(e.addrs) != cw {
					goto next
				}
			} else if x = t.ext(e); x.caddr != *caddr {
				goto next
			}
			if e.meta&uint16(FwdMask) == uint16(FwdMasq) {
				if d := e.dest & destMask; e.dport == sport && int(d) < len(dests) && dests[d] == *saddr {
					return idx
				}
			} else if uint16(e.ports>>16) == sport {
				if !v6 {
					if uint32(e.addrs>>32) == sw {
						return idx
					}
				} else if x.vaddr == *saddr {
					return idx
				}
			}
		}
	next:
		prev = &e.next
		idx = *prev
	}
	return 0
}

// LookupTemplateLocked finds a live persistence template: equal family,
// protocol (0 for fwmark templates), masked client network (k.Caddr),
// virtual address (k.Vaddr; FwmarkAddr for fwmark templates, whose IPv6
// form compares the first 32 bits only), k.Vport, and client port 0
// (k.Cport is ignored). Lazy expiry as in LookupInLocked; templates deleted
// through a forced delete of their last conn are freed here too.
func (t *Table) LookupTemplateLocked(h uint32, k *Key, now clock.Time) uint32 {
	code := protoCode[k.Proto]
	if code == 0xff {
		return 0
	}
	want := uint16(code)<<metaProtoShift | uint16(FlagTemplate)
	ports := uint32(k.Vport) << 16
	vaddr := k.Vaddr
	var addrs uint64
	if k.V6 {
		want |= metaV6
		if code == 0 {
			clear(vaddr[4:])
		}
		addrs = uint64(fingerprint(&k.Caddr, &vaddr)) << 32
	} else {
		addrs = uint64(v4Word(&k.Caddr)) | uint64(v4Word(&vaddr))<<32
	}
	nowT := ticksFloor(now)
	s := t.stripeOf(h)
	prev := &t.buckets[h]
	for idx := *prev; idx != 0; {
		e := t.at(idx)
		if t.deadLocked(e, nowT) && t.expireLocked(s, prev, idx, e, now) {
			idx = *prev
			continue
		}
		if e.ports == ports && e.meta&tmplMatch == want {
			if !k.V6 {
				if e.addrs == addrs {
					return idx
				}
			} else if e.addrs>>32 == addrs>>32 {
				if x := t.ext(e); x.caddr == k.Caddr && x.vaddr == vaddr {
					return idx
				}
			}
		}
		prev = &e.next
		idx = *prev
	}
	return 0
}

// deadLocked reports whether e has timed out, or is a template condemned by
// a forced delete of its last conn.
func (t *Table) deadLocked(e *Entry, nowT uint32) bool {
	if expiredAt(e.expires, nowT) {
		return true
	}
	return e.meta&uint16(FlagTemplate) != 0 && atomic.LoadUint32(&e.ctl)&(ctlDoomed|ctlCountMask) == ctlDoomed
}

// expireLocked handles an entry found dead while walking a chain of stripe
// s; prev points at the link to idx. A template that still controls conns is
// postponed by PostponeTimeout (false); anything else is unlinked and freed
// (true).
func (t *Table) expireLocked(s *stripe, prev *uint32, idx uint32, e *Entry, now clock.Time) bool {
	if e.meta&uint16(FlagTemplate) != 0 {
		v := atomic.LoadUint32(&e.ctl)
		if v&ctlCountMask != 0 {
			// Nobody can attach to it meanwhile: attaching needs this lock.
			e.expires = expiryTicks(now, PostponeTimeout)
			s.postpone++
			return false
		}
		if v&ctlDoomed != 0 {
			s.deleted++
		} else {
			s.expired++
		}
	} else {
		s.expired++
	}
	*prev = e.next
	t.releaseLocked(s, idx, e, false)
	return true
}

// releaseLocked frees entry idx, already unlinked from a chain of stripe s:
// detaches it from its template, tells the Unbinder, and returns its slots
// to s's free list. forced marks a delete (not an expiry): a template left
// without conns and not assured is then condemned too (ipvs-semantics §1.4
// step 3).
func (t *Table) releaseLocked(s *stripe, idx uint32, e *Entry, forced bool) {
	if e.meta&uint16(FlagTemplate) != 0 {
		s.templates--
	} else {
		s.conns--
		if c := e.ctl; c != 0 && e.meta&metaSeq == 0 {
			t.detach(c, forced)
		}
	}
	if e.meta&uint16(FlagNoCPort) != 0 {
		t.nocport.Add(-1)
	}
	if t.unbinder != nil {
		t.unbinder.Unbind(idx, e)
	}
	n := int64(1)
	if e.meta&metaV6 != 0 {
		t.freeSlotLocked(s, uint32(e.addrs))
		n = 2
	}
	t.freeSlotLocked(s, idx)
	s.slots -= n
	t.used.Add(-n)
	if t.dry.Load() {
		t.dry.Store(false)
	}
}

// detach drops a conn's control reference on template tidx. The template is
// alive until the reference is gone, and is not touched afterwards.
func (t *Table) detach(tidx uint32, forced bool) {
	p := &t.at(tidx).ctl
	if !forced {
		atomic.AddUint32(p, ^uint32(0))
		return
	}
	for {
		v := atomic.LoadUint32(p)
		n := v - 1
		if n&ctlCountMask == 0 && v&ctlAssured == 0 {
			n |= ctlDoomed
		}
		if atomic.CompareAndSwapUint32(p, v, n) {
			return
		}
	}
}

// InsertLocked adds c to bucket h (= Hash(c.V6, c.Proto, &c.Caddr, c.Cport))
// and returns its index. It does not look for duplicates: look up first
// under the same lock. It returns false, counting the refusal, when the slot
// budget is exhausted (the table never grows past it), or when c is invalid:
// a protocol other than TCP, UDP or SCTP (or 0 for a template), a Dest
// above MaxDest, or a template with a Control (only conns are controlled).
//
// c.Expires is clamped to now+MaxTimeout. If c.Control is not 0 the conn
// takes over the caller's control reference on that template
// (ControlLocked); on a false return the caller still owns it.
func (t *Table) InsertLocked(h uint32, c *Conn, now clock.Time) (uint32, bool) {
	s := t.stripeOf(h)
	code := protoCode[c.Proto]
	template := c.Flags&FlagTemplate != 0
	if code == 0xff || (code == 0 && !template) || (template && c.Control != 0) || c.Dest > MaxDest ||
		(c.SeqProxy && (template || c.Control != 0)) {
		s.invalid++
		return 0, false
	}
	// The budget caps the slots in use (SetBudget may have lowered it
	// below what is in use: then inserts are refused until enough expire).
	n := int64(1)
	if c.V6 {
		n = 2
	}
	if t.used.Add(n) > t.capSlots.Load() {
		t.used.Add(-n)
		s.refused++
		return 0, false
	}
	idx := t.allocLocked(s)
	if idx == 0 {
		t.used.Add(-n)
		s.refused++
		return 0, false
	}
	e := t.at(idx)
	meta := uint16(c.Flags&flagsMask) | uint16(code)<<metaProtoShift
	if c.V6 {
		xi := t.allocLocked(s)
		if xi == 0 {
			t.freeSlotLocked(s, idx)
			t.used.Add(-n)
			s.refused++
			return 0, false
		}
		x := (*extension)(unsafe.Pointer(t.at(xi)))
		x.caddr, x.vaddr = c.Caddr, c.Vaddr
		if code == 0 {
			clear(x.vaddr[4:])
		}
		meta |= metaV6
		e.addrs = uint64(xi) | uint64(fingerprint(&x.caddr, &x.vaddr))<<32
		s.slots++
	} else {
		e.addrs = uint64(v4Word(&c.Caddr)) | uint64(v4Word(&c.Vaddr))<<32
	}
	e.ports = uint32(c.Cport) | uint32(c.Vport)<<16
	e.dport = c.Dport
	e.dest = c.Dest
	if d := c.Expires.Sub(now); d > MaxTimeout {
		e.expires = expiryTicks(now, MaxTimeout)
	} else {
		e.expires = ticksCeil(c.Expires)
	}
	if template {
		var ctl uint32
		if c.State == TemplateAssured {
			ctl = ctlAssured
		}
		atomic.StoreUint32(&e.ctl, ctl)
		s.templates++
	} else {
		meta |= uint16(c.State) << metaStateShift & metaStateMask
		e.ctl = c.Control
		if c.SeqProxy {
			meta |= metaSeq
			e.ctl = c.Seq
		}
		s.conns++
	}
	e.meta = meta
	if c.Flags&FlagNoCPort != 0 {
		t.nocport.Add(1)
	}
	e.next = t.buckets[h]
	t.buckets[h] = idx
	s.slots++
	s.inserted++
	return idx, true
}

// ControlLocked takes a control reference on template tidx (n_control++),
// to be handed to a conn through Conn.Control or given back with
// Uncontrol. The stripe lock of the template's bucket must be held (it
// guarantees the template is alive); tidx must come from
// LookupTemplateLocked or InsertLocked under that lock. A controlled
// template does not expire: its expiry is postponed (PostponeTimeout).
func (t *Table) ControlLocked(tidx uint32) {
	atomic.AddUint32(&t.at(tidx).ctl, 1)
}

// Uncontrol gives back a control reference that was not handed to a conn
// (the conn insert failed). No lock is needed.
func (t *Table) Uncontrol(tidx uint32) { t.detach(tidx, false) }

// Assure marks template tidx ASSURED (a controlled TCP/SCTP conn reached
// ESTABLISHED, or a controlled UDP conn saw a reply). The caller holds a
// reference on it, typically by holding the lock of a conn it controls; no
// lock on the template is needed.
func (t *Table) Assure(tidx uint32) {
	atomic.OrUint32(&t.at(tidx).ctl, ctlAssured)
}

// DeleteLocked removes entry idx from bucket h now (the kernel's "expire
// now", used for connection reuse and expire_nodest_conn in the packet
// path): it is unlinked, detached from its template and freed (Unbind is
// called). A template that still controls conns is not removed. Returns
// whether the entry was removed.
func (t *Table) DeleteLocked(h, idx uint32) bool {
	s := t.stripeOf(h)
	prev := &t.buckets[h]
	for i := *prev; i != 0; i = *prev {
		e := t.at(i)
		if i == idx {
			if e.Controls() != 0 {
				return false
			}
			*prev = e.next
			s.deleted++
			t.releaseLocked(s, idx, e, false)
			return true
		}
		prev = &e.next
	}
	return false
}

// FillCPort sets the client port of NO_CPORT conn idx, found in bucket h,
// clears NO_CPORT and moves it to the bucket of its new key
// (ip_vs_conn_fill_cport). The caller holds no stripe lock. Returns false if
// idx is no longer a NO_CPORT entry of bucket h, or cport is 0.
func (t *Table) FillCPort(h, idx uint32, cport uint16) bool {
	if cport == 0 {
		return false
	}
	s := t.stripeOf(h)
	s.mu.Lock()
	prev := &t.buckets[h]
	var e *Entry
	for i := *prev; i != 0; i = *prev {
		if i == idx {
			e = t.at(i)
			break
		}
		prev = &t.at(i).next
	}
	if e == nil || e.meta&uint16(FlagNoCPort) == 0 || e.IsTemplate() {
		s.mu.Unlock()
		return false
	}
	*prev = e.next
	slots := int64(1)
	if e.V6() {
		slots = 2
	}
	s.conns--
	s.slots -= slots
	// Unlinked: no walker can reach it until it is linked again.
	e.meta &^= uint16(FlagNoCPort)
	e.ports = e.ports&0xffff0000 | uint32(cport)
	caddr, _ := t.AddrsLocked(idx)
	v6, proto := e.V6(), e.Proto()
	s.mu.Unlock()
	t.nocport.Add(-1)

	h2 := t.Hash(v6, proto, &caddr, cport)
	s2 := t.stripeOf(h2)
	s2.mu.Lock()
	e.next = t.buckets[h2]
	t.buckets[h2] = idx
	s2.conns++
	s2.slots += slots
	s2.mu.Unlock()
	return true
}

// NoCPortConns returns how many NO_CPORT conns the table holds; while it is
// 0 an inbound miss needs no retry with client port 0.
func (t *Table) NoCPortConns() int64 { return t.nocport.Load() }
