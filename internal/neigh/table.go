package neigh

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
)

// Port is one of the director's ports, in director order: the index of a
// Port in the slice given to New is the port number Resolve returns.
type Port struct {
	Name  string  // interface name
	Index int     // kernel interface index
	MAC   [6]byte // the interface's MAC address
}

// Kernel ABI values (linux/rtnetlink.h, linux/neighbour.h) the snapshot
// uses; kept here so the pure part of the package needs no netlink import.
const (
	tableMain  = 254
	tableLocal = 255

	rtnUnicast = 1

	nudIncomplete = 0x01
	nudReachable  = 0x02
	nudStale      = 0x04
	nudDelay      = 0x08
	nudProbe      = 0x10
	nudFailed     = 0x20
	nudNoARP      = 0x40
	nudPermanent  = 0x80

	// nudUsable are the states whose link-layer address may be used.
	nudUsable = nudReachable | nudStale | nudDelay | nudProbe | nudPermanent | nudNoARP
)

// routeInfo is one route as the snapshot builder takes it (converted from
// netlink, or made up by tests).
type routeInfo struct {
	Table    int          // tableMain or tableLocal (others are ignored)
	Dst      netip.Prefix // masked
	Type     int          // RTN_*
	Priority int          // metric; lower wins among equal prefixes
	Hops     []hopInfo    // one, or several for a multipath route
}

// hopInfo is one next hop of a route.
type hopInfo struct {
	LinkIndex int
	Gw        netip.Addr // invalid when the destination is on-link
	Bad       bool       // a next hop the snapshot cannot use (RTA_VIA, other family)
}

// neighInfo is one kernel neighbour entry.
type neighInfo struct {
	LinkIndex int
	Addr      netip.Addr
	MAC       [6]byte
	HasMAC    bool
	State     int // NUD_*
}

// pfxKey is a masked address and its prefix length, both in the 16-byte
// layout (an IPv4 /n is a /(96+n) of the IPv4-mapped form).
type pfxKey struct {
	addr [16]byte
	bits uint8
}

// fibEntry is what a route says about the addresses it covers.
type fibEntry struct {
	priority int
	ifindex  int32
	port     uint16
	onPort   bool // the output interface is one of the ports
	unicast  bool // false: local, broadcast, multicast, blackhole, ... (no next hop)
	hasGW    bool
	gw       [16]byte
}

// fib is one routing table of one family.
type fib struct {
	lens []uint8 // prefix lengths present, longest first
	m    map[pfxKey]fibEntry
}

// lookup returns the entry of the longest prefix containing a.
func (f *fib) lookup(a *[16]byte) (fibEntry, bool) {
	for _, l := range f.lens {
		k := pfxKey{bits: l}
		maskInto(&k.addr, a, l)
		if e, ok := f.m[k]; ok {
			return e, true
		}
	}
	return fibEntry{}, false
}

// maskInto writes a masked to bits leading bits into dst.
func maskInto(dst, a *[16]byte, bits uint8) {
	full := int(bits) / 8
	copy(dst[:full], a[:full])
	if r := bits % 8; r != 0 {
		dst[full] = a[full] & (0xff << (8 - r))
	}
}

type neighKey struct {
	ifindex int32
	addr    [16]byte
}

type neighEntry struct {
	mac   [6]byte
	state uint16
}

// snapshot is an immutable view of the routes and neighbours.
type snapshot struct {
	local, main [2]fib // [0] IPv4, [1] IPv6
	neighs      map[neighKey]neighEntry
	routes      []routeInfo // kept so a neighbour-only rebuild can reuse them
}

// key16 returns a in the datapath layout (IPv4-mapped for IPv4).
func key16(a netip.Addr) [16]byte { return a.As16() }

