package conntrack

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Entry is one 32-byte slot of the table: a whole IPv4 connection, or the
// head of an IPv6 connection whose two addresses live in a second slot (the
// extension) anywhere in the slab. It holds no Go pointers, so the garbage
// collector never scans the slab.
//
// Layout (32 bytes, 8-byte aligned, never straddles a cache line because
// chunks start on a page boundary):
//
//	off  size  field    IPv4 conn                    IPv6 conn (head)
//	  0     8  addrs    caddr | vaddr<<32            ext slot | fingerprint<<32
//	  8     4  ports    cport | vport<<16            same
//	 12     2  dport    destination port             same
//	 14     2  meta     Flags | V6 | proto code | state
//	 16     4  dest     dest id (24 bits) | in_pkts<<24 (saturating)
//	 20     4  expires  expiry in ticks (see Tick), wrap-safe
//	 24     4  next     hash chain (or free list) link, 0 = end
//	 28     4  ctl      conn: index of its template (0 = none), or with
//	                    metaSeq the SYN proxy's sequence word
//	                    template: n_control | doomed<<30 | assured<<31, atomic
//
// Measured reason for the split IPv6 form: a single 60-byte entry with 16-byte
// addresses costs ≈64 bytes per entry with its bucket, which is only 1.7×
// smaller than a Go map of the same tuple (≈107 bytes/entry at 10M entries);
// the 32-byte IPv4 slot costs ≈35.
//
// Every field is protected by the stripe lock of the bucket the entry is
// hashed in (see Table.Lock), except the ctl word of a template, which is
// only accessed atomically (conns in other buckets attach to and detach from
// their template without taking its lock).
type Entry struct {
	addrs   uint64
	ports   uint32
	dport   uint16
	meta    uint16
	dest    uint32
	expires uint32
	next    uint32
	ctl     uint32
}

// extension is the second slot of an IPv6 conn: both full addresses.
type extension struct {
	caddr, vaddr [16]byte
}

const slotSize = 32

// Compile-time checks of the slot sizes.
var (
	_ [slotSize - unsafe.Sizeof(Entry{})]struct{}
	_ [unsafe.Sizeof(Entry{}) - slotSize]struct{}
	_ [slotSize - unsafe.Sizeof(extension{})]struct{}
)

// Flags are the connection flags the table stores. The values are vsd's
// own (compact); Kernel and FlagsFromKernel convert to and from the
// kernel's IP_VS_CONN_F_* values (ipvs-semantics §0.1).
type Flags uint16

// Connection flags. The forwarding method occupies the low three bits with
// the kernel's values (FwdMasq … FwdBypass).
const (
	FwdMasq        Flags = 0 // NAT
	FwdLocalNode   Flags = 1
	FwdTunnel      Flags = 2
	FwdDirectRoute Flags = 3
	FwdBypass      Flags = 4
	FwdMask        Flags = 7

	FlagNoOutput  Flags = 1 << 3 // no reply seen yet (every non-NAT conn starts with it)
	FlagInactive  Flags = 1 << 4 // counted in the dest's InActConn, not ActiveConn
	FlagNoCPort   Flags = 1 << 5 // client port not yet known (cport is 0)
	FlagTemplate  Flags = 1 << 6 // persistence template
	FlagOnePacket Flags = 1 << 7 // one-packet scheduling (the kernel never hashes these)

	// flagsMask is every bit a Flags value may carry.
	flagsMask Flags = 0xff
	// mutableFlags may change after insertion (Entry.SetFlags).
	mutableFlags = FlagNoOutput | FlagInactive
)

// Kernel IP_VS_CONN_F_* values of the flags the table stores.
const (
	kernelNoOutput  = 0x0080
	kernelInactive  = 0x0100
	kernelNoCPort   = 0x0800
	kernelTemplate  = 0x1000
	kernelOnePacket = 0x2000
)

// Kernel returns f in the kernel's IP_VS_CONN_F_* encoding.
func (f Flags) Kernel() uint32 {
	k := uint32(f & FwdMask)
	if f&FlagNoOutput != 0 {
		k |= kernelNoOutput
	}
	if f&FlagInactive != 0 {
		k |= kernelInactive
	}
	if f&FlagNoCPort != 0 {
		k |= kernelNoCPort
	}
	if f&FlagTemplate != 0 {
		k |= kernelTemplate
	}
	if f&FlagOnePacket != 0 {
		k |= kernelOnePacket
	}
	return k
}

// FlagsFromKernel keeps the kernel flags the table stores and drops the
// others (SYNC, HASHED, SEQ_MASK, NFCT).
func FlagsFromKernel(k uint32) Flags {
	f := Flags(k) & FwdMask
	if k&kernelNoOutput != 0 {
		f |= FlagNoOutput
	}
	if k&kernelInactive != 0 {
		f |= FlagInactive
	}
	if k&kernelNoCPort != 0 {
		f |= FlagNoCPort
	}
	if k&kernelTemplate != 0 {
		f |= FlagTemplate
	}
	if k&kernelOnePacket != 0 {
		f |= FlagOnePacket
	}
	return f
}

