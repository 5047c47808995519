package benchlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/netns"
)

// Options configure Run. Zero values take the defaults of DefaultOptions.
type Options struct {
	Runs         int           // repetitions of every figure (median of them)
	UDPDuration  time.Duration // each UDP run (saturation and fixed rate)
	HTTPDuration time.Duration // each wrk run
	Rate         float64       // the fixed offered rate, packets/s
	Connections  int           // wrk connections
	Candidates   []Candidate
	VSD          string    // vsd binary; without it the vsd candidates are reported as not measured
	XDPMode      string    // vsd xdp_mode for the AF_XDP candidate: auto, native, generic
	Exe          string    // this program, run as `EXE gen ...` for the generator (default os.Executable)
	Prefix       string    // namespace prefix (default vsb<pid>)
	Log          io.Writer // progress lines (may be nil)
}

// DefaultOptions are the full run's settings (about 10 minutes for all
// five candidates).
func DefaultOptions() Options {
	return Options{
		Runs: 3, UDPDuration: 5 * time.Second, HTTPDuration: 10 * time.Second,
		Rate: 300000, Connections: 64, Candidates: Candidates(), XDPMode: "generic",
	}
}

// QuickOptions is --quick: one run of 3 s each.
func QuickOptions() Options {
	o := DefaultOptions()
	o.Runs, o.UDPDuration, o.HTTPDuration = 1, 3*time.Second, 3*time.Second
	return o
}

func (o *Options) check() error {
	switch {
	case o.Runs < 1 || o.Runs > 100:
		return fmt.Errorf("runs %d: want 1..100", o.Runs)
	case o.UDPDuration < 100*time.Millisecond || o.UDPDuration > 10*time.Minute:
		return fmt.Errorf("UDP duration %v: want 100ms..10m", o.UDPDuration)
	case o.HTTPDuration < time.Second || o.HTTPDuration > 10*time.Minute:
		return fmt.Errorf("HTTP duration %v: want 1s..10m (wrk counts whole seconds)", o.HTTPDuration)
	case !(o.Rate >= 1000 && o.Rate <= 1e8):
		return fmt.Errorf("rate %v: want 1000..1e8 packets/s", o.Rate)
	case o.Connections < 1 || o.Connections > 8000:
		return fmt.Errorf("connections %d: want 1..8000 (HAProxy's maxconn is 8000)", o.Connections)
	case len(o.Candidates) == 0:
		return errors.New("no candidates")
	}
	switch o.XDPMode {
	case "", "auto", "native", "generic":
	default:
		return fmt.Errorf("xdp mode %q: want auto, native or generic", o.XDPMode)
	}
	return nil
}

// Measurement is one candidate's figures, one value per run (NaN where a
// run produced nothing).
type Measurement struct {
	Candidate Candidate
	Datapath  string  // what vsd reported (empty for the others)
	Err       error   // set up or measuring failed: the figures below are partial
	UDP       bool    // the UDP tests apply
	IdleShare float64 // CPU1's busy share with the candidate set up and no traffic (other work on the machine shows here)

	SatDelivered, SatGen  []float64 // packets/s at the servers, and the generator's accepted rate
	FixDelivered, FixGen  []float64 // at the fixed rate
	FixCPU                []float64 // director µs per delivered packet at the fixed rate
	FixShare              []float64 // director CPU share at the fixed rate
	KAReqs, KACPU, KAP99  []float64 // keep-alive: req/s, µs/request, p99 ms
	KAFailed              []float64
	CloseReqs, CloseCPU   []float64 // Connection: close: conn/s, µs/connection
	CloseP99, CloseFailed []float64
}

// Report is a whole run.
type Report struct {
	Options  Options
	Machine  string // nproc, kernel, CPU model
	Started  time.Time
	Command  string
	Results  []Measurement
	Duration time.Duration
}

// Run measures every candidate in order, each on fresh namespaces. A
// candidate that fails is reported with its error and the run goes on;
// Run itself fails only on bad options, a missing privilege or tool, or
// when ctx is done.
func Run(ctx context.Context, o Options, command string) (*Report, error) {
	def := DefaultOptions()
	if o.Runs == 0 {
		o.Runs = def.Runs
	}
	if o.UDPDuration == 0 {
		o.UDPDuration = def.UDPDuration
	}
	if o.HTTPDuration == 0 {
		o.HTTPDuration = def.HTTPDuration
	}
	if o.Rate == 0 {
		o.Rate = def.Rate
	}
	if o.Connections == 0 {
		o.Connections = def.Connections
	}
	if o.Candidates == nil {
		o.Candidates = def.Candidates
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("benchlab: %w", err)
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("benchlab: own executable: %w", err)
		}
		o.Exe = exe
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("vsb%d", os.Getpid())
	}
	if err := Preflight(o); err != nil {
		return nil, err
	}
	// Keep this process (and what it starts without taskset) off the
	// director's CPU.
	if err := pinSelf(genCPU); err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Machine: Machine(), Started: time.Now(), Command: command}
	for _, c := range o.Candidates {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		m := measureCandidate(ctx, c, &o)
		if m.Err != nil {
			logf(o.Log, "%s: %v", c, m.Err)
		}
		rep.Results = append(rep.Results, m)
	}
	rep.Duration = time.Since(rep.Started)
	return rep, ctx.Err()
}

