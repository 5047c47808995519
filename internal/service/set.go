package service

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Errors returned by Set. Their texts are the ones ipvsadm prints for the
// matching kernel errors, so a CLI can show them unchanged.
var (
	ErrServiceExists  = errors.New("Service already exists")
	ErrNoSuchService  = errors.New("No such service")
	ErrServiceUnknown = errors.New("Service not defined") // dest operations on a missing service
	ErrDestExists     = errors.New("Destination already exists")
	ErrNoSuchDest     = errors.New("No such destination")
	ErrSchedNotFound  = errors.New("Scheduler or persistence engine not found")
	ErrInvalid        = errors.New("Invalid operation.  Possibly wrong module version, address not unicast, ...")
	ErrRange          = errors.New("Numerical result out of range")
)

// TrashTimeout is how long a removed destination with no connections left
// is kept before it is forgotten (kernel: 120 s).
const TrashTimeout = 120 * time.Second

// ServiceConfig describes a virtual service.
type ServiceConfig struct {
	Key     Key
	Sched   string // scheduler name; "" means wlc
	Flags   Flags
	Timeout uint32 // persistence timeout in seconds (with FlagPersistent)
	Netmask int    // persistence netmask as prefix length; 0 means /32 (IPv4) or /128 (IPv6)
	// SourceRate limits the packets per second one client address may
	// send to the service (vsd's own; 0 = none).
	SourceRate uint32
	// ConnRate limits the packets per second one connection (client
	// address and port) may send to the service (vsd's own; 0 = none).
	ConnRate uint32
}

// DestParams describes a destination of a service.
type DestParams struct {
	Addr       netip.Addr
	Port       uint16
	Weight     int32
	UThreshold uint32
	LThreshold uint32
	Method     Method
	TunType    TunType
	TunPort    uint16
	TunFlags   uint16
}

// NewSchedulerFunc makes a scheduler by name (sched.New).
type NewSchedulerFunc func(name string, flags Flags) (Scheduler, error)

// Set is the control plane's editable copy of all services. Every method
// validates first and changes nothing on error. Snapshot returns an
// immutable view for the data plane. Set's methods are safe for concurrent
// use (one mutex; it is not on the packet path).
type Set struct {
	mu       sync.Mutex
	newSched NewSchedulerFunc
	services []*Service     // current versions, insertion order
	index    map[setKey]int // service → its position in services
	dests    []*Dest        // by DestID; nil = free slot
	freeIDs  []DestID       // free slots of dests, reused last freed first
	trash    []*Dest
	marks    []markRule
	snap     *Snapshot // cached; nil after a change
}

// NewSet returns an empty set that makes schedulers with newSched.
func NewSet(newSched NewSchedulerFunc) *Set {
	return &Set{newSched: newSched, dests: []*Dest{nil}, index: map[setKey]int{}} // DestID 0 is "none"
}

func (s *Set) find(k Key) int {
	if i, ok := s.index[indexKey(k)]; ok {
		return i
	}
	return -1
}

// setKey is a service's identity in Set.index, with sameKey's semantics.
type setKey struct {
	fwmark uint32
	v6     bool
	proto  packet.Proto
	addr   netip.Addr
	port   uint16
}

func indexKey(k Key) setKey {
	if k.FwMark != 0 {
		return setKey{fwmark: k.FwMark, v6: k.Addr.Is6()}
	}
	return setKey{proto: k.Proto, addr: k.Addr.Unmap(), port: k.Port}
}

// reindex rebuilds the index after services moved in the list.
func (s *Set) reindex() {
	clear(s.index)
	for i, svc := range s.services {
		s.index[indexKey(svc.Key)] = i
	}
}

func sameKey(a, b Key) bool {
	if a.FwMark != 0 || b.FwMark != 0 {
		return a.FwMark == b.FwMark && a.Addr.Is6() == b.Addr.Is6()
	}
	return a.Proto == b.Proto && a.Addr == b.Addr && a.Port == b.Port
}

func validateService(c *ServiceConfig) error {
	k := c.Key
	if !k.Addr.IsValid() {
		return fmt.Errorf("service %s: %w (no address family)", keyString(k), ErrInvalid)
	}
	if !k.IsFwMark() {
		switch k.Proto {
		case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
		default:
			return fmt.Errorf("service %s: protocol %d: %w", keyString(k), k.Proto, ErrInvalid)
		}
	}
	bits := 32
	if k.Addr.Is6() {
		bits = 128
	}
	if c.Netmask == 0 {
		c.Netmask = bits
	}
	if c.Netmask < 1 || c.Netmask > bits {
		return fmt.Errorf("service %s: persistence netmask /%d: %w", keyString(k), c.Netmask, ErrInvalid)
	}
	if c.Sched == "" {
		c.Sched = "wlc"
	}
	return nil
}

