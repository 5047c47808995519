package director

import (
	"math/rand/v2"

	"errors"
	"fmt"
	"github.com/vsd/vsd/internal/defense"
	"github.com/vsd/vsd/internal/packet"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/frag"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// Port is one network port of the director.
type Port struct {
	MAC   [6]byte
	Addr4 netip.Addr // the director's own IPv4 address on this port (tunnel source, ICMP source)
	Addr6 netip.Addr // the director's own IPv6 address on this port
	MTU   int        // the port's IP MTU; 0: unknown, packets are not checked against it
}

// Neighbors resolves the next hop towards an address: the MAC address to
// send to and the port to send from. The sim network implements it with its
// directory; the daemon with the kernel's routes and neighbour table.
// Workers cache answers, so it may be slow-ish, but it must be safe for
// concurrent use.
type Neighbors interface {
	Resolve(v6 bool, addr [16]byte) (mac [6]byte, port uint16, ok bool)
}

// Tunables are the IPVS sysctls the engine follows. They are replaced as a
// whole (SetTunables) and read once per batch.
type Tunables struct {
	Defense                 defense.Settings // drop_entry, drop_packet, secure_tcp (levels 0..3), amemthresh, am_droprate
	ConnReuseMode           int              // bit 1: reschedule reused ports; bit 2: also FIN_WAIT for DR/TUN (default 1)
	ExpireNodestConn        bool             // expire connections whose destination is gone, and reschedule
	ExpireQuiescentTemplate bool             // persistence templates of weight-0 destinations are invalid
	SloppyTCP               bool             // create TCP connections from any non-RST segment
	SloppySCTP              bool             // create SCTP connections from any chunk but ABORT
	PMTUDisc                bool             // copy DF into tunnel headers (default on)
	NoICMPUnreachable       bool             // do not answer "no destination" with ICMP port unreachable
	DebugLevel              int              // 0 off; 1 trace drops and passes; 2 also scheduling (DrainTrace)
	HostMemory              bool             // defenses also count the host's free memory (Config.HostAvailablePages)
	OverloadForward         bool             // table full: forward new DR/TUN connections of sh/dh/mh services by hash, without an entry
	NoICMPForward           bool             // vsd only: pass ICMP errors of connections to the host instead of forwarding them
	ICMPRatelimit           int              // vsd only: ICMP errors generated per second and worker (0 no limit; default 1000)

	// TableBudget is the connection table's memory budget in bytes
	// (tunable table_budget; see SetTableBudget). Tunables reports it with
	// its bounds; SetTunables applies it when not 0 (0: leave it).
	TableBudget                    int64
	TableBudgetMin, TableBudgetMax int64 // read only: what SetTableBudget accepts
}

// DefaultTunables returns the kernel defaults.
func DefaultTunables() Tunables {
	return Tunables{ConnReuseMode: 1, PMTUDisc: true, Defense: defense.DefaultSettings(), ICMPRatelimit: DefaultICMPRatelimit}
}

// DefaultICMPRatelimit is icmp_ratelimit's default, the kernel's
// icmp_msgs_per_sec.
const DefaultICMPRatelimit = 1000

// Config configures an Engine.
type Config struct {
	Ports       []Port
	Neighbors   Neighbors
	TableBits   int   // connection-table buckets = 2^TableBits (8..24; default 12)
	TableBudget int64 // bytes of memory the connection table may use (default 1 GiB)
	// TableMaxBudget is the largest budget SetTableBudget accepts later
	// (default the larger of TableBudget and DefaultTableMaxBudget).
	TableMaxBudget int64
	// HostAvailablePages, if set, reports the host's free memory in 4 KiB
	// pages (the kernel's free + buffer pages); with the host_memory
	// tunable the defenses count the smaller of it and the budget's
	// headroom as available.
	HostAvailablePages func() (int64, error)
	// Fragments sizes the fragment tracker (zero: frag's defaults).
	Fragments frag.Config
}

// Engine is the shared part of the director: configuration snapshot,
// connection table, timeouts and tunables. Workers do the per-packet work.
type Engine struct {
	ports     []Port
	minMTU    int        // the smallest known port MTU (icmp.go minMTU)
	port4     [][16]byte // per port: Addr4 in the datapath layout
	port6     [][16]byte
	neighbors Neighbors
	table     *conntrack.Table
	frags     *frag.Tracker // first-fragment decisions, early fragments (frag.go)

	snap     atomic.Pointer[service.Snapshot]
	timeouts atomic.Pointer[state.Timeouts]
	tun      atomic.Pointer[Tunables]

	neighGen atomic.Uint64 // bumped when next hops change

	stats service.Stats // the director's traffic totals (/proc/net/ip_vs_stats)

	def         atomic.Pointer[defense.State] // the defenses in force, from the last update
	defMu       sync.Mutex                    // serialises defense updates (SetTunables, Maintain)
	lastDefend  clock.Time
	hostAvail   func() (int64, error)
	rng         *rand.Rand           // random buckets of drop_entry passes (Maintain only)
	chooser     defense.EntryChooser // drop_entry's one-in-n choice (Maintain only)
	dropEntries atomic.Uint64        // entries deleted by drop_entry passes

	mu      sync.Mutex // guards workers
	workers []*Worker

	proxy *synProxy // the SYN proxy's cookie key and held segments (syn_proxy NAT services)

	// Maintenance state, used only by the goroutine that calls Maintain.
	sweepRover int
	lastGC     clock.Time
}

// DefaultTableBudget is the connection table's memory budget when the
// configuration gives none.
const DefaultTableBudget = 1 << 30

// New returns an Engine with an empty configuration.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Ports) == 0 {
		return nil, errors.New("director: at least one port is needed")
	}
	if cfg.Neighbors == nil {
		return nil, errors.New("director: no neighbour resolver")
	}
	if cfg.TableBits == 0 {
		cfg.TableBits = 12
	}
	if cfg.TableBudget == 0 {
		cfg.TableBudget = DefaultTableBudget
	}
	for i, p := range cfg.Ports {
		if p.MTU != 0 && (p.MTU < minMTU4 || p.MTU > 65535) {
			return nil, fmt.Errorf("director: port %d: MTU %d outside 68..65535", i, p.MTU)
		}
	}
	e := &Engine{ports: cfg.Ports, neighbors: cfg.Neighbors, minMTU: minMTU(cfg.Ports)}
	for _, p := range cfg.Ports {
		var a4, a6 [16]byte
		if p.Addr4.IsValid() {
			a4 = p.Addr4.As16()
		}
		if p.Addr6.IsValid() {
			a6 = p.Addr6.As16()
		}
		e.port4 = append(e.port4, a4)
		e.port6 = append(e.port6, a6)
	}
	if cfg.TableMaxBudget == 0 {
		cfg.TableMaxBudget = max(cfg.TableBudget, DefaultTableMaxBudget)
	}
	t, err := conntrack.New(conntrack.Config{Bits: cfg.TableBits, BudgetBytes: cfg.TableBudget, MaxBudgetBytes: cfg.TableMaxBudget, Unbinder: (*unbinder)(e)})
	if err != nil {
		return nil, fmt.Errorf("director: connection table: %w", err)
	}
	e.table = t
	if e.proxy, err = newSynProxy(); err != nil {
		return nil, fmt.Errorf("director: syn proxy: %w", err)
	}
	if err := e.newFrags(cfg.Fragments); err != nil {
		return nil, fmt.Errorf("director: fragment tracker: %w", err)
	}
	e.hostAvail = cfg.HostAvailablePages
	to := state.DefaultTimeouts()
	e.timeouts.Store(&to)
	e.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	e.snap.Store(service.NewSet(nil).Snapshot())
	e.SetTunables(DefaultTunables())
	return e, nil
}

