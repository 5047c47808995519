package frag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// Key names one datagram: the fields all its fragments share.
type Key struct {
	V6       bool
	Proto    uint8
	ID       uint32   // IPv4 identification (16 bits) or IPv6 fragment identification
	Src, Dst [16]byte // IPv4 in IPv4-mapped form
}

// Value is the caller's decision for a datagram, opaque to the tracker.
type Value struct {
	Word uint64
	Addr [16]byte
}

// Config sizes a Tracker. Zero fields take the defaults.
type Config struct {
	Entries   int           // decision slots (rounded up to a power of two, at least 64; default 4096)
	Remember  time.Duration // how long a decision is kept after the last fragment that used it (default 2 s)
	HoldFrags int           // early non-first fragments held at most (default 64; negative: hold none)
	HoldBytes int           // bytes of frame the held fragments may take in all (default 256 KiB)
	HoldTime  time.Duration // how long one fragment is held waiting for its first (default 2 s)
}

// Defaults.
const (
	DefaultEntries   = 4096
	DefaultRemember  = 2 * time.Second
	DefaultHoldFrags = 64
	DefaultHoldBytes = 256 << 10
	DefaultHoldTime  = 2 * time.Second
	// MaxFrame is the largest frame the tracker holds.
	MaxFrame = 1 << 16
)

const (
	nStripes  = 16
	ways      = 4 // slots per set
	blockSize = 256
)

// Outcome says what NonFirst did with a fragment.
type Outcome uint8

const (
	// Matched: the first fragment's decision is known and returned.
	Matched Outcome = iota
	// Held: no decision yet; the fragment was copied into the pool and is
	// handed to a Sink when its first fragment is decided.
	Held
	// Full: no decision, and the pool had no room (count or bytes).
	Full
	// NoFirst: no decision, and the fragment can never be held (holding
	// is off, or the frame is larger than the pool or MaxFrame).
	NoFirst
)

var outcomeNames = [...]string{Matched: "matched", Held: "held", Full: "full", NoFirst: "no_first"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome?"
}

// Sink takes the held fragments of a datagram when its first fragment is
// decided. Take returns a buffer of exactly n bytes for a fragment that
// arrived on port, which the tracker fills; nil means no room (the
// fragment is dropped, counted by the sink's owner). It is called with the
// tracker's locks held: it must not call back into the tracker.
type Sink interface {
	Take(n int, port uint16) []byte
}

// Stats are a Tracker's counters.
type Stats struct {
	Tracked        uint64 // first-fragment decisions recorded
	Matched        uint64 // non-first fragments that found their decision
	Held           uint64 // non-first fragments copied into the pool
	Released       uint64 // held fragments handed to a Sink
	DroppedTimeout uint64 // held fragments whose first fragment did not come in time
	DroppedFull    uint64 // fragments not held: the pool was full
	DroppedNoFirst uint64 // fragments not held: holding off, or too large to hold
	Evicted        uint64 // decisions pushed out by newer ones before their time (set full)
	HeldNow        int    // fragments in the pool now
	HeldBytesNow   int    // bytes of frame they take
}

// Tracker is a fixed-size fragment tracker. Safe for concurrent use.
type Tracker struct {
	seed     uint64
	remember time.Duration
	holdTime time.Duration
	setMask  uint64 // sets per stripe - 1
	stripes  [nStripes]stripe
	pool     pool
}

type stripe struct {
	mu      sync.Mutex
	slots   []slot
	tracked uint64
	matched uint64
	evicted uint64
	_       [64]byte // keep neighbouring stripes' locks off one cache line
}

type slot struct {
	key Key
	val Value
	exp clock.Time // valid while exp > now; 0: free
}

// pool holds early fragments in fixed blocks chained by next.
type pool struct {
	mu       sync.Mutex
	live     atomic.Int32 // fragments held (read without the lock as a hint)
	maxBytes int
	data     []byte  // blocks
	next     []int32 // per block: the next block of its fragment, or of the free list
	free     int32   // first free block, -1 none
	nfree    int
	recs     []rec
	seq      uint64
	order    []int32 // scratch: matching records of one release
	bytes    int

	held, released, timeout, full, noFirst uint64
}

type rec struct {
	key   Key
	exp   clock.Time
	seq   uint64
	first int32 // first block; -1: the record is free
	n     int32 // frame length
	port  uint16
}