// Preflight checks root, CPUs and tools, naming what is missing.
func Preflight(o Options) error {
	if err := netns.Available(); err != nil {
		return fmt.Errorf("benchlab: %w", err)
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("benchlab: need 2 CPUs (generator on CPU%d, director on CPU%d), have %d", genCPU, dirCPU, runtime.NumCPU())
	}
	tools := []string{"ethtool", "nft", "nginx", "wrk", "curl", "taskset", "ping"}
	for _, c := range o.Candidates {
		if c == HAProxy {
			tools = append(tools, "haproxy")
		}
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("benchlab: missing tools: %s (make deps installs them): %w", strings.Join(missing, ", "), netns.ErrUnavailable)
	}
	return nil
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, "vsbench: "+format+"\n", a...)
	}
}

// measureCandidate builds a fresh testbed, sets the candidate up and runs
// every figure Runs times; the testbed is removed before it returns.
func measureCandidate(ctx context.Context, c Candidate, o *Options) (m Measurement) {
	m = Measurement{Candidate: c, UDP: c.udpCapable()}
	if (c == VSDAFXDP || c == VSDAFPacket) && o.VSD == "" {
		m.Err = errors.New("not measured: no vsd binary given (--vsd)")
		return m
	}
	lab, err := netns.New(o.Prefix)
	if err != nil {
		m.Err = err
		return m
	}
	stop := lab.CloseOnSignal()
	defer func() {
		stop()
		if err := lab.Close(); err != nil && m.Err == nil {
			m.Err = err
		}
	}()
	logf(o.Log, "%s: building the testbed (%s-*)", c, o.Prefix)
	tb, err := buildTestbed(ctx, lab, func(f string, a ...any) { logf(o.Log, f, a...) })
	if err != nil {
		m.Err = err
		return m
	}
	if m.Datapath, err = tb.setupDirector(ctx, c, o); err != nil {
		m.Err = err
		return m
	}
	defer func() {
		if m.Err != nil {
			if diag := tb.vsdDiagnosis(ctx); diag != "" {
				m.Err = fmt.Errorf("%w%s", m.Err, diag)
			}
		}
	}()
	url := fmt.Sprintf("http://%s:%d/", c.target(), httpPort)
	if err := tb.waitHTTP(ctx, url, 10*time.Second); err != nil {
		m.Err = err
		return m
	}
	if m.IdleShare, err = idleShare(ctx, 500*time.Millisecond); err != nil {
		m.Err = err
		return m
	}
	if m.UDP { // a short warm-up: neighbour entries, connection-table slots, page faults
		if _, _, err := tb.udpRun(ctx, o, c, 20000, 300*time.Millisecond); err != nil {
			m.Err = err
			return m
		}
	}
	for run := 1; run <= o.Runs; run++ {
		if m.UDP {
			logf(o.Log, "%s: run %d/%d: UDP saturation, %v", c, run, o.Runs, o.UDPDuration)
			r, _, err := tb.udpRun(ctx, o, c, 0, o.UDPDuration)
			if err != nil {
				m.Err = err
				return m
			}
			m.SatDelivered = append(m.SatDelivered, r.deliveredRate())
			m.SatGen = append(m.SatGen, r.gen.SentRate())
			logf(o.Log, "%s:   delivered %.0f pps, generator %.0f pps (%d refused)", c, r.deliveredRate(), r.gen.SentRate(), r.gen.Refused)

			logf(o.Log, "%s: run %d/%d: UDP at %.0f pps, %v", c, run, o.Runs, o.Rate, o.UDPDuration)
			r, busy, err := tb.udpRun(ctx, o, c, o.Rate, o.UDPDuration)
			if err != nil {
				m.Err = err
				return m
			}
			m.FixDelivered = append(m.FixDelivered, r.deliveredRate())
			m.FixGen = append(m.FixGen, r.gen.SentRate())
			m.FixCPU = append(m.FixCPU, PerUnit(busy.Busy, r.delivered))
			m.FixShare = append(m.FixShare, busy.Share)
			logf(o.Log, "%s:   delivered %.0f pps, generator %.0f pps, CPU%d %.1f %% (CPU%d %.1f %%), %.3f µs/packet", c,
				r.deliveredRate(), r.gen.SentRate(), dirCPU, 100*busy.Share, genCPU, 100*r.genShare, PerUnit(busy.Busy, r.delivered))
		}
		for _, closeConn := range []bool{false, true} {
			kind := "keep-alive"
			if closeConn {
				kind = "Connection: close"
			}
			logf(o.Log, "%s: run %d/%d: wrk %s, %d connections, %v", c, run, o.Runs, kind, o.Connections, o.HTTPDuration)
			w, busy, err := tb.wrkRun(ctx, o, url, closeConn)
			if err != nil {
				m.Err = err
				return m
			}
			cpu := PerUnit(busy.Busy, w.Requests)
			p99 := float64(w.P99()) / float64(time.Millisecond)
			if closeConn {
				m.CloseReqs = append(m.CloseReqs, w.RequestsSec)
				m.CloseCPU = append(m.CloseCPU, cpu)
				m.CloseP99 = append(m.CloseP99, p99)
				m.CloseFailed = append(m.CloseFailed, float64(w.Failed()))
			} else {
				m.KAReqs = append(m.KAReqs, w.RequestsSec)
				m.KACPU = append(m.KACPU, cpu)
				m.KAP99 = append(m.KAP99, p99)
				m.KAFailed = append(m.KAFailed, float64(w.Failed()))
			}
			logf(o.Log, "%s:   %.0f req/s, %.1f µs/req on CPU%d, p99 %.2f ms, %d failed", c, w.RequestsSec, cpu, dirCPU, p99, w.Failed())
		}
	}
	return m
}

