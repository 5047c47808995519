package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/config"
	"github.com/vsd/vsd/internal/control"
	"github.com/vsd/vsd/internal/defense"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/listing"
	"github.com/vsd/vsd/internal/neigh"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
)

// Options configure Start.
type Options struct {
	ConfigPath string
	// Log receives the daemon's log lines (default os.Stderr).
	Log io.Writer
}

// Daemon is a running vsd.
type Daemon struct {
	log   *log.Logger
	start time.Time // origin of the datapath clock (monotonic)

	mu  sync.Mutex // serialises Reload, Close and the control API's changes
	cfg *config.Config
	set *service.Set

	eng   *director.Engine
	ports []port
	neigh *neigh.Table // nil in control-plane-only mode
	dp    datapath     // nil in control-plane-only mode
	resp  atomic.Pointer[neigh.Responder]

	busyPoll time.Duration // how long a worker keeps looking at its rings after a batch

	stop    atomic.Bool // workers leave their loop when set
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ctl     *controlServer
	api     *control.Server
	procErr string // last proc_dir failure logged (maintain goroutine only)
	closed  bool
	started time.Time
}

// Now returns the datapath clock: monotonic time since the daemon started.
func (d *Daemon) Now() clock.Time { return clock.Time(time.Since(d.start)) }

// Start loads and validates the configuration, opens the datapath, starts
// the workers and the control socket, and returns the running daemon.
// Nothing is attached or listening when it returns an error.
func Start(o Options) (_ *Daemon, err error) {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	cfg, err := loadChecked(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	d := &Daemon{log: log.New(o.Log, "vsd: ", 0), start: time.Now(), cfg: cfg, started: time.Now()}
	d.busyPoll = cfg.BusyPoll
	defer func() {
		if err != nil {
			d.shutdown()
		}
	}()
	d.set, err = cfg.Build(sched.New)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel

	if len(cfg.Interfaces) == 0 {
		// Control plane only: an engine with a placeholder port that
		// never receives a packet keeps the table and listings working.
		d.eng, err = director.New(director.Config{
			Ports:              []director.Port{{}},
			Neighbors:          noNeighbors{},
			TableBits:          cfg.TableBits,
			TableBudget:        cfg.TableBudget,
			HostAvailablePages: hostAvailablePages,
		})
		if err != nil {
			return nil, err
		}
	} else {
		if d.ports, err = discoverPorts(cfg.Interfaces); err != nil {
			return nil, err
		}
		np := make([]neigh.Port, len(d.ports))
		dports := make([]director.Port, len(d.ports))
		for i, p := range d.ports {
			np[i] = neigh.Port{Name: p.name, Index: p.index, MAC: p.mac}
			dports[i] = director.Port{MAC: p.mac, Addr4: p.addr4, Addr6: p.addr6, MTU: p.mtu}
		}
		if d.neigh, err = neigh.New(np); err != nil {
			return nil, fmt.Errorf("neighbour table: %w", err)
		}
		d.eng, err = director.New(director.Config{
			Ports:              dports,
			Neighbors:          d.neigh,
			TableBits:          cfg.TableBits,
			TableBudget:        cfg.TableBudget,
			HostAvailablePages: hostAvailablePages,
		})
		if err != nil {
			return nil, err
		}
	}
	if err := d.applyEngineSettings(cfg); err != nil {
		return nil, err
	}
	d.eng.Publish(d.set.Snapshot())

	if len(cfg.Interfaces) > 0 {
		if d.dp, err = openDatapath(cfg, d.ports, d.log); err != nil {
			return nil, err
		}
		if err := d.dp.update(matchOf(d.set.Snapshot())); err != nil {
			return nil, fmt.Errorf("steering maps: %w", err)
		}
		if err := d.refreshResponder(); err != nil {
			return nil, err
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.neigh.Run(ctx, d.eng.NeighborsChanged); err != nil && ctx.Err() == nil {
				d.log.Printf("neighbour updates stopped: %v", err)
			}
		}()
		d.startWorkers(cfg)
		d.announce()
		d.warmNeighbors()
	}
	d.api = &control.Server{Mu: &d.mu, Set: d.set, Engine: d.eng, Est: control.NewEstimator(), Now: d.Now,
		Published: func(snap *service.Snapshot) { d.publishLocked(snap, "change") },
		Applied:   d.logApplied, IsLocal: control.HostAddress}
	d.api.Sample()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.maintain(ctx) }()

	if d.ctl, err = startControl(cfg.ControlSocket, d); err != nil {
		return nil, err
	}
	d.logStarted()
	return d, nil
}