// buildSnapshot makes a snapshot from routes and neighbours. Routes of
// other tables, neighbours of interfaces that are not ports and neighbours
// without a 6-byte link-layer address (unless FAILED/INCOMPLETE, whose state
// still matters) are left out.
func buildSnapshot(ports []Port, routes []routeInfo, neighs []neighInfo) *snapshot {
	portOf := make(map[int]uint16, len(ports))
	for i, p := range ports {
		portOf[p.Index] = uint16(i)
	}
	s := &snapshot{neighs: make(map[neighKey]neighEntry, len(neighs)), routes: routes}
	for _, t := range []*[2]fib{&s.local, &s.main} {
		for f := range t {
			t[f].m = make(map[pfxKey]fibEntry)
		}
	}
	for _, r := range routes {
		var t *[2]fib
		switch r.Table {
		case tableMain:
			t = &s.main
		case tableLocal:
			t = &s.local
		default:
			continue
		}
		if !r.Dst.IsValid() {
			continue
		}
		fam := 0
		bits := r.Dst.Bits()
		if r.Dst.Addr().Is6() {
			fam = 1
		} else {
			bits += 96
		}
		e := fibEntry{priority: r.Priority, unicast: r.Type == rtnUnicast}
		if e.unicast {
			e.unicast = false
			// The first usable hop on a port; else the first hop, which
			// then says "routed elsewhere".
			for _, h := range r.Hops {
				if h.Bad || (h.Gw.IsValid() && h.Gw.Is4() != r.Dst.Addr().Is4()) {
					continue
				}
				p, on := portOf[h.LinkIndex]
				if e.unicast && !on {
					continue
				}
				e.unicast, e.onPort, e.port, e.ifindex = true, on, p, int32(h.LinkIndex)
				e.hasGW, e.gw = h.Gw.IsValid(), [16]byte{}
				if e.hasGW {
					e.gw = key16(h.Gw)
				}
				if on {
					break
				}
			}
		}
		k := pfxKey{addr: key16(r.Dst.Masked().Addr()), bits: uint8(bits)}
		if old, dup := t[fam].m[k]; dup && !better(e, old) {
			continue
		}
		t[fam].m[k] = e
	}
	for _, t := range []*[2]fib{&s.local, &s.main} {
		for f := range t {
			seen := map[uint8]bool{}
			for k := range t[f].m {
				if !seen[k.bits] {
					seen[k.bits] = true
					t[f].lens = append(t[f].lens, k.bits)
				}
			}
			slices.SortFunc(t[f].lens, func(a, b uint8) int { return cmp.Compare(b, a) })
		}
	}
	for _, n := range neighs {
		if _, on := portOf[n.LinkIndex]; !on || !n.Addr.IsValid() {
			continue
		}
		if !n.HasMAC && n.State&nudUsable != 0 {
			continue
		}
		s.neighs[neighKey{ifindex: int32(n.LinkIndex), addr: key16(n.Addr.Unmap())}] = neighEntry{mac: n.MAC, state: uint16(n.State)}
	}
	return s
}

// better reports whether route entry e should replace old for the same
// prefix: the lower metric wins; on a tie one out of a port wins, so the
// answer does not depend on dump order.
func better(e, old fibEntry) bool {
	if e.priority != old.priority {
		return e.priority < old.priority
	}
	if e.onPort != old.onPort {
		return e.onPort
	}
	return e.ifindex < old.ifindex
}

// request asks Run to make the kernel resolve a next hop.
type request struct {
	v6      bool
	ifindex int32
	addr    [16]byte
	// learn: addr is at mac (seen in an ARP request or a neighbour
	// solicitation vsd answered); record it instead of resolving.
	learn bool
	mac   [6]byte
}

// requestQueueLen bounds the queue of resolution requests; Resolve drops
// requests when it is full.
const requestQueueLen = 256

// Table resolves next hops from an immutable snapshot of the kernel's
// routes and neighbours; Run keeps it current. Resolve is safe for
// concurrent use and takes no lock.
type Table struct {
	ports []Port
	ns    nsRef

	snap atomic.Pointer[snapshot]
	reqs chan request

	// recent holds hashes of recently queued requests (one slot per hash
	// bucket), so a flood of packets towards an unresolved next hop queues
	// about one request per second instead of one per packet. Run clears it
	// every second and after every rebuild.
	recent [256]atomic.Uint64

	// learned holds addresses Learn saw until the next rebuild, so
	// Resolve can use them before the kernel's entry (which Learn also
	// asks for) reaches a snapshot: the first reply to a client that just
	// asked for a VIP comes a few hundred µs after the question, a
	// rebuild some milliseconds later.
	learned [64]learnSlot

	requests, dropped, rebuilds, useErrors, fallbacks atomic.Uint64

	forceFallback bool // tests: skip NTF_USE
}

// Stats are a Table's counters.
type Stats struct {
	Requests  uint64 // resolution requests queued by Resolve
	Dropped   uint64 // requests dropped because the queue was full
	Rebuilds  uint64 // snapshots built by Run
	UseErrors uint64 // neighbour "use" requests the kernel refused
	Fallbacks uint64 // next hops resolved by sending a UDP datagram instead
}