type udpResult struct {
	gen       GenResult
	delivered uint64
	genShare  float64 // the generator CPU's busy share (for the log)
}

func (r udpResult) deliveredRate() float64 { return Rate(r.delivered, r.gen.Elapsed) }

// udpRun runs the generator in the client at rate (0: saturation) and
// counts what the servers' interfaces received and what the director's
// CPU did meanwhile.
func (tb *testbed) udpRun(ctx context.Context, o *Options, c Candidate, rate float64, d time.Duration) (udpResult, netns.CPUInterval, error) {
	var r udpResult
	before, err := tb.delivered()
	if err != nil {
		return r, netns.CPUInterval{}, err
	}
	cpu0, err := netns.CPUBusy()
	if err != nil {
		return r, netns.CPUInterval{}, err
	}
	gctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	args := append([]string{"taskset", "-c", strconv.Itoa(genCPU), o.Exe, "gen"}, genArgs(GenConfig{
		Iface: "eth0", DstMAC: tb.frontMAC, Src: clientAddr, Dst: c.target(), DstPort: udpPort, Rate: rate, Duration: d,
	})...)
	out, err := tb.client.Run(gctx, args...)
	if err != nil {
		return r, netns.CPUInterval{}, err
	}
	time.Sleep(50 * time.Millisecond) // let queues drain into the counters
	cpu1, err := netns.CPUBusy()
	if err != nil {
		return r, netns.CPUInterval{}, err
	}
	after, err := tb.delivered()
	if err != nil {
		return r, netns.CPUInterval{}, err
	}
	if r.gen, err = ParseGenResult(out); err != nil {
		return r, netns.CPUInterval{}, err
	}
	r.delivered = delta(before, after)
	busy, err := netns.Busy(cpu0, cpu1, dirCPU)
	if gen, gerr := netns.Busy(cpu0, cpu1, genCPU); gerr == nil {
		r.genShare = gen.Share
	}
	return r, busy, err
}

// idleShare is the director CPU's busy share over d without traffic.
func idleShare(ctx context.Context, d time.Duration) (float64, error) {
	a, err := netns.CPUBusy()
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	b, err := netns.CPUBusy()
	if err != nil {
		return 0, err
	}
	iv, err := netns.Busy(a, b, dirCPU)
	return iv.Share, err
}

// wrkRun runs wrk in the client pinned to the generator's CPU.
func (tb *testbed) wrkRun(ctx context.Context, o *Options, url string, closeConn bool) (WrkResult, netns.CPUInterval, error) {
	secs := int(math.Round(o.HTTPDuration.Seconds()))
	args := []string{"taskset", "-c", strconv.Itoa(genCPU), "wrk", "-t1", "-c" + strconv.Itoa(o.Connections),
		"-d" + strconv.Itoa(secs) + "s", "--latency"}
	if closeConn {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	cpu0, err := netns.CPUBusy()
	if err != nil {
		return WrkResult{}, netns.CPUInterval{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.HTTPDuration+30*time.Second)
	defer cancel()
	out, err := tb.client.Run(wctx, args...)
	if err != nil {
		return WrkResult{}, netns.CPUInterval{}, err
	}
	cpu1, err := netns.CPUBusy()
	if err != nil {
		return WrkResult{}, netns.CPUInterval{}, err
	}
	w, err := ParseWrk(string(out))
	if err != nil {
		return w, netns.CPUInterval{}, err
	}
	busy, err := netns.Busy(cpu0, cpu1, dirCPU)
	return w, busy, err
}

// pinSelf sets the CPU affinity of every thread of this process (threads
// made later inherit it from their creator).
func pinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("benchlab: pin to CPU%d: %w", cpu, err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("benchlab: pin thread %d to CPU%d: %w", tid, cpu, err)
		}
	}
	return nil
}

// Machine describes this machine: CPUs, kernel, CPU model.
func Machine() string {
	var u unix.Utsname
	kernel := "unknown kernel"
	if unix.Uname(&u) == nil {
		kernel = "Linux " + unix.ByteSliceToString(u.Release[:])
	}
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		model = cpuModel(string(b))
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, %s", runtime.NumCPU(), kernel, model)
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