// hostAvailablePages is the host's free memory as the defenses count it.
func hostAvailablePages() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return defense.HostAvailablePages(f)
}

// loadChecked reads the file and runs the machine-dependent checks. No
// path means no file: every default, a control plane whose table belongs
// to vsadm.
func loadChecked(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse("", nil)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Check(func(name string) bool {
		_, err := net.InterfaceByName(name)
		return err == nil
	}); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (d *Daemon) logStarted() {
	snap := d.set.Snapshot()
	dests := 0
	for _, s := range snap.Services {
		dests += len(s.Dests)
	}
	if d.dp == nil {
		src := "no interfaces in " + d.cfg.Path
		if d.cfg.Path == "" {
			src = "no configuration file"
		}
		d.log.Printf("running as a control plane only (%s): %d services, %d real servers; control socket %s",
			src, len(snap.Services), dests, d.cfg.ControlSocket)
		return
	}
	workers := "1 worker"
	if n := len(d.dp.queues()); n != 1 {
		workers = fmt.Sprintf("%d workers", n)
	}
	d.log.Printf("running on %s: %d services, %d real servers, %s; control socket %s",
		d.dp.describe(), len(snap.Services), dests, workers, d.cfg.ControlSocket)
}

// applyEngineSettings sets the timeouts and tunables of cfg on the engine.
func (d *Daemon) applyEngineSettings(cfg *config.Config) error {
	to := d.eng.Timeouts()
	if err := cfg.Timeouts.ApplyTo(&to); err != nil {
		return fmt.Errorf("%s: timeouts: %w", cfg.Path, err)
	}
	d.eng.SetTimeouts(to)
	d.eng.SetTunables(cfg.Tunables)
	return nil
}

// Reload re-reads the configuration file and applies it: services and real
// servers are added, edited and removed in place (connections of a kept
// real server are untouched; those of a removed one drain as in the
// kernel), timeouts, tunables and the table budget replaced (a budget set
// with vsadm since is overridden by the file's). Changes that need a restart
// (interfaces, datapath, queues, table size) are reported and not applied.
// On any error nothing changes.
func (d *Daemon) Reload() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("daemon is shutting down")
	}
	if d.cfg.Path == "" {
		return "", errors.New("nothing to reload: vsd was started without a configuration file")
	}
	cfg, err := loadChecked(d.cfg.Path)
	if err != nil {
		return "", err
	}
	restart := cfg.RestartFields(d.cfg)
	if err := d.checkTableBudget(cfg); err != nil {
		return "", err
	}
	var ch config.Changes
	if cfg.HasServices {
		if ch, err = cfg.Apply(d.set, d.Now()); err != nil {
			return "", err
		}
	}
	if err := d.applyEngineSettings(cfg); err != nil {
		return "", err
	}
	if cfg.TableBudget != d.eng.Table().Budget() {
		if err := d.eng.SetTableBudget(cfg.TableBudget); err != nil { // checked above: does not fail
			return "", fmt.Errorf("%s: table.budget: %w", cfg.Path, err)
		}
	}
	d.publishLocked(d.set.Snapshot(), "reload")
	// Keep what needs a restart as it runs now, so the next reload compares
	// against what is really in force.
	cfg.Interfaces, cfg.Datapath, cfg.XDPMode, cfg.Queues, cfg.CPUs = d.cfg.Interfaces, d.cfg.Datapath, d.cfg.XDPMode, d.cfg.Queues, d.cfg.CPUs
	cfg.TableBits, cfg.ControlSocket, cfg.BusyPoll = d.cfg.TableBits, d.cfg.ControlSocket, d.cfg.BusyPoll
	d.cfg = cfg
	msg := ch.String()
	if !cfg.HasServices {
		msg = "services left as they are (the file has no services key)"
	}
	if len(restart) > 0 {
		msg += " (not applied, need a restart: " + strings.Join(restart, ", ") + ")"
	}
	d.log.Printf("reloaded %s: %s", cfg.Path, msg)
	return msg, nil
}

