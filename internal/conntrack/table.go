package conntrack

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Bucket-array size limits (ipvs-semantics §1.1: the kernel clamps
// conn_tab_bits to [8, 20..27] and defaults to 12).
const (
	MinBits     = 8
	MaxBits     = 24
	DefaultBits = 12
)

// DefaultMaxEntries is the slot budget when Config gives none (128 MiB of
// slots).
const DefaultMaxEntries = 1 << 22

// maxSlots keeps every slot index (and index+window) inside uint32, with 0
// reserved as "nil".
const maxSlots = 1<<32 - 1<<17

const (
	chunkShift = 16 // 2^16 slots = 2 MiB per chunk
	chunkSlots = 1 << chunkShift
	chunkMask  = chunkSlots - 1

	maxStripeBits = 10 // 1024 stripes
	windowSlots   = 32 // fresh slots a stripe takes from the bump allocator at once
	stealSlots    = 32 // free slots a stripe takes from another stripe at once
	stealProbes   = 8  // stripes probed before an insert is refused
)

// ErrBits is returned by New for a Bits value outside [MinBits, MaxBits].
var ErrBits = errors.New("conntrack: bucket bits out of range")

// ErrBudget is returned by New when the budget leaves no room for entries.
var ErrBudget = errors.New("conntrack: memory budget too small")

// Config sets up a Table.
type Config struct {
	// Bits selects 2^Bits hash buckets, MinBits..MaxBits; 0 means
	// DefaultBits. Aim for about one entry per bucket at the expected load:
	// chains are unbounded, so a small table still works, only slower.
	Bits int

	// MaxEntries is the number of 32-byte slots the table may use. An IPv4
	// conn or template takes one slot, an IPv6 one takes two. When both
	// MaxEntries and BudgetBytes are 0, DefaultMaxEntries is used.
	MaxEntries int

	// BudgetBytes, when MaxEntries is 0, is the memory the whole table may
	// use (slots, buckets, chunk directory and lock stripes); the slot count
	// is derived from it. SetBudget changes it at run time.
	BudgetBytes int64

	// MaxBudgetBytes is the largest budget SetBudget may set later; 0 means
	// the starting budget (BudgetBytes, or MaxEntries' slots). The chunk
	// directory is sized for it (8 bytes per 2 MiB of slots), and when it is
	// above the starting budget slot chunks are allocated whole (2 MiB), so
	// that a raised budget can use them: BytesInUse may then exceed the
	// current budget by less than one chunk plus the directory beyond the
	// budget's share.
	MaxBudgetBytes int64

	// Unbinder is told about every entry the table frees. May be nil.
	Unbinder Unbinder

	// Seed seeds the hash; 0 picks a random seed (the normal case; tests set
	// it for reproducible layouts).
	Seed uint64
}

// Unbinder is told about every entry the table frees (expiry, reaper,
// Delete, Sweep, Flush), so the owner can fix the destination's
// ActiveConn/InActConn/PersistConn counters. Unbind runs with the stripe lock
// of the entry's bucket held and the entry already unlinked: it may read e
// (and call AddrsLocked/ConnLocked for idx) but must not call any Table
// method that takes a stripe lock, and must not keep idx or e.
type Unbinder interface {
	Unbind(idx uint32, e *Entry)
}

// Key identifies a conn from the client side: the inbound packet's source
// (Caddr, Cport) and destination (Vaddr, Vport). IPv4 addresses are in
// IPv4-mapped form (as in packet.Parsed); only their last four bytes are
// read. For templates Caddr is the masked client network and Cport is 0;
// fwmark templates use Proto 0 and Vaddr = FwmarkAddr(V6, mark).
type Key struct {
	V6           bool
	Proto        packet.Proto
	Caddr, Vaddr [16]byte
	Cport, Vport uint16
}

// Conn is the full, wide form of an entry, used to insert one and to read
// one back (ConnLocked). Addresses are 16 bytes (IPv4-mapped for IPv4).
type Conn struct {
	V6                  bool
	Proto               packet.Proto
	Caddr, Vaddr        [16]byte
	Cport, Vport, Dport uint16
	Flags               Flags
	State               uint8      // protocol state (TemplateAssured for an assured template)
	Dest                uint32     // destination id, 0..MaxDest
	Expires             clock.Time // absolute expiry (read back rounded up to a Tick)

	// Control is the index of the template controlling this conn. On
	// insertion the caller must hold a control reference on it
	// (ControlLocked), which the conn takes over.
	Control uint32

	// SeqProxy marks a conn made by the SYN proxy: it has no template
	// (Control must be 0), and its Seq word (what the director needs to
	// translate sequence numbers) is kept in the template's place.
	SeqProxy bool
	Seq      uint32

	// Read back only.
	Controls uint32 // conns this template controls
	InPkts   uint8  // input packets counted (saturating)
}

// stripeData is what one lock stripe protects besides its buckets.
type stripeData struct {
	mu sync.Mutex

	free         uint32 // head of the stripe's free-slot list (linked through Entry.next)
	nfree        int32
	winLo, winHi uint32 // fresh slots taken from the bump allocator, not yet used

	// Counters, protected by mu and summed by Stats.
	conns, templates, slots    int64 // live entries hashed in this stripe's buckets, slots they use
	inserted, refused, invalid uint64
	expired, deleted, postpone uint64
}

// stripe is padded to two cache lines so that neighbouring stripes (and the
// adjacent-line prefetcher) never share a line between cores.
type stripe struct {
	stripeData
	_ [128 - unsafe.Sizeof(stripeData{})%128]byte
}

// Table is the IPVS connection table. See the package documentation for
// the structure, the locking rules and the lock order.
type Table struct {
	buckets     []uint32 // chain heads; protected by the stripe lock of the bucket
	mask        uint32
	stripeShift uint32 // stripe of bucket h = h >> stripeShift
	stripes     []stripe

	dir      []atomic.Pointer[Entry] // chunk i holds slots [i<<chunkShift, (i+1)<<chunkShift)
	maxLimit uint32                  // one past the last slot index the directory can hold
	seed     [4]uint64

	// The budget (budget.go). capSlots is read by every insert and written
	// only by SetBudget.
	capSlots  atomic.Int64  // slots that may be in use at once
	limit     atomic.Uint32 // one past the last fresh slot index the bump allocator may hand out
	budget    atomic.Int64  // current budget in bytes
	fixed     int64         // bytes of buckets and stripes
	maxBudget int64         // largest budget SetBudget accepts

	unbinder Unbinder
	dry      atomic.Bool  // a full steal scan found nothing; read by every free, rarely written
	nocport  atomic.Int64 // NO_CPORT conns in the table; read by inbound misses, rarely written

	// Written often from several cores: kept off the read-mostly line above.
	_          [64]byte
	bump       atomic.Uint32 // next never-used slot index
	steal      atomic.Uint32 // rotating start for stealing free slots
	rover      atomic.Uint32 // reaper position
	growMu     sync.Mutex    // serialises chunk allocation
	chunkSlots atomic.Int64  // slots in allocated chunks
	used       atomic.Int64  // slots in use (one add per insert and per free)
	_          [64]byte

	destMu sync.Mutex                 // serialises SetDestAddr
	dests  atomic.Pointer[[][16]byte] // dest id → address, copy on grow
}

// New builds a table. The bucket array, the lock stripes and the chunk
// directory are allocated at once; slots are allocated in 2 MiB chunks as
// they are needed and never past the budget.
func New(c Config) (*Table, error) {
	b := c.Bits
	if b == 0 {
		b = DefaultBits
	}
	if b < MinBits || b > MaxBits {
		return nil, fmt.Errorf("%w: %d (want %d..%d)", ErrBits, c.Bits, MinBits, MaxBits)
	}
	nb := 1 << b
	stripeBits := min(b, maxStripeBits)
	nstripes := 1 << stripeBits
	fixed := int64(nb)*4 + int64(nstripes)*int64(unsafe.Sizeof(stripe{}))

	slots := int64(c.MaxEntries)
	budget := c.BudgetBytes
	switch {
	case slots < 0:
		return nil, fmt.Errorf("%w: MaxEntries %d", ErrBudget, c.MaxEntries)
	case c.MaxBudgetBytes < 0:
		return nil, fmt.Errorf("%w: MaxBudgetBytes %d", ErrBudget, c.MaxBudgetBytes)
	case slots == 0 && c.BudgetBytes > 0:
		if slots = budgetSlots(c.BudgetBytes, fixed); slots < 2 {
			return nil, fmt.Errorf("%w: %d bytes, the buckets and stripes alone take %d", ErrBudget, c.BudgetBytes, fixed)
		}
	case slots == 0:
		slots = DefaultMaxEntries
	}
	slots = min(slots, maxSlots)
	if c.MaxEntries != 0 || c.BudgetBytes <= 0 {
		budget = slotsBytes(slots, fixed)
	}
	maxS, maxB := slots, budget
	if c.MaxBudgetBytes > budget {
		maxS, maxB = min(budgetSlots(c.MaxBudgetBytes, fixed), maxSlots), c.MaxBudgetBytes
	}

	t := &Table{
		mask:        uint32(nb - 1),
		stripeShift: uint32(b - stripeBits),
		stripes:     make([]stripe, nstripes),
		maxLimit:    uint32(maxS) + 1, // slot 0 is nil
		unbinder:    c.Unbinder,
		fixed:       fixed,
		maxBudget:   maxB,
	}
	t.buckets = hugeSlice[uint32](t, nb)
	t.dir = make([]atomic.Pointer[Entry], (int64(t.maxLimit)+chunkSlots-1)>>chunkShift)
	t.setLimit(slots, budget)
	t.bump.Store(1)
	seed := c.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	sm := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc908))
	for i := range t.seed {
		t.seed[i] = sm.Uint64() | 1
	}
	empty := make([][16]byte, 0)
	t.dests.Store(&empty)
	return t, nil
}

