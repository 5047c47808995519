package sched

import (
	"sync/atomic"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// shBits is the kernel's CONFIG_IP_VS_SH_TAB_BITS.
const (
	shBits = 8
	shSize = 1 << shBits
	shMask = shSize - 1
)

// bucketTable is an immutable sh or dh bucket table; nil entries are empty
// buckets.
type bucketTable [shSize]*service.Dest

// sourceHash is sh (ipvs-semantics.md §5.10). Update builds a new table and
// publishes it through an atomic pointer, so Schedule takes no lock.
type sourceHash struct {
	fallback bool // FlagSched1 (sh-fallback)
	port     bool // FlagSched2 (sh-port)
	table    atomic.Pointer[bucketTable]
}

func newSourceHash(flags service.Flags) *sourceHash {
	return &sourceHash{fallback: flags&service.FlagSched1 != 0, port: flags&service.FlagSched2 != 0}
}

func (s *sourceHash) Name() string { return "sh" }

// Update walks the list cyclically: each destination takes weight
// consecutive buckets (at least one, even with weight 0) before the next.
func (s *sourceHash) Update(dests []*service.Dest) {
	t := new(bucketTable)
	if len(dests) > 0 {
		di, count := 0, int32(0)
		for i := range t {
			d := dests[di]
			t[i] = d
			count++
			if count >= d.Weight() {
				di, count = (di+1)%len(dests), 0
			}
		}
	}
	s.table.Store(t)
}

// shBucket is the kernel's ip_vs_sh_hashkey.
func shBucket(addr uint32, port uint16, offset uint32) uint32 {
	return (offset + hash32(uint32(port)+addr, shBits)) & shMask
}

// hashAvailable is the sh/mh test of a bucket's destination: a weight and
// not OVERLOAD (the AVAILABLE flag is not looked at).
func hashAvailable(d *service.Dest) bool { return d.Weight() > 0 && !d.Overloaded() }

// hashPort is the port sh and mh mix into the key: the source port when
// the service asks for it and the protocol has ports, else 0.
func hashPort(withPort bool, r *service.Request) uint16 {
	if withPort {
		switch r.Proto {
		case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
			return r.SrcPort
		}
	}
	return 0
}

// Schedule hashes the client address (r.Src; the caller puts the client
// there also for ICMP and other inverse views).
func (s *sourceHash) Schedule(r *service.Request) *service.Dest {
	t := s.table.Load()
	if t == nil {
		return nil
	}
	addr, port := foldAddr(r.V6, &r.Src), hashPort(s.port, r)
	ihash := shBucket(addr, port, 0)
	d := t[ihash]
	if d == nil {
		return nil
	}
	if hashAvailable(d) {
		return d
	}
	if !s.fallback {
		return nil
	}
	for offset := range uint32(shSize) {
		d = t[shBucket(addr, port, (offset+ihash)%shSize)]
		if d == nil {
			break
		}
		if hashAvailable(d) {
			return d
		}
	}
	return nil
}
