package sched

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// Locality cache constants (kernel ip_vs_lblc.c / ip_vs_lblcr.c).
const (
	localityBits           = 10 // CONFIG_IP_VS_LBLC(R)_TAB_BITS
	localitySize           = 1 << localityBits
	localityMask           = localitySize - 1
	localityMaxEntries     = localitySize * 16 // above this GC trims idle entries
	localityEntryTimeout   = 6 * time.Minute   // idle time after which a trim may drop an entry
	localityFullCheckEvery = 30                // every 30th GC is a full expiration check
)

// GCInterval is how often the control plane should call GC on an lblc or
// lblcr scheduler (the kernel's timer period).
const GCInterval = 60 * time.Second

// DefaultExpiration is the default of the lblc_expiration and
// lblcr_expiration sysctls.
const DefaultExpiration = 24 * time.Hour

// Cache is implemented by the schedulers that keep a per-service cache of
// destination IP → real server (lblc, lblcr). The control plane calls GC
// every GCInterval with the current time, and SetExpiration when the
// lblc_expiration / lblcr_expiration sysctl changes.
type Cache interface {
	service.Scheduler
	// GC runs one tick of the kernel's periodic check: every 30th call
	// drops entries unused for the expiration time; otherwise, only while
	// there are more than 16384 entries, it drops entries unused for
	// 6 minutes until (entries−16384)·4/3 (at most 8192) are gone.
	GC(now clock.Time)
	// SetExpiration sets the idle time after which the full check drops
	// an entry (default DefaultExpiration).
	SetExpiration(d time.Duration)
	// Len returns the number of cache entries.
	Len() int
}

// cacheEntry is one destination IP in a locality cache.
type cacheEntry[V any] struct {
	next    *cacheEntry[V] // bucket chain, newest first
	addr    [16]byte       // destination IP in the datapath layout
	lastuse clock.Time
	val     V
}

// localityCache is the hash table shared by lblc (V = *service.Dest) and
// lblcr (V = destSet), with the kernel's GC rules.
//
// Lock order: gcMu before mu. Schedule takes only mu.
type localityCache[V any] struct {
	mu      sync.Mutex
	buckets [localitySize]*cacheEntry[V] // guarded by mu
	entries int                          // guarded by mu

	gcMu    sync.Mutex // serialises GC
	rover   int        // guarded by gcMu: last bucket the trim looked at
	counter int        // guarded by gcMu: GC calls since the last full check, from 1

	expiration atomic.Int64 // time.Duration
}

func (c *localityCache[V]) init() {
	c.counter = 1
	c.expiration.Store(int64(DefaultExpiration))
}

// bucketOf is the kernel's ip_vs_lblc(r)_hashkey.
func bucketOf(v6 bool, addr *[16]byte) uint32 { return hash32(foldAddr(v6, addr), localityBits) }

func (c *localityCache[V]) getLocked(b uint32, addr *[16]byte) *cacheEntry[V] {
	for e := c.buckets[b]; e != nil; e = e.next {
		if e.addr == *addr {
			return e
		}
	}
	return nil
}

// addLocked links e at the head of bucket b (kernel: hlist_add_head).
func (c *localityCache[V]) addLocked(b uint32, e *cacheEntry[V]) {
	e.next = c.buckets[b]
	c.buckets[b] = e
	c.entries++
}

func (c *localityCache[V]) removeLocked(b uint32, e *cacheEntry[V]) {
	for p := &c.buckets[b]; *p != nil; p = &(*p).next {
		if *p == e {
			*p = e.next
			e.next = nil
			c.entries--
			return
		}
	}
}

// expireBucketLocked drops the entries of bucket b unused for at least
// idle and returns how many it dropped.
func (c *localityCache[V]) expireBucketLocked(b int, now clock.Time, idle time.Duration) int {
	n := 0
	for p := &c.buckets[b]; *p != nil; {
		e := *p
		if now.Sub(e.lastuse) < idle {
			p = &e.next
			continue
		}
		*p = e.next
		e.next = nil
		c.entries--
		n++
	}
	return n
}

// Len returns the number of entries.
func (c *localityCache[V]) Len() int {
	c.mu.Lock()
	n := c.entries
	c.mu.Unlock()
	return n
}

// SetExpiration sets the full check's idle time.
func (c *localityCache[V]) SetExpiration(d time.Duration) { c.expiration.Store(int64(d)) }

// GC is one tick of the kernel's check_expire timer. It takes mu one
// bucket at a time, so workers are held up for one bucket at most.
func (c *localityCache[V]) GC(now clock.Time) {
	c.gcMu.Lock()
	defer c.gcMu.Unlock()
	if c.counter%localityFullCheckEvery == 0 {
		exp := time.Duration(c.expiration.Load())
		j := c.rover
		for range localitySize {
			j = (j + 1) & localityMask
			c.mu.Lock()
			c.expireBucketLocked(j, now, exp)
			c.mu.Unlock()
		}
		c.rover = j
		c.counter = 1
		return
	}
	entries := c.Len()
	if entries <= localityMaxEntries {
		c.counter++
		return
	}
	goal := min((entries-localityMaxEntries)*4/3, localityMaxEntries/2)
	j := c.rover
	for range localitySize {
		j = (j + 1) & localityMask
		c.mu.Lock()
		goal -= c.expireBucketLocked(j, now, localityEntryTimeout)
		c.mu.Unlock()
		if goal <= 0 {
			break
		}
	}
	c.rover = j
}

// lblcOverloaded is the lblc/lblcr "overloaded" test: d has more active
// connections than its weight and some destination of the service has
// fewer active connections than half its weight.
func lblcOverloaded(d *service.Dest, dests []*service.Dest) bool {
	if d.Active.Load() <= d.Weight() {
		return false
	}
	for _, x := range dests {
		if int64(x.Active.Load())*2 < int64(x.Weight()) {
			return true
		}
	}
	return false
}