// Buckets returns the number of hash buckets.
func (t *Table) Buckets() int { return len(t.buckets) }

// Capacity returns the slot budget (an IPv6 entry uses two slots).
func (t *Table) Capacity() int { return int(t.capSlots.Load()) }

// Hash returns the bucket of a conn, template or reply: a seeded hash of
// the family, protocol, client address and client port only (as the
// kernel), so that inbound, outbound and template lookups walk the same
// chains. caddr is IPv4-mapped for IPv4. For an outbound (reply) lookup pass
// the reply's destination address and port.
//
// One 64×64→128-bit multiply of the key word by a random odd seed, folded
// (the two halves xored); IPv6 addresses are first folded to 64 bits the
// same way.
func (t *Table) Hash(v6 bool, proto packet.Proto, caddr *[16]byte, cport uint16) uint32 {
	w := uint64(v4Word(caddr))
	if v6 {
		w = t.fold6(caddr)
	}
	hi, lo := bits.Mul64(w^uint64(cport)<<32^uint64(proto)<<48^t.seed[2], t.seed[3])
	return uint32(hi^lo) & t.mask
}

// fold6 reduces an IPv6 address to a seeded 64-bit word (bit 56 marks the
// family).
func (t *Table) fold6(a *[16]byte) uint64 {
	hi, lo := bits.Mul64(le64(a[0:8])^t.seed[0], le64(a[8:16])^t.seed[1])
	return hi ^ lo ^ 1<<56
}