// Publish makes snap the configuration used by every worker from its next
// batch on. Connections in the table are untouched.
func (e *Engine) Publish(snap *service.Snapshot) {
	for id := 1; id < snap.DestCount(); id++ {
		if d := snap.Dest(service.DestID(id)); d != nil {
			e.table.SetDestAddr(uint32(id), d.Addr16)
		}
	}
	e.snap.Store(snap)
}

// Snapshot returns the configuration in force.
func (e *Engine) Snapshot() *service.Snapshot { return e.snap.Load() }

// SetTimeouts replaces the protocol state timeouts (applied to each
// connection on its next packet, as in the kernel).
func (e *Engine) SetTimeouts(t state.Timeouts) { e.timeouts.Store(&t) }

// Timeouts returns the timeouts in force.
func (e *Engine) Timeouts() state.Timeouts { return *e.timeouts.Load() }

// SetTunables replaces the tunables.
//
// As writing an IPVS defense sysctl does, it recomputes the defense levels
// at once against the memory available now.
func (e *Engine) SetTunables(t Tunables) {
	e.defMu.Lock()
	defer e.defMu.Unlock()
	if b := t.TableBudget; b != 0 && b != e.table.Budget() && b >= e.minTableBudget() {
		_ = e.table.SetBudget(b) // a value SetTableBudget would refuse changes nothing
	}
	t.TableBudget, t.TableBudgetMin, t.TableBudgetMax = 0, 0, 0
	e.tun.Store(&t)
	e.defendLocked()
}