// New returns a tracker sized by cfg.
func New(cfg Config) (*Tracker, error) {
	if cfg.Entries < 0 || cfg.Remember < 0 || cfg.HoldBytes < 0 || cfg.HoldTime < 0 {
		return nil, errors.New("frag: negative size or time in Config")
	}
	if cfg.Entries > 1<<24 {
		return nil, fmt.Errorf("frag: %d entries is more than the %d allowed", cfg.Entries, 1<<24)
	}
	if cfg.HoldFrags > 1<<16 || cfg.HoldBytes > 1<<30 {
		return nil, fmt.Errorf("frag: hold pool of %d fragments / %d bytes is too large (at most 65536 / 1 GiB)", cfg.HoldFrags, cfg.HoldBytes)
	}
	if cfg.Entries == 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.Remember == 0 {
		cfg.Remember = DefaultRemember
	}
	if cfg.HoldFrags == 0 {
		cfg.HoldFrags = DefaultHoldFrags
	}
	if cfg.HoldFrags < 0 {
		cfg.HoldFrags = 0
	}
	if cfg.HoldBytes == 0 {
		cfg.HoldBytes = DefaultHoldBytes
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = DefaultHoldTime
	}
	per := 1
	for per*nStripes*ways < cfg.Entries {
		per <<= 1
	}
	t := &Tracker{seed: rand.Uint64(), remember: cfg.Remember, holdTime: cfg.HoldTime, setMask: uint64(per - 1)}
	for i := range t.stripes {
		t.stripes[i].slots = make([]slot, per*ways)
	}
	p := &t.pool
	if cfg.HoldFrags > 0 {
		nb := cfg.HoldBytes / blockSize
		p.maxBytes = nb * blockSize
		p.data = make([]byte, p.maxBytes)
		p.next = make([]int32, nb)
		for i := range p.next {
			p.next[i] = int32(i + 1)
		}
		if nb > 0 {
			p.next[nb-1] = -1
			p.free = 0
		} else {
			p.free = -1
		}
		p.nfree = nb
		p.recs = make([]rec, cfg.HoldFrags)
		for i := range p.recs {
			p.recs[i].first = -1
		}
		p.order = make([]int32, 0, cfg.HoldFrags)
	} else {
		p.free = -1
	}
	return t, nil
}

// MemoryBytes is how much memory the tracker's tables and pool take (fixed
// at New).
func (t *Tracker) MemoryBytes() int {
	const slotSize = 80 // Key 40 + Value 24 + exp 8, aligned
	const recSize = 72
	n := nStripes * len(t.stripes[0].slots) * slotSize
	n += len(t.pool.data) + 4*len(t.pool.next) + recSize*len(t.pool.recs) + 4*cap(t.pool.order)
	return n
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (t *Tracker) hash(k *Key) uint64 {
	h := t.seed ^ uint64(k.ID) ^ uint64(k.Proto)<<32
	if k.V6 {
		h ^= 1 << 40
	}
	h = mix(h ^ binary.LittleEndian.Uint64(k.Src[0:8]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.Src[8:16]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.Dst[0:8]))
	return mix(h ^ binary.LittleEndian.Uint64(k.Dst[8:16]))
}

// set returns the stripe and the slots of k's set.
func (t *Tracker) set(k *Key) (*stripe, []slot) {
	h := t.hash(k)
	s := &t.stripes[h&(nStripes-1)]
	i := int((h>>8)&t.setMask) * ways
	return s, s.slots[i : i+ways]
}

// First records v as the decision for datagram k (its first fragment was
// just handled) and hands every fragment of k held so far to sink, in
// arrival order. It returns how many it handed over. sink may be nil when
// the caller is sure nothing is held (they are then dropped as timed out).
func (t *Tracker) First(k *Key, v Value, now clock.Time, sink Sink) int {
	s, set := t.set(k)
	s.mu.Lock()
	exp := now.Add(t.remember)
	victim := -1
	for i := range set {
		sl := &set[i]
		if sl.exp > now && sl.key == *k {
			victim = i
			break
		}
		if victim < 0 || set[victim].exp > now && sl.exp < set[victim].exp {
			victim = i
		}
	}
	sl := &set[victim]
	if sl.exp > now && sl.key != *k {
		s.evicted++
	}
	sl.key, sl.val, sl.exp = *k, v, exp
	s.tracked++
	n := 0
	if t.pool.live.Load() > 0 {
		n = t.pool.release(k, now, sink)
	}
	s.mu.Unlock()
	return n
}

// NonFirst looks up the decision for a non-first fragment of datagram k.
// With none known yet it holds a copy of frame (which arrived on port)
// until First is called for k or the hold time passes.
func (t *Tracker) NonFirst(k *Key, frame []byte, port uint16, now clock.Time) (Value, Outcome) {
	s, set := t.set(k)
	s.mu.Lock()
	for i := range set {
		sl := &set[i]
		if sl.exp > now && sl.key == *k {
			sl.exp = now.Add(t.remember)
			s.matched++
			v := sl.val
			s.mu.Unlock()
			return v, Matched
		}
	}
	// Held under the stripe lock, so a First for k on another worker
	// either came before (and matched above) or comes after and finds it.
	o := t.pool.hold(k, frame, port, now.Add(t.holdTime), now)
	s.mu.Unlock()
	return Value{}, o
}

// Expire drops the held fragments whose time has passed and returns how
// many. Call it periodically (e.g. from the director's maintenance); the
// pool also reclaims expired fragments by itself when it is full.
func (t *Tracker) Expire(now clock.Time) int {
	p := &t.pool
	if p.live.Load() == 0 {
		return 0
	}
	p.mu.Lock()
	n := p.expireLocked(now)
	p.mu.Unlock()
	return n
}

// Stats returns the counters (each stripe and the pool read under its lock).
func (t *Tracker) Stats() Stats {
	var st Stats
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		st.Tracked += s.tracked
		st.Matched += s.matched
		st.Evicted += s.evicted
		s.mu.Unlock()
	}
	p := &t.pool
	p.mu.Lock()
	st.Held, st.Released, st.DroppedTimeout, st.DroppedFull, st.DroppedNoFirst = p.held, p.released, p.timeout, p.full, p.noFirst
	st.HeldNow, st.HeldBytesNow = int(p.live.Load()), p.bytes
	p.mu.Unlock()
	return st
}

