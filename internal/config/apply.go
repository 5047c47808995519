package config

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
)

// Build returns a fresh Set with every service and real server of c, each
// service's real servers in file order (the first listed is first in the
// list the scheduler sees). newSched nil means sched.New. A Config from
// Parse always builds; a Config made in code may fail the Set's own
// checks, reported as Errors at the service or real server concerned.
func (c *Config) Build(newSched service.NewSchedulerFunc) (*service.Set, error) {
	if newSched == nil {
		newSched = sched.New
	}
	set := service.NewSet(newSched)
	var errs Errors
	for i, s := range c.Services {
		if err := set.AddService(s.Config); err != nil {
			errs = append(errs, &Error{File: c.Path, Line: s.Line, Col: s.Col, Field: index("services", i), Msg: err.Error(), Err: err})
			continue
		}
		// AddDest puts a destination at the head of the list (kernel
		// order), so add them last to first.
		for j := len(s.Dests) - 1; j >= 0; j-- {
			if err := set.AddDest(s.Config.Key, s.Dests[j]); err != nil {
				e := &Error{File: c.Path, Field: index(index("services", i)+".real_servers", j), Msg: err.Error(), Err: err}
				if j < len(s.DestPos) {
					e.Line, e.Col = s.DestPos[j].Line, s.DestPos[j].Col
				}
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs.sorted(c.Path)
	}
	return set, nil
}

// Changes counts what Apply did. Real servers of an added or removed
// service count as added or removed real servers.
type Changes struct {
	ServicesAdded, ServicesEdited, ServicesRemoved int
	DestsAdded, DestsEdited, DestsRemoved          int
}

// String is a one-line summary: "services +1 ~0 -2, real servers +3 ~1 -0".
func (ch Changes) String() string {
	return fmt.Sprintf("services +%d ~%d -%d, real servers +%d ~%d -%d",
		ch.ServicesAdded, ch.ServicesEdited, ch.ServicesRemoved, ch.DestsAdded, ch.DestsEdited, ch.DestsRemoved)
}

// Empty reports whether nothing changed.
func (ch Changes) Empty() bool { return ch == Changes{} }

// Apply makes the services of set equal to c's, without breaking
// connections: a service or real server present in both is edited in
// place (the same service.Dest keeps its counters and id, the scheduler
// keeps its state unless its name or flags change), new ones are added,
// and ones no longer in c are deleted; deleted real servers go to the
// trash, so their existing connections keep working until they end, as in
// the kernel, and come back with their counters if a later Apply re-adds
// them. A real server is identified by address and port within its
// service; a service by protocol, VIP and port (or fwmark and family).
//
// Apply first builds a scratch Set from c; if that fails it returns the
// error and changes nothing. The order of real servers already in a live
// service is not changed; new ones go to the head of the list (in file
// order), as ipvsadm -a would put them.
//
// Apply changes only set: the caller publishes set.Snapshot() to the
// engine afterwards and applies Timeouts and Tunables itself
// (Timeouts.ApplyTo, director.Engine.SetTunables).
//
// Apply must not run concurrently with other changes to set (the daemon
// runs reloads and control-API changes in one goroutine). If a change is
// refused after validation, which only happens when set was changed
// concurrently or its scheduler factory refuses a name sched.New accepts,
// Apply stops and returns what it did so far and an error.
func (c *Config) Apply(set *service.Set, now clock.Time) (Changes, error) {
	var ch Changes
	if _, err := c.Build(sched.New); err != nil {
		return ch, err
	}
	snap := set.Snapshot()
	fail := func(err error) (Changes, error) {
		return ch, fmt.Errorf("config: applying %s stopped part way (%s done): %w", c.Path, ch, err)
	}
	want := make(map[svcKey]bool, len(c.Services))
	for _, s := range c.Services {
		cfg := normalize(s.Config)
		want[keyOf(cfg.Key)] = true
		live := snap.Find(cfg.Key)
		if live == nil {
			if err := set.AddService(cfg); err != nil {
				return fail(err)
			}
			ch.ServicesAdded++
			for j := len(s.Dests) - 1; j >= 0; j-- {
				if err := set.AddDest(cfg.Key, s.Dests[j]); err != nil {
					return fail(err)
				}
				ch.DestsAdded++
			}
			continue
		}
		if live.SchedName != cfg.Sched || live.Flags != cfg.Flags || live.Timeout != cfg.Timeout || live.Netmask != cfg.Netmask ||
			live.Limits.SourceRate.Load() != cfg.SourceRate || live.Limits.ConnRate.Load() != cfg.ConnRate {
			if err := set.EditService(cfg); err != nil {
				return fail(err)
			}
			ch.ServicesEdited++
		}
		have := make(map[netip.AddrPort]*service.Dest, len(live.Dests))
		for _, d := range live.Dests {
			have[netip.AddrPortFrom(d.Addr, d.Port)] = d
		}
		keep := make(map[netip.AddrPort]bool, len(s.Dests))
		var add []service.DestParams
		for _, p := range s.Dests {
			ap := netip.AddrPortFrom(p.Addr.Unmap(), p.Port)
			keep[ap] = true
			d := have[ap]
			if d == nil {
				add = append(add, p)
				continue
			}
			if destDiffers(d.Config(), p) {
				if err := set.EditDest(cfg.Key, p); err != nil {
					return fail(err)
				}
				ch.DestsEdited++
			}
		}
		for _, p := range slices.Backward(add) {
			if err := set.AddDest(cfg.Key, p); err != nil {
				return fail(err)
			}
			ch.DestsAdded++
		}
		for _, d := range live.Dests {
			if !keep[netip.AddrPortFrom(d.Addr, d.Port)] {
				if err := set.DelDest(cfg.Key, d.Addr, d.Port, now); err != nil {
					return fail(err)
				}
				ch.DestsRemoved++
			}
		}
	}
	for _, live := range snap.Services {
		if want[keyOf(live.Key)] {
			continue
		}
		if err := set.DelService(live.Key, now); err != nil {
			return fail(err)
		}
		ch.ServicesRemoved++
		ch.DestsRemoved += len(live.Dests)
	}
	return ch, nil
}

// normalize fills in what service.Set would (scheduler, netmask, unmapped
// VIP) so the config compares equal to a live service.
func normalize(c service.ServiceConfig) service.ServiceConfig {
	c.Key.Addr = c.Key.Addr.Unmap()
	if c.Sched == "" {
		c.Sched = DefaultScheduler
	}
	if c.Netmask == 0 {
		c.Netmask = 32
		if c.Key.Addr.Is6() {
			c.Netmask = 128
		}
	}
	return c
}

func destDiffers(c *service.DestConfig, p service.DestParams) bool {
	return c.Weight != p.Weight || c.UThreshold != p.UThreshold || c.LThreshold != p.LThreshold ||
		c.Method != p.Method || c.TunType != p.TunType || c.TunPort != p.TunPort || c.TunFlags != p.TunFlags
}

// RestartFields returns the keys whose values differ between old and c
// and that a reload cannot change in a running daemon (interfaces, the
// datapath, CPUs, queues, the connection table's bits, the control
// socket). Services, timeouts, tunables and the table budget are not among
// them.
func (c *Config) RestartFields(old *Config) []string {
	var out []string
	names := func(in []Interface) []string {
		var s []string
		for _, i := range in {
			s = append(s, i.Name)
		}
		return s
	}
	for _, f := range [...]struct {
		key  string
		same bool
	}{
		{"interfaces", slices.Equal(names(c.Interfaces), names(old.Interfaces))},
		{"datapath", c.Datapath == old.Datapath},
		{"xdp_mode", c.XDPMode == old.XDPMode},
		{"cpus", slices.Equal(c.CPUs, old.CPUs)},
		{"queues", c.Queues == old.Queues},
		{"busy_poll", c.BusyPoll == old.BusyPoll},
		{"table.bits", c.TableBits == old.TableBits},
		{"control.socket", c.ControlSocket == old.ControlSocket},
	} {
		if !f.same {
			out = append(out, f.key)
		}
	}
	return out
}