// checkTableBudget checks, before a reload changes anything, that the
// engine's table accepts cfg's table.budget at run time.
func (d *Daemon) checkTableBudget(cfg *config.Config) error {
	tu := d.eng.Tunables()
	if b := cfg.TableBudget; b != tu.TableBudget && (b < tu.TableBudgetMin || b > tu.TableBudgetMax) {
		return fmt.Errorf("%s: table.budget %d: the running table accepts %d..%d bytes (a larger maximum needs a restart)", cfg.Path, b, tu.TableBudgetMin, tu.TableBudgetMax)
	}
	return nil
}

// logTrace logs the workers' debug records (tunable debug_level).
func (d *Daemon) logTrace() {
	lost := d.eng.DrainTrace(func(w int, r director.TraceRecord) {
		line := fmt.Sprintf("debug: worker %d: %s %s %s -> %s", w, r.What, control.ProtocolOf(r.Proto),
			netip.AddrPortFrom(r.Src, r.SrcPort), netip.AddrPortFrom(r.Dst, r.DstPort))
		if r.Dest.IsValid() {
			line += " real server " + r.Dest.String()
		}
		d.log.Print(line)
	})
	if lost > 0 {
		d.log.Printf("debug: %d records lost (more than the ring holds between two drains)", lost)
	}
}

// logApplied logs a batch the control API applied: what it was, the first
// few operations by name.
func (d *Daemon) logApplied(ops []api.Op) {
	const show = 4
	if len(ops) == 0 {
		return
	}
	var parts []string
	for i, op := range ops {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(ops)-show))
			break
		}
		parts = append(parts, control.Describe(op))
	}
	word := "changes"
	if len(ops) == 1 {
		word = "change"
	}
	d.log.Printf("control: applied %d %s: %s", len(ops), word, strings.Join(parts, "; "))
}

// publishLocked hands a new snapshot of the services to the engine and the
// datapath: steering maps, ARP/NDP answers, announcements, next hops. why
// names the cause in log lines. d.mu is held.
func (d *Daemon) publishLocked(snap *service.Snapshot, why string) {
	d.eng.Publish(snap)
	if d.dp == nil {
		return
	}
	if err := d.dp.update(matchOf(snap)); err != nil {
		d.log.Printf("%s: steering maps: %v", why, err)
	}
	if err := d.refreshResponder(); err != nil {
		d.log.Printf("%s: ARP/NDP answers: %v", why, err)
	}
	d.announce()
	d.warmNeighbors()
}

// refreshResponder rebuilds the ARP/NDP answers for the VIPs in force.
func (d *Daemon) refreshResponder() error {
	np := make([]neigh.Port, len(d.ports))
	for i, p := range d.ports {
		np[i] = neigh.Port{Name: p.name, Index: p.index, MAC: p.mac}
	}
	ann, err := neigh.OnLink(np, vipsOf(d.set.Snapshot()))
	if err != nil {
		return err
	}
	d.resp.Store(neigh.NewResponder(np, ann))
	return nil
}

// announce sends gratuitous ARP / unsolicited NA for every announced VIP.
func (d *Daemon) announce() {
	r := d.resp.Load()
	qs := d.dp.queues()
	if r == nil || len(qs) == 0 {
		return
	}
	for i := range d.ports {
		for _, f := range r.Announcements(i, nil) {
			if err := qs[0].Send(i, f); err != nil {
				d.log.Printf("gratuitous announcement on %s: %v", d.ports[i].name, err)
			}
		}
	}
}