// AddService adds a service. Kernel rules: an existing key → ErrServiceExists.
func (s *Set) AddService(c ServiceConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := validateService(&c); err != nil {
		return err
	}
	if s.find(c.Key) >= 0 {
		return fmt.Errorf("service %s: %w", keyString(c.Key), ErrServiceExists)
	}
	sch, err := s.newSched(c.Sched, c.Flags)
	if err != nil {
		return fmt.Errorf("service %s: %w: %v", keyString(c.Key), ErrSchedNotFound, err)
	}
	k := c.Key
	k.Addr = k.Addr.Unmap()
	svc := &Service{Key: k, SchedName: c.Sched, Flags: c.Flags, Timeout: c.Timeout, Netmask: c.Netmask,
		Sched: sch, Stats: new(Stats), Limits: newLimits(c.SourceRate, c.ConnRate), V6: k.Addr.Is6(), VIP16: k.Addr.As16()}
	sch.Update(nil)
	s.index[indexKey(svc.Key)] = len(s.services)
	s.services = append(s.services, svc)
	s.snap = nil
	return nil
}

// EditService changes scheduler, flags and persistence of a service. A new
// scheduler name replaces the scheduler (its state starts afresh, as in the
// kernel); otherwise the scheduler and its state are kept.
func (s *Set) EditService(c ServiceConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := validateService(&c); err != nil {
		return err
	}
	i := s.find(c.Key)
	if i < 0 {
		return fmt.Errorf("service %s: %w", keyString(c.Key), ErrNoSuchService)
	}
	old := s.services[i]
	n := *old
	n.Flags, n.Timeout, n.Netmask = c.Flags, c.Timeout, c.Netmask
	if c.Sched != old.SchedName || c.Flags&(FlagSched1|FlagSched2|FlagSched3) != old.Flags&(FlagSched1|FlagSched2|FlagSched3) {
		sch, err := s.newSched(c.Sched, c.Flags)
		if err != nil {
			return fmt.Errorf("service %s: %w: %v", keyString(c.Key), ErrSchedNotFound, err)
		}
		sch.Update(n.Dests)
		n.Sched, n.SchedName = sch, c.Sched
	}
	n.Limits.SourceRate.Store(c.SourceRate)
	n.Limits.ConnRate.Store(c.ConnRate)
	s.services[i] = &n
	s.snap = nil
	return nil
}

// DelService removes a service; its destinations go to the trash (their
// connections stay in the table until they time out; the engine drops their
// packets, or with expire_nodest_conn deletes them).
func (s *Set) DelService(k Key, now clock.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(k)
	if i < 0 {
		return fmt.Errorf("service %s: %w", keyString(k), ErrNoSuchService)
	}
	for _, d := range s.services[i].Dests {
		s.toTrash(d, now)
	}
	s.services = slices.Delete(s.services, i, i+1)
	s.reindex()
	s.snap = nil
	return nil
}

// Flush removes every service.
func (s *Set) Flush(now clock.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, svc := range s.services {
		for _, d := range svc.Dests {
			s.toTrash(d, now)
		}
	}
	s.services = nil
	clear(s.index)
	s.snap = nil
}

func (s *Set) toTrash(d *Dest, now clock.Time) {
	d.setFlag(destAvailable, false)
	d.trashedAt = now
	s.trash = append(s.trash, d)
}

