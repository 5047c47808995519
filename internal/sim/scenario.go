package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// Scenario is a load to run against the network's services: Clients
// sessions arriving at random over Duration (a Poisson process conditioned
// on the count: arrival times are uniform over the duration), each of a
// kind drawn from Traffic by weight, from ClientHosts client hosts the
// scenario creates.
type Scenario struct {
	Clients     int           // sessions to start
	ClientHosts int           // client hosts (distinct addresses) they come from; 0: one per session
	Duration    time.Duration // arrivals are spread over this
	// Drain is how long after Duration the run waits at most for the
	// sessions to finish (default 10 minutes); the run stops as soon as
	// every session is done.
	Drain   time.Duration
	Traffic []Traffic
	Params  SessionParams
	// Seed, when not zero, reseeds the network's generator before the
	// scenario starts.
	Seed uint64
	// Client address pools (defaults 198.18.0.0/15 and 2001:db8:c::/64).
	// Every client host gets one address of each.
	ClientNet4, ClientNet6 netip.Prefix
}

// Traffic is one kind of session against one service.
type Traffic struct {
	Kind    Kind
	Service netip.AddrPort // VIP:port (UDP for kind UDP, TCP otherwise)
	Weight  int            // relative share (0 counts as 1)
}

// scenarioRun is a scenario in progress.
type scenarioRun struct {
	n        *Network
	sc       Scenario
	arrivals []clock.Time
	clients  []*Client
	weights  int
	done     int
}

// Default client address pools.
var (
	DefaultClientNet4 = netip.MustParsePrefix("198.18.0.0/15")
	DefaultClientNet6 = netip.MustParsePrefix("2001:db8:c::/64")
)

// RunScenario creates the scenario's client hosts, starts its sessions as
// they arrive and runs the network until every session is done or Drain
// has passed after Duration. It returns the network's report.
func (n *Network) RunScenario(sc Scenario) (Report, error) {
	if err := n.StartScenario(sc); err != nil {
		return Report{}, err
	}
	r := n.sc
	deadline := n.now.Add(sc.Duration + r.sc.Drain)
	for n.q.len() > 0 && n.q.peek().at <= deadline && r.done < len(r.arrivals) {
		n.Step()
	}
	if r.done < len(r.arrivals) && deadline > n.now {
		n.now = deadline
	}
	return n.Report(), nil
}

// StartScenario creates the scenario's client hosts and schedules its
// arrivals from now on, without running the network: drive it with Run
// (use this to interleave events such as stopping a server).
func (n *Network) StartScenario(sc Scenario) error {
	if n.sc != nil && n.sc.done < len(n.sc.arrivals) {
		return errors.New("sim: a scenario is already running")
	}
	if sc.Clients <= 0 {
		return errors.New("sim: scenario needs Clients > 0")
	}
	if sc.Duration < 0 {
		return errors.New("sim: negative scenario duration")
	}
	if len(sc.Traffic) == 0 {
		return errors.New("sim: scenario needs Traffic")
	}
	if sc.Drain <= 0 {
		sc.Drain = 10 * time.Minute
	}
	if sc.ClientHosts <= 0 || sc.ClientHosts > sc.Clients {
		sc.ClientHosts = sc.Clients
	}
	if !sc.ClientNet4.IsValid() {
		sc.ClientNet4 = DefaultClientNet4
	}
	if !sc.ClientNet6.IsValid() {
		sc.ClientNet6 = DefaultClientNet6
	}
	sc.Params.setDefaults()
	weights := 0
	for i, t := range sc.Traffic {
		if t.Kind < HTTP10 || t.Kind > UDP {
			return fmt.Errorf("sim: traffic %d: unknown kind %d", i, t.Kind)
		}
		if !t.Service.IsValid() || t.Service.Port() == 0 {
			return fmt.Errorf("sim: traffic %d: invalid service %v", i, t.Service)
		}
		if t.Weight < 0 {
			return fmt.Errorf("sim: traffic %d: negative weight", i)
		}
		weights += max(t.Weight, 1)
	}
	if sc.Seed != 0 {
		n.rng = rand.New(rand.NewPCG(sc.Seed, sc.Seed^0x9e3779b97f4a7c15))
	}
	r := &scenarioRun{n: n, sc: sc, weights: weights}
	base := len(n.clients)
	for i := range sc.ClientHosts {
		a4, ok4 := nthAddr(sc.ClientNet4, base+i+1)
		a6, ok6 := nthAddr(sc.ClientNet6, base+i+1)
		if !ok4 || !ok6 {
			return fmt.Errorf("sim: client pools %v / %v too small for %d hosts", sc.ClientNet4, sc.ClientNet6, base+sc.ClientHosts)
		}
		c, err := n.AddClient(ClientConfig{Name: fmt.Sprintf("c%d", base+i+1), Addrs: []netip.Addr{a4, a6}})
		if err != nil {
			return err
		}
		r.clients = append(r.clients, c)
	}
	r.arrivals = make([]clock.Time, sc.Clients)
	for i := range r.arrivals {
		r.arrivals[i] = n.now.Add(time.Duration(n.rng.Int64N(int64(sc.Duration) + 1)))
	}
	slices.Sort(r.arrivals)
	n.sc = r
	n.q.push(event{at: r.arrivals[0], kind: evArrival, idx: 0})
	return nil
}

// arrive starts session i and schedules the next arrival.
func (r *scenarioRun) arrive(i int) {
	n := r.n
	if i+1 < len(r.arrivals) {
		n.q.push(event{at: r.arrivals[i+1], kind: evArrival, idx: int32(i + 1)})
	}
	w := n.rng.IntN(r.weights)
	t := r.sc.Traffic[0]
	for _, tr := range r.sc.Traffic {
		if w < max(tr.Weight, 1) {
			t = tr
			break
		}
		w -= max(tr.Weight, 1)
	}
	c := r.clients[i%len(r.clients)]
	n.startSession(c, t.Kind, t.Service, &r.sc.Params, true)
}

// ScenarioDone reports whether the last scenario started has every
// session done.
func (n *Network) ScenarioDone() bool { return n.sc == nil || n.sc.done >= len(n.sc.arrivals) }

// nthAddr returns the i-th address of prefix (i >= 1), if it fits.
func nthAddr(p netip.Prefix, i int) (netip.Addr, bool) {
	p = p.Masked()
	a := p.Addr().As16()
	carry := uint64(i)
	for k := 15; k >= 0 && carry > 0; k-- {
		s := uint64(a[k]) + carry&0xff
		a[k] = byte(s)
		carry = carry>>8 + s>>8
	}
	addr := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		addr = addr.Unmap()
	}
	if carry != 0 || !p.Contains(addr) {
		return netip.Addr{}, false
	}
	// Skip the IPv4 broadcast address.
	if addr.Is4() && p.Bits() < 31 {
		if next := addr.Next(); !p.Contains(next) {
			return netip.Addr{}, false
		}
	}
	return addr, true
}