// Stats returns the table's counters (safe from any goroutine).
func (t *Table) Stats() Stats {
	return Stats{
		Requests: t.requests.Load(), Dropped: t.dropped.Load(), Rebuilds: t.rebuilds.Load(),
		UseErrors: t.useErrors.Load(), Fallbacks: t.fallbacks.Load(),
	}
}

func newTable(ports []Port) (*Table, error) {
	seen := map[int]bool{}
	for i, p := range ports {
		if p.Index <= 0 {
			return nil, fmt.Errorf("neigh: port %d (%q): bad interface index %d", i, p.Name, p.Index)
		}
		if seen[p.Index] {
			return nil, fmt.Errorf("neigh: port %d (%q): interface index %d given twice", i, p.Name, p.Index)
		}
		seen[p.Index] = true
	}
	if len(ports) > 1<<16 {
		return nil, fmt.Errorf("neigh: %d ports, at most %d", len(ports), 1<<16)
	}
	return &Table{ports: slices.Clone(ports), reqs: make(chan request, requestQueueLen)}, nil
}

// Resolve returns the MAC address of the next hop towards addr and the port
// to send from. addr is in the datapath layout: for IPv4 (v6 false) the
// IPv4-mapped form, of which only the last 4 bytes are read. It answers
// ok=false when the best route is not a unicast route out of a port (a
// local address, a broadcast, a blackhole, another interface, no route), or
// when the next hop's neighbour entry is missing or not usable; in the last
// case it also queues a request for Run to have the kernel resolve it.
// Lock-free, allocation-free, safe for concurrent use.
func (t *Table) Resolve(v6 bool, addr [16]byte) (mac [6]byte, port uint16, ok bool) {
	s := t.snap.Load()
	fam := 1
	if !v6 {
		fam = 0
		addr = [16]byte{10: 0xff, 11: 0xff, 12: addr[12], 13: addr[13], 14: addr[14], 15: addr[15]}
	}
	e, found := s.local[fam].lookup(&addr)
	if !found {
		e, found = s.main[fam].lookup(&addr)
	}
	if !found || !e.unicast || !e.onPort {
		return mac, 0, false
	}
	k := neighKey{ifindex: e.ifindex, addr: addr}
	if e.hasGW {
		k.addr = e.gw
	}
	n, have := s.neighs[k]
	if have && n.state&nudUsable != 0 {
		if n.state&nudStale != 0 {
			// The datapath bypasses the kernel, so nothing else would
			// make it re-confirm a stale entry that is in use.
			t.request(request{v6: v6, ifindex: k.ifindex, addr: k.addr})
		}
		return n.mac, e.port, true
	}
	// No usable kernel entry (yet): perhaps the next hop has just asked
	// for a VIP. What it told us is fresher than a FAILED or INCOMPLETE
	// entry, as it is for the kernel's own ARP input.
	if m, ok := t.learned[learnIndex(&k.addr, int(e.port))].get(&k.addr, int(e.port)); ok {
		return m, e.port, true
	}
	t.request(request{v6: v6, ifindex: k.ifindex, addr: k.addr})
	return mac, 0, false
}

// learnSlot is one learned address, written under a sequence lock made of
// atomics (a writer takes it by moving seq from even to odd and gives it
// back at the next even value; a reader that sees seq odd or changed
// ignores what it read). mp == 0 means empty.
type learnSlot struct {
	seq    atomic.Uint64
	a0, a1 atomic.Uint64 // the address, datapath layout
	mp     atomic.Uint64 // MAC in the low 48 bits, port+1 above
}

