package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// Sync-daemon defaults the kernel fills in (ipvs-semantics.md §8).
const (
	DefaultSyncMaxLen = 1472
	DefaultSyncPort   = 8848
	DefaultSyncTTL    = 1
)

// DefaultSyncGroup is the kernel's multicast group for connection sync.
var DefaultSyncGroup = netip.MustParseAddr("224.0.0.81")

// Target is what a batch changes: the live service set, the timeouts and
// the sync-daemon settings, plus what zeroing touches.
type Target struct {
	Set      *service.Set
	Timeouts *state.Timeouts
	Tunables *director.Tunables
	Daemons  *[]api.SyncDaemon
	// Zero zeroes a counter set (and its rates); nil: counters are only
	// zeroed, rates left alone.
	Zero func(*service.Stats)
	// Totals are the director's totals, zeroed by a zero of everything.
	Totals *service.Stats
	Now    clock.Time
	// IsLocal, if set, says whether an address is the director's own: a
	// direct-routing real server there becomes Local (delivered to this
	// host), as the kernel decides for IP_VS_CONN_F_LOCALNODE.
	IsLocal func(netip.Addr) bool
}

// Apply applies ops to tgt atomically: the batch is first replayed on a
// scratch copy of everything it may change, and only if every operation
// succeeds there is it applied to tgt. On an error (an *api.OpError naming
// the operation) tgt is unchanged. The caller serialises calls (one lock
// over the daemon's state) and publishes the set's new snapshot after a
// success.
func Apply(tgt Target, ops []api.Op) error {
	scratch := Target{
		Set:      cloneSet(tgt.Set.Snapshot(), touched(ops)),
		Timeouts: ptr(*tgt.Timeouts),
		Tunables: ptr(derefOr(tgt.Tunables)),
		Daemons:  ptr(slices.Clone(*tgt.Daemons)),
		Now:      tgt.Now,
		IsLocal:  tgt.IsLocal,
	}
	for i, op := range ops {
		if err := applyOne(scratch, op); err != nil {
			return opError(i, err)
		}
	}
	for i, op := range ops {
		if err := applyOne(tgt, op); err != nil {
			// The scratch run accepted it: the live set must too.
			return opError(i, fmt.Errorf("%w (after the dry run accepted it: %v)", service.ErrInvalid, err))
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func derefOr[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// touched lists the services a batch names. No operation's outcome
// depends on a service it does not name (a clear empties everything, a
// zero of everything cannot fail), so the dry run needs only these.
func touched(ops []api.Op) []service.Key {
	var keys []service.Key
	for _, op := range ops {
		if op.Service == nil {
			continue
		}
		if k, err := serviceKey(op.Service); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// cloneSet copies the services with the given keys and their real servers
// (settings only) from snap into a new Set whose schedulers only check
// their names.
func cloneSet(snap *service.Snapshot, keys []service.Key) *service.Set {
	set := service.NewSet(checkScheduler)
	seen := map[*service.Service]bool{}
	for _, k := range keys {
		svc := snap.Find(k)
		if svc == nil || seen[svc] {
			continue
		}
		seen[svc] = true
		c := service.ServiceConfig{Key: svc.Key, Sched: svc.SchedName, Flags: svc.Flags, Timeout: svc.Timeout, Netmask: svc.Netmask,
			SourceRate: svc.Limits.SourceRate.Load(), ConnRate: svc.Limits.ConnRate.Load()}
		if err := set.AddService(c); err != nil {
			panic("control: cloning a valid set: " + err.Error())
		}
		for j := len(svc.Dests) - 1; j >= 0; j-- {
			d := svc.Dests[j]
			dc := d.Config()
			p := service.DestParams{Addr: d.Addr, Port: d.Port, Weight: dc.Weight, UThreshold: dc.UThreshold, LThreshold: dc.LThreshold,
				Method: dc.Method, TunType: dc.TunType, TunPort: dc.TunPort, TunFlags: dc.TunFlags}
			if err := set.AddDest(svc.Key, p); err != nil {
				panic("control: cloning a valid set: " + err.Error())
			}
		}
	}
	return set
}

// checkScheduler is the scratch set's scheduler factory: it accepts the
// names sched.New accepts and makes a scheduler that schedules nothing.
func checkScheduler(name string, _ service.Flags) (service.Scheduler, error) {
	if !slices.Contains(sched.Names(), name) {
		return nil, fmt.Errorf("%w %q", sched.ErrUnknown, name)
	}
	return noScheduler(name), nil
}

type noScheduler string

func (n noScheduler) Name() string                          { return string(n) }
func (noScheduler) Update([]*service.Dest)                  {}
func (noScheduler) Schedule(*service.Request) *service.Dest { return nil }

// errNoDaemon and errDaemonRuns are the sync-daemon refusals.
var (
	errDaemonRuns = errors.New(api.MsgDaemonRuns)
	errNoDaemon   = errors.New(api.MsgNoDaemon)
)

// opError turns an error of operation i into an *api.OpError carrying the
// ipvsadm text of the kernel error it stands for.
func opError(i int, err error) *api.OpError {
	var te tunableError
	if errors.As(err, &te) {
		return &api.OpError{Index: i, Message: te.Error(), Detail: te.Error()}
	}
	msg := api.MsgInvalid
	for _, m := range []struct {
		err error
		msg string
	}{
		{service.ErrServiceExists, api.MsgServiceExists},
		{service.ErrNoSuchService, api.MsgNoService},
		{service.ErrServiceUnknown, api.MsgServiceNotDef},
		{service.ErrDestExists, api.MsgDestExists},
		{service.ErrNoSuchDest, api.MsgNoDest},
		{service.ErrSchedNotFound, api.MsgSchedNotFound},
		{service.ErrRange, api.MsgRange},
		{state.ErrTimeoutRange, api.MsgRange},
		{errDaemonRuns, api.MsgDaemonRuns},
		{errNoDaemon, api.MsgNoDaemon},
	} {
		if errors.Is(err, m.err) {
			msg = m.msg
			break
		}
	}
	return &api.OpError{Index: i, Message: msg, Detail: err.Error()}
}

func applyOne(t Target, op api.Op) error {
	switch op.Kind {
	case api.AddService, api.EditService:
		c, err := serviceConfig(op.Service)
		if err != nil {
			return err
		}
		if op.Kind == api.AddService {
			return t.Set.AddService(c)
		}
		// vsd's own service flags (syn_proxy) have no ipvsadm words: an
		// edit, which resends every ipvsadm setting, keeps them.
		if old := t.Set.Snapshot().Find(c.Key); old != nil {
			c.Flags |= old.Flags & service.FlagSynStateless
			if c.SourceRate == 0 {
				c.SourceRate = old.Limits.SourceRate.Load()
			}
			if c.ConnRate == 0 {
				c.ConnRate = old.Limits.ConnRate.Load()
			}
		}
		return t.Set.EditService(c)
	case api.DeleteService:
		k, err := serviceKey(op.Service)
		if err != nil {
			return err
		}
		return t.Set.DelService(k, t.Now)
	case api.Clear:
		t.Set.Flush(t.Now)
		return nil
	case api.AddDest, api.EditDest, api.DeleteDest:
		k, err := serviceKey(op.Service)
		if err != nil {
			return err
		}
		if op.Dest == nil {
			return fmt.Errorf("%s: no real server given: %w", op.Kind, service.ErrInvalid)
		}
		if op.Kind == api.DeleteDest {
			return t.Set.DelDest(k, op.Dest.Addr, op.Dest.Port, t.Now)
		}
		p, err := destParams(op.Dest)
		if err != nil {
			return err
		}
		if p.Method == service.Route && t.IsLocal != nil && t.IsLocal(p.Addr) {
			p.Method = service.Local
		}
		if op.Kind == api.AddDest {
			return t.Set.AddDest(k, p)
		}
		return t.Set.EditDest(k, p)
	case api.Zero:
		return zero(t, op.Service)
	case api.SetTimeouts:
		if op.Timeouts == nil {
			return fmt.Errorf("set: no timeouts given: %w", service.ErrInvalid)
		}
		to := *t.Timeouts
		if err := to.SetTriple(op.Timeouts.TCP, op.Timeouts.TCPFin, op.Timeouts.UDP); err != nil {
			return err
		}
		*t.Timeouts = to
		return nil
	case api.SetTunable:
		if t.Tunables == nil {
			return fmt.Errorf("set-tunable: no tunables here: %w", service.ErrInvalid)
		}
		return setTunable(t.Tunables, t.Timeouts, op.Tunable)
	case api.StartDaemon:
		return startDaemon(t, op.Daemon)
	case api.StopDaemon:
		return stopDaemon(t, op.Daemon)
	}
	return fmt.Errorf("unknown operation %q: %w", op.Kind, service.ErrInvalid)
}

// serviceKey converts the API's service name to the set's.
func serviceKey(s *api.Service) (service.Key, error) {
	if s == nil {
		return service.Key{}, fmt.Errorf("no service given: %w", service.ErrInvalid)
	}
	if s.IsFwMark() {
		a := netip.IPv4Unspecified()
		if s.IPv6 {
			a = netip.IPv6Unspecified()
		}
		return service.Key{FwMark: s.FwMark, Addr: a}, nil
	}
	var p packet.Proto
	switch s.Protocol {
	case api.TCP:
		p = packet.ProtoTCP
	case api.UDP:
		p = packet.ProtoUDP
	case api.SCTP:
		p = packet.ProtoSCTP
	default:
		return service.Key{}, fmt.Errorf("service protocol %q (want TCP, UDP or SCTP): %w", s.Protocol, service.ErrInvalid)
	}
	if !s.Addr.IsValid() {
		return service.Key{}, fmt.Errorf("service without an address: %w", service.ErrInvalid)
	}
	return service.Key{Proto: p, Addr: s.Addr.Unmap(), Port: s.Port}, nil
}

func serviceConfig(s *api.Service) (service.ServiceConfig, error) {
	k, err := serviceKey(s)
	if err != nil {
		return service.ServiceConfig{}, err
	}
	if s.PE != "" {
		return service.ServiceConfig{}, fmt.Errorf("service %s: persistence engine %q: vsd has none: %w", k, s.PE, service.ErrSchedNotFound)
	}
	c := service.ServiceConfig{Key: k, Sched: s.Scheduler, Netmask: s.Netmask, SourceRate: s.SourceRate, ConnRate: s.ConnRate}
	if s.SchedFlags&^(api.SchedFlag1|api.SchedFlag2|api.SchedFlag3) != 0 {
		return c, fmt.Errorf("service %s: scheduler flags %#x: %w", k, s.SchedFlags, service.ErrInvalid)
	}
	c.Flags = service.Flags(s.SchedFlags)
	if s.Persistent {
		if s.Timeout == 0 || s.Timeout > state.MaxTimeoutSeconds {
			return c, fmt.Errorf("service %s: persistence timeout %d s: %w", k, s.Timeout, service.ErrInvalid)
		}
		c.Flags |= service.FlagPersistent
		c.Timeout = s.Timeout
	}
	if s.OnePacket {
		c.Flags |= service.FlagOnePacket
	}
	if s.SynProxy {
		if k.Proto != packet.ProtoTCP || s.Persistent || (c.Sched != "sh" && c.Sched != "dh" && c.Sched != "mh") {
			return c, fmt.Errorf("service %s: syn_proxy needs TCP, no persistence and a hash scheduler (sh, dh, mh): %w", k, service.ErrInvalid)
		}
		c.Flags |= service.FlagSynStateless
	}
	if !k.IsFwMark() && k.Port == 0 && !s.Persistent {
		return c, fmt.Errorf("service %s: port 0 needs persistence: %w", k, service.ErrInvalid)
	}
	return c, nil
}

func destParams(d *api.Dest) (service.DestParams, error) {
	p := service.DestParams{Addr: d.Addr, Port: d.Port, Weight: d.Weight, UThreshold: d.UThreshold, LThreshold: d.LThreshold}
	switch d.Method {
	case api.Masq:
		p.Method = service.Masq
	case api.Route, "":
		p.Method = service.Route
	case api.Tunnel:
		p.Method = service.Tunnel
	default:
		return p, fmt.Errorf("real server %s: forwarding method %q: %w", netip.AddrPortFrom(d.Addr, d.Port), d.Method, service.ErrInvalid)
	}
	if p.Method != service.Tunnel {
		if d.TunType != "" || d.TunPort != 0 || d.TunCsum != "" {
			return p, fmt.Errorf("real server %s: tunnel options without tunnel forwarding: %w", netip.AddrPortFrom(d.Addr, d.Port), service.ErrInvalid)
		}
		return p, nil
	}
	switch d.TunType {
	case api.TunIPIP, "":
		p.TunType = service.TunIPIP
	case api.TunGUE:
		p.TunType = service.TunGUE
		p.TunPort = d.TunPort
	case api.TunGRE:
		return p, fmt.Errorf("real server %s: GRE tunnels are not supported by vsd (use ipip or gue): %w", netip.AddrPortFrom(d.Addr, d.Port), service.ErrInvalid)
	default:
		return p, fmt.Errorf("real server %s: tunnel type %q: %w", netip.AddrPortFrom(d.Addr, d.Port), d.TunType, service.ErrInvalid)
	}
	switch d.TunCsum {
	case api.CsumNone, "":
	case api.CsumOn:
		p.TunFlags = service.TunFlagCsum
	case api.CsumRemote:
		p.TunFlags = service.TunFlagRemCsum
	default:
		return p, fmt.Errorf("real server %s: tunnel checksum %q: %w", netip.AddrPortFrom(d.Addr, d.Port), d.TunCsum, service.ErrInvalid)
	}
	if p.TunType == service.TunIPIP && p.TunFlags != 0 {
		return p, fmt.Errorf("real server %s: ipip tunnels carry no checksum option: %w", netip.AddrPortFrom(d.Addr, d.Port), service.ErrInvalid)
	}
	return p, nil
}

// zero zeroes the counters of one service and its real servers, or (s
// nil) of everything, the director's totals included.
func zero(t Target, s *api.Service) error {
	snap := t.Set.Snapshot()
	var svcs []*service.Service
	if s == nil {
		svcs = snap.Services
	} else {
		k, err := serviceKey(s)
		if err != nil {
			return err
		}
		svc := snap.Find(k)
		if svc == nil {
			return fmt.Errorf("service %s: %w", k, service.ErrNoSuchService)
		}
		svcs = []*service.Service{svc}
	}
	z := t.Zero
	if z == nil {
		z = (*service.Stats).Zero
	}
	for _, svc := range svcs {
		z(svc.Stats)
		for _, d := range svc.Dests {
			z(&d.Stats)
		}
	}
	if s == nil && t.Totals != nil {
		z(t.Totals)
	}
	return nil
}

func startDaemon(t Target, d *api.SyncDaemon) error {
	if d == nil || (d.Role != "master" && d.Role != "backup") {
		return fmt.Errorf("start-daemon: role must be master or backup: %w", service.ErrInvalid)
	}
	for _, have := range *t.Daemons {
		if have.Role == d.Role {
			return fmt.Errorf("%s sync daemon: %w", d.Role, errDaemonRuns)
		}
	}
	n := *d
	if n.Interface == "" {
		return fmt.Errorf("start-daemon: no multicast interface: %w", service.ErrInvalid)
	}
	if n.MaxLen == 0 {
		n.MaxLen = DefaultSyncMaxLen
	}
	if !n.Group.IsValid() {
		n.Group = DefaultSyncGroup
	}
	if !n.Group.IsMulticast() {
		return fmt.Errorf("start-daemon: group %s is not multicast: %w", n.Group, service.ErrInvalid)
	}
	if n.Port == 0 {
		n.Port = DefaultSyncPort
	}
	if n.TTL == 0 {
		n.TTL = DefaultSyncTTL
	}
	ds := append(slices.Clone(*t.Daemons), n)
	slices.SortStableFunc(ds, func(a, b api.SyncDaemon) int {
		if a.Role == b.Role {
			return 0
		}
		if a.Role == "master" {
			return -1
		}
		return 1
	})
	*t.Daemons = ds
	return nil
}

func stopDaemon(t Target, d *api.SyncDaemon) error {
	if d == nil || (d.Role != "master" && d.Role != "backup") {
		return fmt.Errorf("stop-daemon: role must be master or backup: %w", service.ErrInvalid)
	}
	i := slices.IndexFunc(*t.Daemons, func(x api.SyncDaemon) bool { return x.Role == d.Role })
	if i < 0 {
		return fmt.Errorf("%s sync daemon: %w", d.Role, errNoDaemon)
	}
	*t.Daemons = slices.Delete(slices.Clone(*t.Daemons), i, i+1)
	return nil
}