// Defense returns the defenses in force (as of the last once-a-second
// update or SetTunables).
func (e *Engine) Defense() defense.State { return *e.def.Load() }

// AvailablePages is the memory the defenses see as available: the
// connection table budget's headroom, in 4 KiB pages.
// With the host_memory tunable, the host's free memory too, whichever is
// smaller.
func (e *Engine) AvailablePages() int64 {
	a := e.table.HeadroomBytes() / defense.PageSize
	if e.hostAvail != nil && e.tun.Load().HostMemory {
		if h, err := e.hostAvail(); err == nil {
			a = min(a, h)
		}
	}
	return a
}

// defendLocked is the kernel's update_defense_level: recompute the levels
// against the available memory, write automatic level changes (1 ↔ 2) back
// into the tunables as the kernel writes its sysctls, and publish the
// state for the workers. defMu is held.
func (e *Engine) defendLocked() defense.State {
	tun := e.tun.Load()
	st := defense.Update(tun.Defense, e.AvailablePages())
	if st.Settings != tun.Defense {
		n := *tun
		n.Defense = st.Settings
		e.tun.Store(&n)
	}
	e.def.Store(&st)
	return st
}

// Tunables returns the tunables in force.
func (e *Engine) Tunables() Tunables {
	t := *e.tun.Load()
	t.TableBudget, t.TableBudgetMin, t.TableBudgetMax = e.table.Budget(), e.minTableBudget(), e.table.MaxBudget()
	return t
}

// Stats returns the director's traffic totals; shard i of it is worker i's
// (workers beyond service.StatShards share shards).
func (e *Engine) Stats() *service.Stats { return &e.stats }

// Workers returns how many workers the engine has made.
func (e *Engine) Workers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.workers)
}

// Table returns the connection table (for listings and control).
func (e *Engine) Table() *conntrack.Table { return e.table }

// Maintain runs the periodic work: the incremental reaper over the
// fraction of the table that is due after elapsed time since the last call.
// Call it from one goroutine (the control loop or the sim), e.g. every
// 100 ms; it returns the number of entries it freed.
//
// With expire_nodest_conn set, the same walk also deletes the connections
// of destinations that were removed (the kernel's sweep after a
// destination is deleted); otherwise their packets are dropped (counted as dest_unavailable) until the entries time out, as in the kernel.
// Every 60 s it also lets lblc/lblcr age their caches.
func (e *Engine) Maintain(now clock.Time, elapsed time.Duration) int {
	freed := 0
	e.maintainFrags(now)
	if now.Sub(e.lastDefend) >= defenseInterval {
		e.lastDefend = now
		e.defMu.Lock()
		st := e.defendLocked()
		e.defMu.Unlock()
		if st.DropEntry {
			freed += e.randomDrop(now)
		}
	}
	n := e.table.ReapBuckets(elapsed, reapPass)
	if e.tun.Load().ExpireNodestConn {
		snap := e.snap.Load()
		first := e.sweepRover
		e.sweepRover = (first + n) % e.table.Buckets()
		freed += e.table.Sweep(first, n, now, func(_ uint32, en *conntrack.Entry) bool {
			d := snap.Dest(service.DestID(en.Dest()))
			if d == nil {
				d = e.snap.Load().Dest(service.DestID(en.Dest())) // created under a newer snapshot
			}
			return d != nil && !d.Available()
		})
	} else {
		freed += e.table.Reap(now, n)
	}
	if now.Sub(e.lastGC) >= cacheGCInterval {
		e.lastGC = now
		for _, svc := range e.snap.Load().Services {
			if c, ok := svc.Sched.(interface{ GC(clock.Time) }); ok {
				c.GC(now)
			}
		}
	}
	return freed
}

