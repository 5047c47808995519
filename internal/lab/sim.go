package lab

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/control"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/listing"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/sim"
	"github.com/vsd/vsd/internal/state"
)

// SimOptions configure RunSim.
type SimOptions struct {
	Clients     int           // sessions to start (default 10,000)
	Duration    time.Duration // arrivals spread over this much virtual time (default 10 min)
	Scheduler   string        // scheduler of every service (default wlc)
	Methods     []string      // any of "nat", "dr", "tun" (default all three)
	Servers     int           // real servers per method (default 3)
	Weight      int32         // weight of every real server (default 1)
	TableBits   int           // connection-table bits (default 12)
	TableBudget int64         // connection-table memory budget in bytes (default director.DefaultTableBudget)
	Seed        uint64        // 0 = 1
	// Progress, when set, receives a line now and then during the run.
	Progress io.Writer
}

func (o *SimOptions) defaults() error {
	if o.Clients == 0 {
		o.Clients = 10000
	}
	if o.Clients < 0 {
		return fmt.Errorf("clients %d: must be positive", o.Clients)
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Duration < 0 {
		return fmt.Errorf("duration %v: must be positive", o.Duration)
	}
	if o.Scheduler == "" {
		o.Scheduler = "wlc"
	}
	if _, err := sched.New(o.Scheduler, 0); err != nil {
		return fmt.Errorf("scheduler %q: not one of %s", o.Scheduler, strings.Join(sched.Names(), ", "))
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{"nat", "dr", "tun"}
	}
	for _, m := range o.Methods {
		if _, ok := methods[m]; !ok {
			return fmt.Errorf("method %q: not one of nat, dr, tun", m)
		}
	}
	if o.Servers == 0 {
		o.Servers = 3
	}
	if o.Servers < 1 || o.Servers > 200 {
		return fmt.Errorf("servers %d: must be 1..200", o.Servers)
	}
	if o.Weight == 0 {
		o.Weight = 1
	}
	if o.Weight < 0 {
		return fmt.Errorf("weight %d: must be positive", o.Weight)
	}
	if o.TableBits == 0 {
		o.TableBits = conntrack.DefaultBits
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return nil
}

type methodPlan struct {
	mode   sim.Mode
	method service.Method
	vip4   netip.Addr
	vip6   netip.Addr
	net4   netip.Prefix
	net6   netip.Prefix
}

var methods = map[string]methodPlan{
	"nat": {sim.NAT, service.Masq, netip.MustParseAddr("10.0.0.80"), netip.MustParseAddr("2001:db8::80"),
		netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
	"dr": {sim.DR, service.Route, netip.MustParseAddr("10.0.0.81"), netip.MustParseAddr("2001:db8::81"),
		netip.MustParsePrefix("10.0.2.0/24"), netip.MustParsePrefix("2001:db8:2::/64")},
	"tun": {sim.TUN, service.Tunnel, netip.MustParseAddr("10.0.0.82"), netip.MustParseAddr("2001:db8::82"),
		netip.MustParsePrefix("10.0.3.0/24"), netip.MustParsePrefix("2001:db8:3::/64")},
}

// SimResult is what RunSim observed.
type SimResult struct {
	Options   SimOptions
	Mid       Snapshot // halfway through the arrivals
	End       Snapshot // after the run
	Report    sim.Report
	Counters  director.Counters
	RealTime  time.Duration
	TableSize int
}

// Snapshot is the director's view at one instant.
type Snapshot struct {
	At     time.Duration // virtual time since the start
	Table  string        // ipvsadm -L -n
	States map[string]int
	Conns  int64
}

// RunSim builds the simulated LVS, runs the scenario and returns what it saw.
func RunSim(o SimOptions) (*SimResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	began := time.Now()
	n := sim.New(sim.Config{Seed: o.Seed})
	dmac := [6]byte{0x02, 0x76, 0x73, 0x64, 0, 1}
	d4, d6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	eng, err := director.New(director.Config{
		Ports:       []director.Port{{MAC: dmac, Addr4: d4, Addr6: d6}},
		Neighbors:   n.Neighbors(),
		TableBits:   o.TableBits,
		TableBudget: o.TableBudget,
	})
	if err != nil {
		return nil, err
	}
	set := service.NewSet(sched.New)
	var vips []netip.Addr
	var traffic []sim.Traffic
	for _, name := range o.Methods {
		m := methods[name]
		cfg := sim.ServerConfig{Name: "rs-" + name, Mode: m.mode}
		if m.mode != sim.NAT {
			cfg.VIPs = []netip.Addr{m.vip4, m.vip6}
		}
		servers, err := n.AddServers(o.Servers, cfg, m.net4, m.net6)
		if err != nil {
			return nil, err
		}
		vips = append(vips, m.vip4, m.vip6)
		for _, vip := range []netip.Addr{m.vip4, m.vip6} {
			for _, port := range []uint16{80, 23} {
				k := service.Key{Proto: packet.ProtoTCP, Addr: vip, Port: port}
				if err := set.AddService(service.ServiceConfig{Key: k, Sched: o.Scheduler}); err != nil {
					return nil, err
				}
				for _, s := range servers {
					addr := pickFamily(s.Addrs(), vip.Is6())
					if err := set.AddDest(k, service.DestParams{Addr: addr, Port: port, Weight: o.Weight, Method: m.method}); err != nil {
						return nil, err
					}
				}
			}
		}
		// The seed's set-up: a persistent port-0 service (persistent 360)
		// catches FTP control and passive data connections, so both land on
		// one real server.
		k0 := service.Key{Proto: packet.ProtoTCP, Addr: m.vip4, Port: 0}
		if err := set.AddService(service.ServiceConfig{Key: k0, Sched: o.Scheduler, Flags: service.FlagPersistent, Timeout: 360}); err != nil {
			return nil, err
		}
		for _, s := range servers {
			if err := set.AddDest(k0, service.DestParams{Addr: pickFamily(s.Addrs(), false), Port: 0, Weight: o.Weight, Method: m.method}); err != nil {
				return nil, err
			}
		}
		traffic = append(traffic,
			sim.Traffic{Kind: sim.FTP, Service: netip.AddrPortFrom(m.vip4, 21), Weight: 5},
			sim.Traffic{Kind: sim.HTTP10, Service: netip.AddrPortFrom(m.vip4, 80), Weight: 60},
			sim.Traffic{Kind: sim.HTTP11, Service: netip.AddrPortFrom(m.vip6, 80), Weight: 20},
			sim.Traffic{Kind: sim.Telnet, Service: netip.AddrPortFrom(m.vip4, 23), Weight: 5})
	}
	snap := set.Snapshot()
	eng.Publish(snap)
	if err := attachDirector(n, eng, dmac, []netip.Addr{d4, d6}, vips); err != nil {
		return nil, err
	}
	sc := sim.Scenario{Clients: o.Clients, Duration: o.Duration, Traffic: traffic, Seed: o.Seed}
	if err := n.StartScenario(sc); err != nil {
		return nil, err
	}
	res := &SimResult{Options: o, TableSize: eng.Table().Buckets()}
	start := n.Now()
	mid := start.Add(o.Duration / 2)
	deadline := start.Add(o.Duration + 10*time.Minute)
	lastProgress := start
	for !n.ScenarioDone() && n.Now() < deadline {
		next := n.Now().Add(10 * time.Second)
		if n.Now() < mid && next >= mid {
			n.Run(mid)
			res.Mid = observe(eng, start, n.Now())
			continue
		}
		n.Run(next)
		if o.Progress != nil && n.Now().Sub(lastProgress) >= time.Minute {
			lastProgress = n.Now()
			r := n.Report()
			fmt.Fprintf(o.Progress, "vsd sim: %v virtual, %d/%d sessions done, %d connections in the table\n",
				n.Now().Sub(start).Round(time.Second), r.SessionsDone, o.Clients, eng.Table().Len())
		}
	}
	if res.Mid.Table == "" {
		res.Mid = observe(eng, start, n.Now())
	}
	// Let the last timers run out so the end view shows the table draining.
	n.RunFor(time.Second)
	res.End = observe(eng, start, n.Now())
	res.Report = n.Report()
	res.Counters = eng.Counters()
	res.RealTime = time.Since(began)
	if !n.ScenarioDone() {
		return res, errors.New("scenario did not finish within 10 virtual minutes after the last arrival")
	}
	return res, nil
}

func observe(eng *director.Engine, start, now clock.Time) Snapshot {
	var b strings.Builder
	tab := control.TableOf(eng.Snapshot(), eng, nil)
	_ = listing.WriteTable(&b, &tab, listing.Options{Numeric: true, NoSort: true})
	s := Snapshot{At: now.Sub(start), Table: b.String(), States: map[string]int{}}
	eng.Table().Range(func(_ uint32, e *conntrack.Entry) bool {
		name := state.StateName(e.Proto(), e.State(), e.IsTemplate())
		s.States[e.Proto().String()+" "+name]++
		return true
	})
	s.Conns = eng.Table().Len()
	return s
}

// Problems lists every broken invariant (empty when the run was correct).
func (r *SimResult) Problems() []string {
	p := r.Report.Problems()
	if r.Report.PersistenceBreaks != 0 {
		p = append(p, fmt.Sprintf("%d FTP sessions had their data connection on another real server than the control connection", r.Report.PersistenceBreaks))
	}
	return p
}

// Write prints the result for a person.
func (r *SimResult) Write(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "vsd sim: %d clients over %v (virtual), methods %s, scheduler %s, %d real servers per method\n\n",
		o.Clients, o.Duration, strings.Join(o.Methods, "/"), o.Scheduler, o.Servers)
	for _, s := range []struct {
		title string
		snap  Snapshot
	}{{"halfway", r.Mid}, {"at the end", r.End}} {
		fmt.Fprintf(w, "== director table %s (t=%v), %d entries ==\n", s.title, s.snap.At.Round(time.Second), s.snap.Conns)
		io.WriteString(w, s.snap.Table)
		keys := make([]string, 0, len(s.snap.States))
		for k := range s.snap.States {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "connection states:")
		if len(keys) == 0 {
			fmt.Fprintf(w, " (none)")
		}
		for _, k := range keys {
			fmt.Fprintf(w, "  %s=%d", k, s.snap.States[k])
		}
		fmt.Fprintf(w, "\n\n")
	}
	rep := &r.Report
	fmt.Fprintf(w, "== traffic ==\n")
	fmt.Fprintf(w, "sessions: %d started, %d completed, %d failed\n", rep.Sessions, rep.SessionsCompleted, rep.SessionsFailed)
	fmt.Fprintf(w, "connections: %d opened, %d completed, %d failed\n", rep.Connections, rep.Completed, rep.Failed)
	fmt.Fprintf(w, "per-server share of connections:\n")
	for _, s := range rep.Servers {
		fmt.Fprintf(w, "  %-10s %-4v %7d  %5.1f %%\n", s.Name, s.Mode, s.Connections, 100*s.Share)
	}
	fmt.Fprintf(w, "connections that switched real server: %d (must be 0)\n", rep.Switches)
	fmt.Fprintf(w, "FTP data connections on another server than their control connection: %d (must be 0)\n", rep.PersistenceBreaks)
	fmt.Fprintf(w, "real servers saw a non-client source address: %d (must be 0)\n", rep.ServerSawNonClient)
	for _, k := range rep.ByKind {
		fmt.Fprintf(w, "  %-7s %6d sessions, %6d completed, %d failed\n", k.Kind, k.Sessions, k.Completed, k.Failed)
	}
	c := &r.Counters
	fmt.Fprintf(w, "\n== director ==\nframes %d: tx %d, pass %d, drop %d\n", c.Frames, c.Tx, c.Pass, c.Drop)
	for _, rs := range director.Reasons() {
		if c.Drops[rs] != 0 {
			fmt.Fprintf(w, "  drop %-18s %d\n", rs, c.Drops[rs])
		}
	}
	for _, ev := range director.Events() {
		if c.Events[ev] != 0 {
			fmt.Fprintf(w, "  %-23s %d\n", ev, c.Events[ev])
		}
	}
	for _, fc := range c.FragCounters() {
		if fc.Value != 0 {
			fmt.Fprintf(w, "  fragments %-13s %d\n", fc.Name, fc.Value)
		}
	}
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintf(w, "\nPROBLEMS:\n")
		for _, s := range p {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	fmt.Fprintf(w, "\nsummary: %d/%d sessions completed, %d switches, %d problems, %v real time\n",
		rep.SessionsCompleted, rep.Sessions, rep.Switches, len(r.Problems()), r.RealTime.Round(time.Millisecond))
}

func pickFamily(addrs []netip.Addr, v6 bool) netip.Addr {
	for _, a := range addrs {
		if a.Is6() == v6 {
			return a
		}
	}
	return netip.Addr{}
}

// maintainEvery is how often (virtual time) the sim runs the engine's
// periodic maintenance: the reaper, the expire_nodest_conn sweep, caches.
const maintainEvery = 100 * time.Millisecond

// attachDirector plugs engine eng into the sim network as a director with
// one port (MAC dmac, the director's own addresses) answering for vips,
// with one worker and periodic maintenance.
func attachDirector(n *sim.Network, eng *director.Engine, dmac [6]byte, addrs, vips []netip.Addr) error {
	w := eng.NewWorker()
	_, err := n.AddDirector(sim.DirectorFunc(func(f []link.Frame, now clock.Time) {
		w.Process(f, now)
		for i, out := 0, w.Outbox(); i < len(out); i++ {
			if out[i].Action == link.Tx {
				_ = n.Inject(out[i].Bytes()) // fragments: within MaxFrame
			}
		}
	}), sim.DirectorConfig{
		Name:      "vsd",
		Ports:     []sim.DirectorPort{{MAC: dmac, Addrs: addrs}},
		VIPs:      vips,
		Tick:      func(now clock.Time) { eng.Maintain(now, maintainEvery) },
		TickEvery: maintainEvery,
	})
	return err
}