// meta word layout beyond the Flags byte.
const (
	metaV6         uint16 = 1 << 8
	metaProtoShift        = 9
	metaProtoMask  uint16 = 3 << metaProtoShift
	metaStateShift        = 11
	metaStateMask  uint16 = 0xf << metaStateShift
	// metaSeq marks a conn whose ctl word is a sequence-number word of
	// the SYN proxy (Conn.SeqProxy), not a template index.
	metaSeq uint16 = 1 << 15
)

// MaxState is the largest protocol state an entry can hold (4 bits; TCP
// uses 0..10, SCTP 0..13).
const MaxState = 15

// TemplateAssured is the state a template reports once Assure was called
// (the kernel's IP_VS_CTPL_S_ASSURED).
const TemplateAssured = 1

// MaxDest is the largest destination id an entry can hold (24 bits).
const MaxDest = 1<<24 - 1

const (
	destMask     = MaxDest
	inPktsShift  = 24
	maxInPkts    = 255
	ctlAssured   = 1 << 31
	ctlDoomed    = 1 << 30
	ctlCountMask = ctlDoomed - 1
)

// Protocol codes (2 bits in meta). Code 0 is IPPROTO_IP, used only by
// fwmark templates.
var protoCode = func() (c [256]uint8) {
	for i := range c {
		c[i] = 0xff
	}
	c[0] = 0
	c[packet.ProtoTCP] = 1
	c[packet.ProtoUDP] = 2
	c[packet.ProtoSCTP] = 3
	return c
}()

var codeProto = [4]packet.Proto{0, packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP}

// Tick is the resolution of expiry times. It is a power of two of
// nanoseconds (about 4.2 ms, like a 250 Hz jiffy) so that converting a
// clock.Time is a shift. An entry never expires early and at most one Tick
// late.
const (
	TickShift               = 22
	Tick      time.Duration = 1 << TickShift
)

// MaxTimeout is the longest timeout an entry can hold (2^30 ticks, about 52
// days); longer timeouts are clamped to it. Expiry times are 32-bit tick
// counts compared wrap-safely (like jiffies), which stays correct as long
// as every entry is looked at (by a lookup or the reaper) at least once
// every 2^31 ticks (about 104 days); a reaper pass takes seconds.
const MaxTimeout = Tick << 30

// PostponeTimeout is how long the expiry of a template that still controls
// conns is postponed (kernel: 60 s).
const PostponeTimeout = 60 * time.Second

// ticksFloor is the tick that contains t.
func ticksFloor(t clock.Time) uint32 { return uint32(uint64(t) >> TickShift) }

// ticksCeil is the first tick that starts at or after t.
func ticksCeil(t clock.Time) uint32 { return uint32((uint64(t) + uint64(Tick) - 1) >> TickShift) }

// expiryTicks turns now+d into the tick at which the entry is expired.
func expiryTicks(now clock.Time, d time.Duration) uint32 {
	if d < 0 {
		d = 0
	} else if d > MaxTimeout {
		d = MaxTimeout
	}
	return ticksCeil(now.Add(d))
}

// expiredAt reports whether an entry with expiry e is expired in tick now
// (wrap-safe).
func expiredAt(e, now uint32) bool { return int32(now-e) >= 0 }

// V6 reports whether the entry is an IPv6 connection.
func (e *Entry) V6() bool { return e.meta&metaV6 != 0 }

// Proto returns the transport protocol (0 for a fwmark template).
func (e *Entry) Proto() packet.Proto { return codeProto[(e.meta&metaProtoMask)>>metaProtoShift] }

// CPort returns the client port (0 for templates and NO_CPORT conns).
func (e *Entry) CPort() uint16 { return uint16(e.ports) }

// VPort returns the virtual port.
func (e *Entry) VPort() uint16 { return uint16(e.ports >> 16) }

// DPort returns the destination (real server) port.
func (e *Entry) DPort() uint16 { return e.dport }

// Flags returns the entry's flags.
func (e *Entry) Flags() Flags { return Flags(e.meta) & flagsMask }

// IsTemplate reports whether the entry is a persistence template.
func (e *Entry) IsTemplate() bool { return e.meta&uint16(FlagTemplate) != 0 }

// Method returns the forwarding method bits (FwdMasq … FwdBypass).
func (e *Entry) Method() Flags { return Flags(e.meta) & FwdMask }

// SetFlags replaces the flags that may change during a conn's life
// (FlagNoOutput, FlagInactive); the other bits of f are ignored.
func (e *Entry) SetFlags(f Flags) {
	e.meta = e.meta&^uint16(mutableFlags) | uint16(f&mutableFlags)
}

// State returns the protocol state. For a template it reports
// TemplateAssured once Assure was called, else 0.
func (e *Entry) State() uint8 {
	if e.IsTemplate() {
		if atomic.LoadUint32(&e.ctl)&ctlAssured != 0 {
			return TemplateAssured
		}
		return 0
	}
	return uint8((e.meta & metaStateMask) >> metaStateShift)
}

// SetState sets the protocol state (0..MaxState; higher bits are dropped).
// Templates keep their state in Assure instead.
func (e *Entry) SetState(s uint8) {
	e.meta = e.meta&^metaStateMask | uint16(s)<<metaStateShift&metaStateMask
}

