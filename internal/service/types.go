package service

import (
	"net/netip"
	"sync/atomic"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Method is a forwarding method; the values are the kernel's IP_VS_CONN_F_*
// forwarding bits.
type Method uint8

// Forwarding methods.
const (
	Masq   Method = 0 // NAT
	Local  Method = 1 // LocalNode: deliver to this host
	Tunnel Method = 2 // IP-in-IP or GUE
	Route  Method = 3 // direct routing (MAC rewrite)
	Bypass Method = 4 // cache bypass (internal)
)

var methodNames = [...]string{Masq: "Masq", Local: "Local", Tunnel: "Tunnel", Route: "Route", Bypass: "Bypass"}

// String returns the name ipvsadm prints in its Forward column.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "Unknown"
}

// TunType is the encapsulation of a Tunnel destination (kernel values).
type TunType uint8

// Tunnel types.
const (
	TunIPIP TunType = 0
	TunGUE  TunType = 1
	TunGRE  TunType = 2
)

var tunNames = [...]string{TunIPIP: "ipip", TunGUE: "gue", TunGRE: "gre"}

func (t TunType) String() string {
	if int(t) < len(tunNames) {
		return tunNames[t]
	}
	return "unknown"
}

// Tunnel encapsulation flags (kernel values).
const (
	TunFlagCsum    uint16 = 1
	TunFlagRemCsum uint16 = 2
)

// Flags are service flags (kernel IP_VS_SVC_F_* values).
type Flags uint32

// Service flags.
const (
	FlagPersistent Flags = 0x0001
	FlagOnePacket  Flags = 0x0004
	FlagSched1     Flags = 0x0008 // sh/mh: fallback
	FlagSched2     Flags = 0x0010 // sh/mh: include the source port
	FlagSched3     Flags = 0x0020

	// FlagSynStateless is vsd's own (no kernel value): a TCP service
	// with a hash scheduler forwards SYNs to DR/TUN real servers without
	// an entry and makes the entry from the client's ACK, so a SYN flood
	// fills nothing (the SYN proxy's stateless mode).
	FlagSynStateless Flags = 1 << 16
)

// Key identifies a virtual service: a protocol, VIP and port, or a firewall
// mark (FwMark != 0, then Proto and Port are ignored and Addr only carries
// the address family).
type Key struct {
	FwMark uint32
	Proto  packet.Proto
	Addr   netip.Addr
	Port   uint16
}

// IsFwMark reports whether k names a firewall-mark service.
func (k Key) IsFwMark() bool { return k.FwMark != 0 }

// DestID is the stable small number of a destination, used by connection
// entries (which hold no pointers) to refer to it. 0 means "none".
type DestID uint32

// DestConfig is the editable part of a destination, replaced as a whole
// (atomically) on every edit.
type DestConfig struct {
	Weight     int32  // 0 = quiesced: no new connections
	LastWeight int32  // latest non-zero weight (used by mh)
	UThreshold uint32 // upper connection threshold, 0 = none
	LThreshold uint32 // lower connection threshold, 0 = none
	Method     Method
	TunType    TunType
	TunPort    uint16 // GUE destination port
	TunFlags   uint16
}

// Dest is a real server in one service. The identity fields never change;
// the configuration is replaced atomically; counters and flags are atomics
// shared by all workers. A Dest outlives its removal from the service while
// connections still point at it (the trash).
type Dest struct {
	ID     DestID
	Svc    Key // service the destination belongs to
	Addr   netip.Addr
	Port   uint16
	Addr16 [16]byte // Addr in the datapath layout (IPv4-mapped)

	cfg atomic.Pointer[DestConfig]

	// ActiveConn, InActConn, PersistConn as ipvsadm shows them.
	Active   atomic.Int32
	Inactive atomic.Int32
	Persist  atomic.Int32

	flags atomic.Uint32 // destAvailable | destOverload

	// Stats are the destination's traffic counters; SvcStats are those of
	// its service (shared by every snapshot of the service), so the packet
	// path counts both from the destination alone.
	Stats     Stats
	SvcStats  *Stats
	SvcLimits *Limits // its service's limits (shared by every snapshot of the service)

	trashedAt clock.Time // when it went to the trash (control side only)
}

const (
	destAvailable uint32 = 1 << iota
	destOverload
)

// Config returns the current configuration (never nil for a Dest made by Set).
func (d *Dest) Config() *DestConfig { return d.cfg.Load() }

// Weight returns the current weight.
func (d *Dest) Weight() int32 { return d.cfg.Load().Weight }

// Available reports whether the destination is still linked in its service.
func (d *Dest) Available() bool { return d.flags.Load()&destAvailable != 0 }

// Overloaded reports whether the upper threshold was reached (OVERLOAD flag).
func (d *Dest) Overloaded() bool { return d.flags.Load()&destOverload != 0 }