func learnIndex(addr *[16]byte, port int) int {
	h := binary.LittleEndian.Uint64(addr[0:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(addr[8:16]) ^ uint64(port)
	h *= 0xff51afd7ed558ccd
	return int(h >> 58) // 64 slots
}

// put stores addr → mac, port unless another writer holds the slot.
func (sl *learnSlot) put(addr *[16]byte, mac [6]byte, port int) {
	s := sl.seq.Load()
	if s&1 != 0 || !sl.seq.CompareAndSwap(s, s+1) {
		return
	}
	sl.a0.Store(binary.LittleEndian.Uint64(addr[0:8]))
	sl.a1.Store(binary.LittleEndian.Uint64(addr[8:16]))
	var mp uint64
	if port >= 0 {
		for i, b := range mac {
			mp |= uint64(b) << (8 * i)
		}
		mp |= uint64(port+1) << 48
	}
	sl.mp.Store(mp)
	sl.seq.Store(s + 2)
}

// get returns the MAC learned for addr on port, if this slot holds it.
func (sl *learnSlot) get(addr *[16]byte, port int) (mac [6]byte, ok bool) {
	s := sl.seq.Load()
	if s&1 != 0 {
		return mac, false
	}
	a0, a1, mp := sl.a0.Load(), sl.a1.Load(), sl.mp.Load()
	if sl.seq.Load() != s || mp == 0 || mp>>48 != uint64(port+1) ||
		a0 != binary.LittleEndian.Uint64(addr[0:8]) || a1 != binary.LittleEndian.Uint64(addr[8:16]) {
		return mac, false
	}
	for i := range mac {
		mac[i] = byte(mp >> (8 * i))
	}
	return mac, true
}

// clearLearned forgets the learned addresses the kernel now has an entry
// for in snap (Learn asked it to make one): from then on the kernel's word
// counts, also when it finds the address gone. A learned address the
// kernel does not know yet stays, so a rebuild that happens to run between
// Learn and the kernel's update does not lose it.
func (t *Table) clearLearned(snap *snapshot) {
	var zero [16]byte
	for i := range t.learned {
		sl := &t.learned[i]
		s := sl.seq.Load()
		mp := sl.mp.Load()
		if mp == 0 || s&1 != 0 {
			continue
		}
		var addr [16]byte
		binary.LittleEndian.PutUint64(addr[0:8], sl.a0.Load())
		binary.LittleEndian.PutUint64(addr[8:16], sl.a1.Load())
		port := int(mp>>48) - 1
		if sl.seq.Load() != s || port < 0 || port >= len(t.ports) {
			continue
		}
		if _, have := snap.neighs[neighKey{ifindex: int32(t.ports[port].Index), addr: addr}]; have {
			sl.put(&zero, [6]byte{}, -1)
		}
	}
}

// Learn tells the table that addr (datapath layout, like Resolve) is at
// mac on port: the sender of an ARP request or neighbour solicitation for a
// VIP that vsd answered. The kernel would have made a STALE neighbour entry
// from such a request had it seen it (it did not: the request was vsd's);
// Run makes that entry, so the reply to the sender's first packet does not
// wait for a resolution. Nothing is queued when the table already has this
// MAC for addr. Lock-free, allocation-free, never blocks.
func (t *Table) Learn(v6 bool, addr [16]byte, mac [6]byte, port int) {
	if port < 0 || port >= len(t.ports) || mac == ([6]byte{}) || mac[0]&1 != 0 {
		return
	}
	if !v6 {
		addr = [16]byte{10: 0xff, 11: 0xff, 12: addr[12], 13: addr[13], 14: addr[14], 15: addr[15]}
		if addr[12]|addr[13]|addr[14]|addr[15] == 0 {
			return
		}
	} else if addr == ([16]byte{}) || addr[0] == 0xff {
		return
	}
	k := neighKey{ifindex: int32(t.ports[port].Index), addr: addr}
	if n, have := t.snap.Load().neighs[k]; have && n.state&nudUsable != 0 && n.mac == mac {
		return
	}
	t.learned[learnIndex(&addr, port)].put(&addr, mac, port)
	t.request(request{v6: v6, ifindex: k.ifindex, addr: addr, learn: true, mac: mac})
}

// request queues r unless the same request was queued recently or the
// queue is full. It never blocks.
func (t *Table) request(r request) {
	h := uint64(14695981039346656037)
	for _, b := range r.addr {
		h = (h ^ uint64(b)) * 1099511628211
	}
	h = (h^uint64(uint32(r.ifindex)))*1099511628211 | 1
	if r.learn {
		h ^= 2 // a learned address does not hide a resolution request, nor the reverse
	}
	slot := &t.recent[h&uint64(len(t.recent)-1)]
	if slot.Load() == h {
		return
	}
	slot.Store(h)
	select {
	case t.reqs <- r:
		t.requests.Add(1)
	default:
		t.dropped.Add(1)
	}
}

// clearRecent forgets which requests were queued.
func (t *Table) clearRecent() {
	for i := range t.recent {
		t.recent[i].Store(0)
	}
}