func validateDest(svc *Service, p *DestParams) error {
	if !p.Addr.IsValid() {
		return fmt.Errorf("destination: no address: %w", ErrInvalid)
	}
	p.Addr = p.Addr.Unmap()
	if p.Weight < 0 {
		return fmt.Errorf("destination %s weight %d: %w", p.Addr, p.Weight, ErrRange)
	}
	if p.LThreshold > p.UThreshold && p.UThreshold != 0 {
		return fmt.Errorf("destination %s: lower threshold %d above upper threshold %d: %w", p.Addr, p.LThreshold, p.UThreshold, ErrRange)
	}
	if p.Addr.Is6() != svc.V6 && p.Method != Tunnel {
		return fmt.Errorf("destination %s: address family differs from the service's (only tunnel allows it): %w", p.Addr, ErrInvalid)
	}
	if p.Addr.IsMulticast() || p.Addr.IsUnspecified() || (p.Addr.Is4() && p.Addr == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return fmt.Errorf("destination %s: not a unicast address: %w", p.Addr, ErrInvalid)
	}
	if p.Method > Route {
		return fmt.Errorf("destination %s: forwarding method %d: %w", p.Addr, p.Method, ErrInvalid)
	}
	if p.Method == Tunnel && p.TunType == TunGUE && p.TunPort == 0 {
		return fmt.Errorf("destination %s: GUE tunnel needs a tunnel port: %w", p.Addr, ErrInvalid)
	}
	if p.Method == Tunnel && p.TunType > TunGRE {
		return fmt.Errorf("destination %s: tunnel type %d: %w", p.Addr, p.TunType, ErrInvalid)
	}
	// Kernel: a non-NAT destination keeps the service port (ipvsadm rewrites it).
	return nil
}

func (s *Set) findDest(svc *Service, addr netip.Addr, port uint16) int {
	addr = addr.Unmap()
	for i, d := range svc.Dests {
		if d.Addr == addr && d.Port == port {
			return i
		}
	}
	return -1
}

func newConfig(p *DestParams, lastWeight int32) *DestConfig {
	c := &DestConfig{Weight: p.Weight, LastWeight: lastWeight, UThreshold: p.UThreshold, LThreshold: p.LThreshold,
		Method: p.Method, TunType: p.TunType, TunPort: p.TunPort, TunFlags: p.TunFlags}
	if p.Weight != 0 {
		c.LastWeight = p.Weight
	}
	return c
}

// AddDest adds a destination at the head of the service's list (the
// kernel's list order). A destination removed earlier and still in the
// trash is revived with its counters.
func (s *Set) AddDest(k Key, p DestParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, svc, err := s.destServiceLocked(k, &p)
	if err != nil {
		return err
	}
	if s.findDest(svc, p.Addr, p.Port) >= 0 {
		return fmt.Errorf("destination %s: %w", netip.AddrPortFrom(p.Addr, p.Port), ErrDestExists)
	}
	var d *Dest
	for ti, t := range s.trash {
		if sameKey(t.Svc, svc.Key) && t.Addr == p.Addr && t.Port == p.Port {
			d = t
			s.trash = slices.Delete(s.trash, ti, ti+1)
			break
		}
	}
	if d == nil {
		d = &Dest{Svc: svc.Key, Addr: p.Addr, Port: p.Port, Addr16: p.Addr.As16()}
		d.ID = s.allocID(d)
	}
	d.SvcStats, d.SvcLimits = svc.Stats, svc.Limits
	d.cfg.Store(newConfig(&p, d.lastWeight()))
	d.setFlag(destAvailable, true)
	d.setFlag(destOverload, false)
	n := *svc
	n.Dests = append([]*Dest{d}, svc.Dests...)
	n.Sched.Update(n.Dests)
	s.services[i] = &n
	s.snap = nil
	return nil
}

// destServiceLocked finds the service a destination change is for and
// validates the parameters (s.mu held).
func (s *Set) destServiceLocked(k Key, p *DestParams) (int, *Service, error) {
	i := s.find(k)
	if i < 0 {
		return -1, nil, fmt.Errorf("service %s: %w", keyString(k), ErrServiceUnknown)
	}
	svc := s.services[i]
	if err := validateDest(svc, p); err != nil {
		return -1, nil, err
	}
	return i, svc, nil
}

func (d *Dest) lastWeight() int32 {
	if c := d.cfg.Load(); c != nil {
		return c.LastWeight
	}
	return 0
}

func (s *Set) allocID(d *Dest) DestID {
	if n := len(s.freeIDs); n > 0 {
		id := s.freeIDs[n-1]
		s.freeIDs = s.freeIDs[:n-1]
		s.dests[id] = d
		return id
	}
	s.dests = append(s.dests, d)
	return DestID(len(s.dests) - 1)
}