// Lock takes the stripe lock that protects bucket h (a value from Hash).
func (t *Table) Lock(h uint32) { t.stripes[h>>t.stripeShift].mu.Lock() }

// Unlock releases the stripe lock of bucket h.
func (t *Table) Unlock(h uint32) { t.stripes[h>>t.stripeShift].mu.Unlock() }

func (t *Table) stripeOf(h uint32) *stripe { return &t.stripes[h>>t.stripeShift] }

// At returns the entry with index idx (from a lookup, InsertLocked, Range
// or Sweep). Reading or writing it needs the stripe lock of its bucket.
func (t *Table) At(idx uint32) *Entry { return t.at(idx) }

func (t *Table) at(idx uint32) *Entry {
	base := t.dir[idx>>chunkShift].Load()
	return (*Entry)(unsafe.Add(unsafe.Pointer(base), uintptr(idx&chunkMask)*slotSize))
}

func (t *Table) ext(e *Entry) *extension {
	return (*extension)(unsafe.Pointer(t.at(uint32(e.addrs))))
}

// AddrsLocked returns the client and virtual address of entry idx
// (IPv4-mapped for IPv4). The stripe lock of its bucket must be held.
func (t *Table) AddrsLocked(idx uint32) (caddr, vaddr [16]byte) {
	e := t.at(idx)
	if e.meta&metaV6 == 0 {
		return v4Addr(uint32(e.addrs)), v4Addr(uint32(e.addrs >> 32))
	}
	x := t.ext(e)
	return x.caddr, x.vaddr
}

// ConnLocked returns entry idx in its wide form, with Expires relative to
// now. The stripe lock of its bucket must be held.
func (t *Table) ConnLocked(idx uint32, now clock.Time) Conn {
	e := t.at(idx)
	c := Conn{
		V6:       e.V6(),
		Proto:    e.Proto(),
		Cport:    e.CPort(),
		Vport:    e.VPort(),
		Dport:    e.dport,
		Flags:    e.Flags(),
		State:    e.State(),
		Dest:     e.Dest(),
		Expires:  e.expiresAt(now),
		Control:  e.Controller(),
		SeqProxy: e.SeqProxied(),
		Seq:      e.Seq(),
		Controls: e.Controls(),
		InPkts:   e.InPkts(),
	}
	c.Caddr, c.Vaddr = t.AddrsLocked(idx)
	return c
}

// SetDestAddr records the address of destination id (1..MaxDest),
// IPv4-mapped for IPv4. Outbound NAT lookups compare the reply's source
// with it. Set it before inserting conns that use id, and change it only
// while no conn uses id.
func (t *Table) SetDestAddr(id uint32, addr [16]byte) {
	if id > MaxDest {
		panic("conntrack: dest id out of range")
	}
	t.destMu.Lock()
	defer t.destMu.Unlock()
	cur := *t.dests.Load()
	if int(id) < len(cur) {
		if cur[id] != addr { // republishing an unchanged address must not write (readers run concurrently)
			cur[id] = addr
		}
		return
	}
	n := max(2*len(cur), int(id)+1, 16)
	grown := make([][16]byte, n)
	copy(grown, cur)
	grown[id] = addr
	t.dests.Store(&grown)
}

// DestAddr returns the address recorded for destination id (zero if none).
func (t *Table) DestAddr(id uint32) [16]byte {
	d := *t.dests.Load()
	if int(id) < len(d) {
		return d[id]
	}
	return [16]byte{}
}

// PrefetchBucket starts fetching the head of bucket h (a value from Hash)
// without waiting for it; see PrefetchEntry. (Also prefetching the
// bucket's stripe lock here showed no difference above the VM's noise.)
func (t *Table) PrefetchBucket(h uint32) { prefetch(unsafe.Pointer(&t.buckets[h&t.mask])) }
