package sched

import (
	"math/bits"
	"sync/atomic"

	"github.com/vsd/vsd/internal/service"
)

// MaglevTableSize is the mh lookup table size M (the kernel's default
// CONFIG_IP_VS_MH_TAB_INDEX 12). A service may not have more destinations
// than this (the kernel answers -EINVAL); the control plane should refuse
// them. Extra destinations get no slot here.
const MaglevTableSize = 4093

// mhTabBits is the kernel's IP_VS_MH_TAB_BITS (CONFIG_IP_VS_MH_TAB_INDEX/2):
// weights are shifted down so that max weight / gcd keeps this many bits.
const mhTabBits = 6

// The kernel's fixed (not random) keys, so every director builds the same
// table for the same destinations.
var (
	mhKey1 = sipKey{K0: 2654435761, K1: 2654435761}
	mhKey2 = sipKey{K0: 2654446892, K1: 2654446892}
)

// mhTable is an immutable lookup table of M slots; nil = empty slot.
type mhTable struct{ slots []*service.Dest }

// maglev is mh (ipvs-semantics.md §5.12). Update builds a new table and
// publishes it through an atomic pointer, so Schedule takes no lock.
type maglev struct {
	fallback bool // FlagSched1 (mh-fallback)
	port     bool // FlagSched2 (mh-port)
	size     uint32
	table    atomic.Pointer[mhTable]
}

func newMaglev(flags service.Flags, size int) *maglev {
	return &maglev{fallback: flags&service.FlagSched1 != 0, port: flags&service.FlagSched2 != 0, size: uint32(size)}
}

func (s *maglev) Name() string { return "mh" }

// mhHash is the kernel's ip_vs_mh_hashkey.
func mhHash(key sipKey, addr uint32, port uint16, offset uint32) uint32 {
	return key.Hash4(offset + uint32(port) + addr)
}

// destFold is foldAddr for a destination: the kernel folds it by the
// service's address family, and keeps an IPv4 address in the first word
// with zeros after it.
func destFold(d *service.Dest) uint32 {
	v6 := d.Addr.Is6()
	if d.Svc.Addr.IsValid() {
		v6 = d.Svc.Addr.Is6()
	}
	var a [16]byte
	switch {
	case d.Addr.Is4() && v6: // IPv4 tunnel destination of an IPv6 service
		v4 := d.Addr.As4()
		copy(a[:4], v4[:])
	case d.Addr.Is6() && !v6: // IPv6 tunnel destination of an IPv4 service: first word
		a16 := d.Addr.As16()
		copy(a[12:], a16[:4])
	default:
		a = d.Addr.As16()
	}
	return foldAddr(v6, &a)
}

// mhSetup is one destination's state while the table is populated.
type mhSetup struct {
	dest       *service.Dest
	perm, skip uint32
	turns      int
}

// Update rebuilds the table (kernel: ip_vs_mh_reassign).
func (s *maglev) Update(dests []*service.Dest) {
	s.table.Store(buildMaglev(dests, s.size))
}

func buildMaglev(dests []*service.Dest, m uint32) *mhTable {
	t := &mhTable{slots: make([]*service.Dest, m)}
	// Weights are last_weight: a quiesced destination keeps its slots.
	g, maxW := 0, 0
	for _, d := range dests {
		if w := int(d.Config().LastWeight); w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
			maxW = max(maxW, w)
		}
	}
	if g < 1 {
		return t // no destinations, or none ever had a weight
	}
	rshift := max(0, bits.Len(uint(maxW/g))-mhTabBits)
	setup := make([]mhSetup, len(dests))
	for i, d := range dests {
		addr := destFold(d)
		lw := int(d.Config().LastWeight)
		turns := (lw / g) >> rshift
		if turns == 0 && lw != 0 {
			turns = 1
		}
		offset := mhHash(mhKey1, addr, d.Port, 0) % m
		setup[i] = mhSetup{
			dest:  d,
			perm:  offset,
			skip:  mhHash(mhKey2, addr, d.Port, 0)%(m-1) + 1,
			turns: turns,
		}
	}
	taken := make([]bool, m)
	n := uint32(0)
	for {
		for i := range setup {
			ds := &setup[i]
			for range ds.turns {
				c := ds.perm
				for taken[c] {
					c += ds.skip
					if c >= m {
						c -= m
					}
				}
				ds.perm = c
				taken[c] = true
				t.slots[c] = ds.dest
				if n++; n == m {
					return t
				}
			}
		}
	}
}

// Schedule hashes the client address (and source port with mh-port).
func (s *maglev) Schedule(r *service.Request) *service.Dest {
	t := s.table.Load()
	if t == nil {
		return nil
	}
	m := uint32(len(t.slots))
	addr, port := foldAddr(r.V6, &r.Src), hashPort(s.port, r)
	ihash := mhHash(mhKey1, addr, port, 0) % m
	d := t.slots[ihash]
	if d == nil {
		return nil
	}
	if hashAvailable(d) {
		return d
	}
	if !s.fallback {
		return nil
	}
	for offset := range m {
		d = t.slots[mhHash(mhKey1, addr, port, (offset+ihash)%m)%m]
		if d == nil {
			break
		}
		if hashAvailable(d) {
			return d
		}
	}
	return nil
}