// warmNeighbors asks for the next hop of every real server now, so the
// kernel resolves them before the first connection needs them (a miss
// queues a resolution; the answer arrives through the neighbour updates).
func (d *Daemon) warmNeighbors() {
	for _, svc := range d.set.Snapshot().Services {
		for _, dst := range svc.Dests {
			d.neigh.Resolve(dst.Addr.Is6(), dst.Addr16)
		}
	}
}

// maintain runs the engine's reaper and the trash every 100 ms.
func (d *Daemon) maintain(ctx context.Context) {
	const every = 100 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	last := d.Now()
	lastTrash, lastEst := last, last
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.Now()
		d.eng.Maintain(now, now.Sub(last))
		if d.eng.Tunables().DebugLevel > 0 {
			d.logTrace()
		}
		last = now
		if now.Sub(lastEst) >= control.EstimatorInterval*time.Second {
			lastEst = now
			d.api.Sample()
			d.mu.Lock()
			dir := d.cfg.ProcDir
			d.mu.Unlock()
			if dir != "" {
				d.writeProc(dir)
			}
		}
		if now.Sub(lastTrash) >= time.Second {
			lastTrash = now
			d.mu.Lock()
			if d.set.ReapTrash(now) > 0 {
				d.eng.Publish(d.set.Snapshot())
			}
			d.mu.Unlock()
		}
	}
}

// procFiles are the /proc/net views kept current under control.proc_dir
// (the connection list is left to `vsadm --proc ip_vs_conn`: rewriting a
// million lines every 2 s would cost more than it is worth).
var procFiles = []string{"ip_vs", "ip_vs_stats", "ip_vs_stats_percpu"}

// writeProc rewrites dir/net/<name> for each of procFiles, each file
// replaced whole (written beside it, then renamed), so a reader never sees
// half of one. A failure is logged once until it changes.
func (d *Daemon) writeProc(dir string) {
	tab := d.api.Table()
	var errs []error
	net := filepath.Join(dir, "net")
	if err := os.MkdirAll(net, 0o755); err != nil {
		errs = append(errs, err)
	}
	for _, name := range procFiles {
		if len(errs) > 0 {
			break
		}
		var b bytes.Buffer
		if err := listing.WriteProc(&b, name, &tab, nil); err != nil {
			errs = append(errs, err)
			break
		}
		path := filepath.Join(net, name)
		if err := os.WriteFile(path+".new", b.Bytes(), 0o644); err != nil {
			errs = append(errs, err)
			break
		}
		if err := os.Rename(path+".new", path); err != nil {
			errs = append(errs, err)
		}
	}
	msg := ""
	if err := errors.Join(errs...); err != nil {
		msg = err.Error()
	}
	if msg != d.procErr {
		d.procErr = msg
		if msg != "" {
			d.log.Printf("proc_dir %s: %s", dir, msg)
		}
	}
}

// Close stops the workers, detaches every BPF program, closes the sockets
// and the control socket. It is idempotent.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	return d.shutdown()
}

func (d *Daemon) shutdown() error {
	d.stop.Store(true)
	if d.cancel != nil {
		d.cancel()
	}
	var errs []error
	if d.ctl != nil {
		errs = append(errs, d.ctl.close())
	}
	d.wg.Wait() // workers leave within one poll timeout
	if d.dp != nil {
		errs = append(errs, d.dp.close())
	}
	if d.eng != nil {
		c := d.eng.Counters()
		d.log.Printf("stopped: %d frames, %d sent, %d passed, %d dropped", c.Frames, c.Tx, c.Pass, c.Drop)
	}
	return errors.Join(errs...)
}

// noNeighbors resolves nothing (control-plane-only mode).
type noNeighbors struct{}

func (noNeighbors) Resolve(bool, [16]byte) ([6]byte, uint16, bool) { return [6]byte{}, 0, false }

// vipsOf lists the distinct VIPs of the services in snap.
func vipsOf(snap *service.Snapshot) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, s := range snap.Services {
		if s.Key.IsFwMark() || seen[s.Key.Addr] {
			continue
		}
		seen[s.Key.Addr] = true
		out = append(out, s.Key.Addr)
	}
	return out
}
