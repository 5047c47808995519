package conntrack

import (
	"sync/atomic"

	"github.com/vsd/vsd/internal/clock"
)

// Read-only lookups, for explaining what the packet path would do (vsadm
// --explain) without doing it. They match exactly as LookupInLocked and
// LookupTemplateLocked do but never expire anything: an entry whose time is
// up is skipped where the lookup would free it, and kept where the lookup
// would keep it (an expired template that still controls conns, which the
// lookup postpones and then uses). They write nothing: no entry, no
// counter, no timer. The stripe lock of bucket h must be held. Not for the
// packet path: a dead entry left in the chain costs every later lookup.

// FindInLocked is LookupInLocked without lazy expiry.
func (t *Table) FindInLocked(h uint32, k *Key, now clock.Time) uint32 {
	code := protoCode[k.Proto]
	if code == 0xff {
		return 0
	}
	want := uint16(code) << metaProtoShift
	if k.Cport == 0 {
		want |= uint16(FlagNoCPort)
	}
	if k.V6 {
		want |= metaV6
	}
	ports := uint32(k.Cport) | uint32(k.Vport)<<16
	nowT := ticksFloor(now)
	for idx := t.buckets[h]; idx != 0; idx = t.at(idx).next {
		e := t.at(idx)
		if expiredAt(e.expires, nowT) {
			continue // LookupInLocked frees it (conns are never postponed)
		}
		if e.ports == ports && e.meta&inMatch == want && t.addrsEqual(e, k.V6, &k.Caddr, &k.Vaddr) {
			return idx
		}
	}
	return 0
}

// FindTemplateLocked is LookupTemplateLocked without lazy expiry.
func (t *Table) FindTemplateLocked(h uint32, k *Key, now clock.Time) uint32 {
	code := protoCode[k.Proto]
	if code == 0xff {
		return 0
	}
	want := uint16(code)<<metaProtoShift | uint16(FlagTemplate)
	ports := uint32(k.Vport) << 16
	vaddr := k.Vaddr
	if k.V6 {
		want |= metaV6
		if code == 0 {
			clear(vaddr[4:])
		}
	}
	nowT := ticksFloor(now)
	for idx := t.buckets[h]; idx != 0; idx = t.at(idx).next {
		e := t.at(idx)
		if t.deadLocked(e, nowT) && (e.meta&uint16(FlagTemplate) == 0 || atomic.LoadUint32(&e.ctl)&ctlCountMask == 0) {
			continue // LookupTemplateLocked frees it; a controlling template is postponed and stays findable
		}
		if e.ports == ports && e.meta&tmplMatch == want && t.addrsEqual(e, k.V6, &k.Caddr, &vaddr) {
			return idx
		}
	}
	return 0
}

// addrsEqual compares e's client and virtual address with caddr, vaddr
// (e's family already matched v6).
func (t *Table) addrsEqual(e *Entry, v6 bool, caddr, vaddr *[16]byte) bool {
	if !v6 {
		return e.addrs == uint64(v4Word(caddr))|uint64(v4Word(vaddr))<<32
	}
	if uint32(e.addrs>>32) != fingerprint(caddr, vaddr) {
		return false
	}
	x := t.ext(e)
	return x.caddr == *caddr && x.vaddr == *vaddr
}