// Dest returns the destination id given at insertion (0 = none).
func (e *Entry) Dest() uint32 { return e.dest & destMask }

// SetDest rebinds the entry to another destination id (1..MaxDest, 0 =
// none); the caller fixes the destinations' counters.
func (e *Entry) SetDest(id uint32) { e.dest = e.dest&^destMask | id&destMask }

// InPkts returns the count of input packets recorded with CountInPkt,
// saturating at 255 (enough for the random-drop rule, ipvs-semantics §3.4).
func (e *Entry) InPkts() uint8 { return uint8(e.dest >> inPktsShift) }

// CountInPkt records one input packet.
func (e *Entry) CountInPkt() {
	if e.dest>>inPktsShift != maxInPkts {
		e.dest += 1 << inPktsShift
	}
}

// Controller returns the index of the template that controls this conn,
// 0 if none (always 0 for a template).
func (e *Entry) Controller() uint32 {
	if e.IsTemplate() || e.meta&metaSeq != 0 {
		return 0
	}
	return e.ctl
}

// SeqProxied reports whether the conn was made by the SYN proxy
// (Conn.SeqProxy): its ctl word holds Seq, and it has no template.
func (e *Entry) SeqProxied() bool { return e.meta&metaSeq != 0 }

// Seq returns the SYN proxy's sequence word of a SeqProxied conn (0 for
// others): what it means is the director's business.
func (e *Entry) Seq() uint32 {
	if e.meta&metaSeq == 0 {
		return 0
	}
	return e.ctl
}

// SetSeq replaces the sequence word of a SeqProxied conn; for other
// entries it does nothing.
func (e *Entry) SetSeq(v uint32) {
	if e.meta&metaSeq != 0 {
		e.ctl = v
	}
}

// Controls returns how many conns this template controls (n_control); 0
// for a conn. It may be read without the template's lock.
func (e *Entry) Controls() uint32 {
	if !e.IsTemplate() {
		return 0
	}
	return atomic.LoadUint32(&e.ctl) & ctlCountMask
}

// Touch restarts the idle timer: the entry expires timeout after now
// (timeout is clamped to [0, MaxTimeout]).
func (e *Entry) Touch(now clock.Time, timeout time.Duration) {
	e.expires = expiryTicks(now, timeout)
}

// Expired reports whether the entry's timer has run out at now.
func (e *Entry) Expired(now clock.Time) bool { return expiredAt(e.expires, ticksFloor(now)) }

// Remaining returns the time left at now until the entry expires (the
// start of its expiry tick); zero or negative once expired.
func (e *Entry) Remaining(now clock.Time) time.Duration {
	return e.expiresAt(now).Sub(now)
}

// expiresAt rebuilds the absolute expiry (the start of the expiry tick,
// which is at or after the time asked for) from the 32-bit tick and now.
func (e *Entry) expiresAt(now clock.Time) clock.Time {
	nowT := int64(now) >> TickShift
	return clock.Time((nowT + int64(int32(e.expires-uint32(nowT)))) << TickShift)
}

// Neutralize makes a template unfindable (ipvs-semantics §1.8 step 1): its
// vport and dport become 0xFFFF and it dies by its own timer. The client
// port of a template is already 0, and the hash does not cover the ports,
// so no rehash is needed.
func (e *Entry) Neutralize() {
	e.ports = 0xffff << 16
	e.dport = 0xffff
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// v4Word packs the IPv4 address of a mapped 16-byte form into 32 bits.
func v4Word(a *[16]byte) uint32 { return le32(a[12:16]) }

// v4Addr rebuilds the IPv4-mapped form from the packed word.
func v4Addr(w uint32) (a [16]byte) {
	a[10], a[11] = 0xff, 0xff
	binary.LittleEndian.PutUint32(a[12:], w)
	return a
}

// fingerprint summarises both IPv6 addresses into the 32 bits an IPv6 head
// slot has room for, so that a chain walk fetches the extension slot only
// for probable matches.
func fingerprint(caddr, vaddr *[16]byte) uint32 {
	c := le32(caddr[0:]) ^ le32(caddr[4:]) ^ le32(caddr[8:]) ^ le32(caddr[12:])
	v := le32(vaddr[0:]) ^ le32(vaddr[4:]) ^ le32(vaddr[8:]) ^ le32(vaddr[12:])
	return c ^ (v<<16 | v>>16) ^ 0x9e3779b9
}

// FwmarkAddr returns the "virtual address" under which a fwmark template
// (protocol 0) stores its mark: for IPv4 the mark as an IPv4-mapped address,
// for IPv6 the mark in the first four bytes (big-endian) and zeros after, so
// that comparing the whole address compares the first 32 bits only, as the
// kernel does.
func FwmarkAddr(v6 bool, mark uint32) (a [16]byte) {
	if v6 {
		binary.BigEndian.PutUint32(a[0:], mark)
		return a
	}
	a[10], a[11] = 0xff, 0xff
	binary.BigEndian.PutUint32(a[12:], mark)
	return a
}