// defenseInterval is how often the defense levels are recomputed and a
// drop_entry pass runs (kernel: the 1 s defense_work timer).
const defenseInterval = time.Second

// randomDrop is one drop_entry pass (ipvs-semantics.md §3.4): it looks at
// Buckets/32 randomly chosen buckets and deletes the entries a flood
// leaves behind — half-open TCP and SCTP connections and unassured
// templates at once, and, one in n of those with n input packets whose
// timer was armed at least 60 s ago, established TCP/SCTP and UDP
// entries. Entries controlling others are kept. Returns how many it
// deleted.
func (e *Engine) randomDrop(now clock.Time) int {
	t := e.table
	to := e.timeouts.Load()
	deleted := 0
	pick := func(_ uint32, en *conntrack.Entry) bool {
		st := en.State()
		if en.IsTemplate() {
			return st != conntrack.TemplateAssured
		}
		proto := en.Proto()
		switch proto {
		case packet.ProtoTCP:
			switch state.TCPState(st) {
			case state.TCPSynRecv, state.TCPSynAck:
				return true
			case state.TCPEstablished:
			default:
				return false
			}
		case packet.ProtoSCTP:
			switch state.SCTPState(st) {
			case state.SCTPInit1, state.SCTPInit:
				return true
			case state.SCTPEstablished:
			default:
				return false
			}
		}
		idle := (to.Timeout(proto, st) - en.Remaining(now)) / time.Second
		return e.chooser.Choose(int(en.InPkts()), int64(idle))
	}
	for range max(t.Buckets()/32, 1) {
		deleted += t.Sweep(e.rng.IntN(t.Buckets()), 1, now, pick)
	}
	e.dropEntries.Add(uint64(deleted))
	return deleted
}

// cacheGCInterval is how often lblc/lblcr caches are aged (kernel: 60 s).
const cacheGCInterval = 60 * time.Second

// reapPass is how long one full pass of the reaper over the table takes:
// destination counters follow a connection's expiry within about this long
// (lookups expire entries exactly on time regardless).
const reapPass = time.Second

// unbinder fixes destination counters when the table frees an entry.
type unbinder Engine

func (u *unbinder) Unbind(_ uint32, en *conntrack.Entry) {
	d := (*Engine)(u).snap.Load().Dest(service.DestID(en.Dest()))
	if d == nil {
		return
	}
	d.Unbind(en.IsTemplate(), en.Flags()&conntrack.FlagInactive != 0)
}

// Counters are the engine's totals (summed over workers).
type Counters struct {
	Frames, Tx, Pass, Drop uint64
	DropEntries            uint64 // entries deleted by drop_entry passes
	Drops                  [numReasons]uint64
	Events                 [numEvents]uint64
	Frag                   frag.Stats // the fragment tracker (its timeouts are also in Drops)
}

// Counters sums the counters of every worker. Safe to call while workers run.
func (e *Engine) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	var c Counters
	for _, w := range e.workers {
		w.cnt.addTo(&c)
	}
	c.DropEntries = e.dropEntries.Load()
	e.addFragCounters(&c)
	// Drop is the sum of the reasons: a worker counts a reason as it
	// drops and its total once a batch, so while it works the two
	// differ; the sum is the same count, up to date.
	c.Drop = 0
	for _, n := range c.Drops {
		c.Drop += n
	}
	return c
}