// EditDest changes a destination's weight, thresholds and forwarding in
// place. OVERLOAD is cleared when the new upper threshold is 0 or larger
// than the old one (kernel rule).
func (s *Set) EditDest(k Key, p DestParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, svc, err := s.destServiceLocked(k, &p)
	if err != nil {
		return err
	}
	j := s.findDest(svc, p.Addr, p.Port)
	if j < 0 {
		return fmt.Errorf("destination %s: %w", netip.AddrPortFrom(p.Addr, p.Port), ErrNoSuchDest)
	}
	d := svc.Dests[j]
	old := d.Config()
	d.cfg.Store(newConfig(&p, old.LastWeight))
	if p.UThreshold == 0 || p.UThreshold > old.UThreshold {
		d.setFlag(destOverload, false)
	}
	svc.Sched.Update(svc.Dests)
	s.snap = nil
	return nil
}

// DelDest removes a destination from its service; it goes to the trash.
func (s *Set) DelDest(k Key, addr netip.Addr, port uint16, now clock.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(k)
	if i < 0 {
		return fmt.Errorf("service %s: %w", keyString(k), ErrServiceUnknown)
	}
	svc := s.services[i]
	j := s.findDest(svc, addr, port)
	if j < 0 {
		return fmt.Errorf("destination %s: %w", netip.AddrPortFrom(addr.Unmap(), port), ErrNoSuchDest)
	}
	d := svc.Dests[j]
	n := *svc
	n.Dests = slices.Delete(slices.Clone(svc.Dests), j, j+1)
	n.Sched.Update(n.Dests)
	s.services[i] = &n
	s.toTrash(d, now)
	s.snap = nil
	return nil
}

// ReapTrash forgets trashed destinations that have had no connections for
// TrashTimeout, freeing their ids. It returns how many it freed.
func (s *Set) ReapTrash(now clock.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	freed := 0
	kept := s.trash[:0]
	for _, d := range s.trash {
		if d.Active.Load()+d.Inactive.Load()+d.Persist.Load() != 0 {
			d.trashedAt = now // still referenced: restart the idle period
			kept = append(kept, d)
			continue
		}
		if now.Sub(d.trashedAt) < TrashTimeout {
			kept = append(kept, d)
			continue
		}
		s.dests[d.ID] = nil
		s.freeIDs = append(s.freeIDs, d.ID)
		freed++
	}
	clear(s.trash[len(kept):])
	s.trash = kept
	if freed > 0 {
		s.snap = nil
	}
	return freed
}

// Snapshot returns the immutable view of the current configuration.
func (s *Set) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil {
		return s.snap
	}
	sn := &Snapshot{
		Services: slices.Clone(s.services),
		byKey:    make(map[lookupKey]*Service, len(s.services)),
		byMark:   make(map[markKey]*Service),
		dests:    slices.Clone(s.dests),
		marks:    s.marks,
		byAddr:   make(map[[16]byte][]*Dest),
	}
	for _, svc := range s.services {
		for _, d := range svc.Dests {
			sn.byAddr[d.Addr16] = append(sn.byAddr[d.Addr16], d)
		}
		if svc.Key.IsFwMark() {
			sn.byMark[markKey{svc.Key.FwMark, svc.V6}] = svc
			continue
		}
		sn.byKey[keyOf(svc.Key)] = svc
		if svc.Key.Port == 0 {
			sn.hasPort0 = true
		}
		if svc.Key.Port == 21 && svc.Key.Proto == packet.ProtoTCP {
			sn.hasFTP = true
		}
	}
	s.snap = sn
	return sn
}

// NewDest returns a destination outside any Set (for tests and tools).
func NewDest(id DestID, addr netip.Addr, port uint16, cfg DestConfig) *Dest {
	d := &Dest{ID: id, Addr: addr.Unmap(), Port: port, Addr16: addr.Unmap().As16(), SvcStats: new(Stats), SvcLimits: newLimits(0, 0)}
	if cfg.Weight != 0 && cfg.LastWeight == 0 {
		cfg.LastWeight = cfg.Weight
	}
	d.cfg.Store(&cfg)
	d.flags.Store(destAvailable)
	return d
}

// SetConfig replaces a destination's configuration (tests and tools; Set
// uses EditDest).
func (d *Dest) SetConfig(cfg DestConfig) { d.cfg.Store(&cfg) }

func keyString(k Key) string {
	if k.IsFwMark() {
		return fmt.Sprintf("FWM %d", k.FwMark)
	}
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(k.Addr, k.Port))
}

// String formats the key as ipvsadm's -L -n does ("TCP 10.0.0.1:80").
func (k Key) String() string { return keyString(k) }