// Conns is the count the thresholds look at: active + inactive (persistent
// templates are not counted).
func (d *Dest) Conns() int32 { return d.Active.Load() + d.Inactive.Load() }

// Overhead is the kernel's load figure used by lc, wlc, twos, lblc(r):
// active·256 + inactive.
func (d *Dest) Overhead() int64 { return int64(d.Active.Load())<<8 + int64(d.Inactive.Load()) }

// Eligible reports whether a scheduler may pick d for a new connection:
// weight > 0 and not overloaded.
func (d *Dest) Eligible() bool { return d.Weight() > 0 && !d.Overloaded() }

func (d *Dest) setFlag(f uint32, on bool) {
	for {
		old := d.flags.Load()
		n := old &^ f
		if on {
			n |= f
		}
		if old == n || d.flags.CompareAndSwap(old, n) {
			return
		}
	}
}

// Bind counts a new connection (or, with template set, a persistence
// template) against d and sets OVERLOAD when the upper threshold is reached
// (kernel: ip_vs_bind_dest). A new connection starts inactive.
func (d *Dest) Bind(template, inactive bool) {
	switch {
	case template:
		d.Persist.Add(1)
	case inactive:
		d.Inactive.Add(1)
	default:
		d.Active.Add(1)
	}
	if u := d.Config().UThreshold; u != 0 && d.Conns() >= int32(u) {
		d.setFlag(destOverload, true)
	}
}

// Unbind reverses Bind when the connection is freed and clears OVERLOAD by
// the kernel's rule: below the lower threshold if set, else below 3/4 of the
// upper threshold if set, else unconditionally.
func (d *Dest) Unbind(template, inactive bool) {
	switch {
	case template:
		d.Persist.Add(-1)
	case inactive:
		d.Inactive.Add(-1)
	default:
		d.Active.Add(-1)
	}
	c := d.Config()
	n := d.Conns()
	switch {
	case c.LThreshold != 0:
		if n < int32(c.LThreshold) {
			d.setFlag(destOverload, false)
		}
	case c.UThreshold != 0:
		if int64(n)*4 < int64(c.UThreshold)*3 {
			d.setFlag(destOverload, false)
		}
	default:
		d.setFlag(destOverload, false)
	}
}

// SetActive moves one connection between the inactive and active counters
// when its protocol state crosses the active/inactive line.
func (d *Dest) SetActive(active bool) {
	if active {
		d.Inactive.Add(-1)
		d.Active.Add(1)
	} else {
		d.Active.Add(-1)
		d.Inactive.Add(1)
	}
}

// Request is what a scheduler may look at for a new connection.
type Request struct {
	V6               bool
	Proto            packet.Proto
	Src, Dst         [16]byte // IPv4 in IPv4-mapped form
	SrcPort, DstPort uint16
	Now              clock.Time
}

// Scheduler picks a destination for a new connection. Implementations keep
// their own state (cursors, hash tables), guard it themselves (several
// workers call Schedule at once), and are handed from one snapshot to the
// next so a configuration change keeps it.
type Scheduler interface {
	// Name is the ipvsadm name (rr, wrr, ...).
	Name() string
	// Update is called by the control plane, never concurrently with
	// itself, whenever the destination list of the service or the
	// configuration of one of its destinations changed. dests is in
	// service list order.
	Update(dests []*Dest)
	// Schedule returns the destination for a new connection, or nil.
	Schedule(r *Request) *Dest
}

// Service is one virtual service as of one snapshot. Fields are read-only
// once the snapshot is published.
type Service struct {
	Key       Key
	SchedName string
	Flags     Flags
	Timeout   uint32 // persistence timeout, seconds
	Netmask   int    // persistence netmask as a prefix length (IPv4 0..32, IPv6 1..128)
	Dests     []*Dest
	Sched     Scheduler
	Stats     *Stats  // shared across snapshots
	Limits    *Limits // shared across snapshots
	V6        bool
	VIP16     [16]byte
}

// Limits are a service's packet rate limits, changed in place (atomics) so
// every snapshot and destination sees the current values.
type Limits struct {
	// SourceRate is how many packets per second one client address may
	// send to the service (new connections and established ones alike);
	// 0 = no limit.
	SourceRate atomic.Uint32
	// ConnRate is how many packets per second one connection (client
	// address and port) may send to the service; 0 = no limit.
	ConnRate atomic.Uint32
	// ID tells services apart in the per-worker rate tables.
	ID uint64
}

var limitIDs atomic.Uint64

func newLimits(source, conn uint32) *Limits {
	l := &Limits{ID: limitIDs.Add(1)}
	l.SourceRate.Store(source)
	l.ConnRate.Store(conn)
	return l
}

// Persistent reports whether the service has persistence.
func (s *Service) Persistent() bool { return s.Flags&FlagPersistent != 0 }
