package sched

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/vsd/vsd/internal/service"
)

// ErrUnknown is wrapped by the error New returns for a name it does not know.
var ErrUnknown = errors.New("unknown scheduler")

// names is every name New accepts, in ipvsadm's help order, then twos and
// none.
var names = [...]string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "none"}

// Names returns the names New accepts.
func Names() []string { return slices.Clone(names[:]) }

// New returns a fresh scheduler called name. flags are the service flags;
// only sh and mh look at them (FlagSched1 = fallback, FlagSched2 = port).
// A scheduler reads its flags once: a flag change needs a new scheduler.
// Before its first Update a scheduler has no destinations and returns nil.
func New(name string, flags service.Flags) (service.Scheduler, error) {
	switch name {
	case "rr":
		return &roundRobin{pos: -1}, nil
	case "wrr":
		return &weightedRoundRobin{cl: -1}, nil
	case "lc":
		return new(leastConn), nil
	case "wlc":
		return new(weightedLeastConn), nil
	case "sed":
		return new(shortestExpectedDelay), nil
	case "nq":
		return new(neverQueue), nil
	case "fo":
		return new(failOver), nil
	case "ovf":
		return new(overflow), nil
	case "twos":
		return new(twoChoices), nil
	case "sh":
		return newSourceHash(flags), nil
	case "dh":
		return new(destHash), nil
	case "mh":
		return newMaglev(flags, MaglevTableSize), nil
	case "lblc":
		return newLBLC(), nil
	case "lblcr":
		return newLBLCR(), nil
	case "none":
		return noScheduler{}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknown, name)
}

// destList is a scheduler's copy of the service's destinations in list
// order, replaced as a whole by Update and read without a lock.
type destList struct {
	p atomic.Pointer[[]*service.Dest]
}

func (l *destList) store(dests []*service.Dest) {
	c := slices.Clone(dests)
	l.p.Store(&c)
}

func (l *destList) load() []*service.Dest {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

// foldAddr is the kernel's 32-bit key for an address: the IPv4 address, or
// the XOR of the four 32-bit words of an IPv6 address, in host order. a is
// in the datapath layout (IPv4-mapped for IPv4).
func foldAddr(v6 bool, a *[16]byte) uint32 {
	if !v6 {
		return binary.BigEndian.Uint32(a[12:16])
	}
	return binary.BigEndian.Uint32(a[0:4]) ^ binary.BigEndian.Uint32(a[4:8]) ^
		binary.BigEndian.Uint32(a[8:12]) ^ binary.BigEndian.Uint32(a[12:16])
}

// hash32 is the kernel's hash_32: multiply by the 32-bit golden ratio and
// keep the top bits.
func hash32(v uint32, bits uint) uint32 { return (v * 0x61C88647) >> (32 - bits) }

// gcd returns the greatest common divisor of two positive numbers.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// weightedLeast is the wlc selection (also used by lblc and lblcr): the
// first eligible destination starts, and a later non-OVERLOAD one replaces
// the candidate only when overhead(cand)·w(d) > overhead(d)·w(cand).
// Weight-0 destinations never win (the left side is 0).
func weightedLeast(dests []*service.Dest) *service.Dest {
	var least *service.Dest
	var loh, lw int64
	i := 0
	for ; i < len(dests); i++ {
		d := dests[i]
		if d.Overloaded() {
			continue
		}
		if w := d.Weight(); w > 0 {
			least, loh, lw = d, d.Overhead(), int64(w)
			i++
			break
		}
	}
	if least == nil {
		return nil
	}
	for ; i < len(dests); i++ {
		d := dests[i]
		if d.Overloaded() {
			continue
		}
		doh, w := d.Overhead(), int64(d.Weight())
		if loh*w > doh*lw {
			least, loh, lw = d, doh, w
		}
	}
	return least
}