func blocksFor(n int) int { return (n + blockSize - 1) / blockSize }

// hold copies frame into the pool (stripe lock held).
func (p *pool) hold(k *Key, frame []byte, port uint16, exp, now clock.Time) Outcome {
	n := len(frame)
	if len(p.recs) == 0 || n > p.maxBytes || n > MaxFrame || n == 0 {
		p.mu.Lock()
		p.noFirst++
		p.mu.Unlock()
		return NoFirst
	}
	nb := blocksFor(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	ri := p.freeRec()
	if ri < 0 || p.nfree < nb {
		p.expireLocked(now)
		ri = p.freeRec()
	}
	if ri < 0 || p.nfree < nb {
		p.full++
		return Full
	}
	r := &p.recs[ri]
	r.key, r.exp, r.n, r.port = *k, exp, int32(n), port
	p.seq++
	r.seq = p.seq
	// Take nb blocks off the free list; they stay chained by next.
	r.first = p.free
	b := p.free
	for i := 0; i < nb; i++ {
		copy(p.data[int(b)*blockSize:int(b+1)*blockSize], frame[i*blockSize:])
		if i == nb-1 {
			p.free = p.next[b]
			p.next[b] = -1
		} else {
			b = p.next[b]
		}
	}
	p.nfree -= nb
	p.bytes += n
	p.held++
	p.live.Add(1)
	return Held
}

func (p *pool) freeRec() int {
	if int(p.live.Load()) >= len(p.recs) {
		return -1
	}
	for i := range p.recs {
		if p.recs[i].first < 0 {
			return i
		}
	}
	return -1
}

// freeLocked returns record r's blocks to the free list.
func (p *pool) freeLocked(r *rec) {
	b := r.first
	last := b
	nb := 1
	for p.next[last] >= 0 {
		last = p.next[last]
		nb++
	}
	p.next[last] = p.free
	p.free = b
	p.nfree += nb
	p.bytes -= int(r.n)
	r.first = -1
	p.live.Add(-1)
}

func (p *pool) expireLocked(now clock.Time) int {
	n := 0
	for i := range p.recs {
		if r := &p.recs[i]; r.first >= 0 && r.exp <= now {
			p.freeLocked(r)
			p.timeout++
			n++
		}
	}
	return n
}

// release hands k's held fragments to sink in arrival order.
func (p *pool) release(k *Key, now clock.Time, sink Sink) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.order[:0]
	for i := range p.recs {
		r := &p.recs[i]
		if r.first < 0 || r.key != *k {
			continue
		}
		if r.exp <= now {
			p.freeLocked(r)
			p.timeout++
			continue
		}
		// Insertion by sequence number (a handful of records).
		j := len(o)
		o = append(o, int32(i))
		for j > 0 && p.recs[o[j-1]].seq > r.seq {
			o[j] = o[j-1]
			j--
		}
		o[j] = int32(i)
	}
	released := 0
	for _, i := range o {
		r := &p.recs[i]
		var dst []byte
		if sink != nil {
			dst = sink.Take(int(r.n), r.port)
		}
		if len(dst) == int(r.n) {
			b := r.first
			for off := 0; off < len(dst); off += blockSize {
				copy(dst[off:], p.data[int(b)*blockSize:int(b+1)*blockSize])
				b = p.next[b]
			}
			released++
			p.released++
		} else if sink == nil {
			p.timeout++
		}
		// else: no room at the sink; its owner counts the loss.
		p.freeLocked(r)
	}
	p.order = o[:0]
	return released
}
