package vsadmtest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The reference model: ipvsadm's semantics for the commands the generator
// makes, written from interfaces.md §1 independently of vsadm and the
// daemon, printing its own -S text.

type mKey struct {
	proto  string // "tcp", "udp"; "" for fwmark
	addr   string
	port   int
	fwmark int
}

func (k mKey) sel() []string {
	switch k.proto {
	case "tcp":
		return []string{"-t", k.addr + ":" + strconv.Itoa(k.port)}
	case "udp":
		return []string{"-u", k.addr + ":" + strconv.Itoa(k.port)}
	}
	return []string{"-f", strconv.Itoa(k.fwmark)}
}

type mDest struct {
	addr   string
	port   int
	method string // -m, -g, -i
	weight int
}

type mSvc struct {
	key     mKey
	sched   string
	persist int // 0: not persistent
	dests   []mDest
}

type model struct{ svcs []*mSvc }

func (m *model) find(k mKey) *mSvc {
	for _, s := range m.svcs {
		if s.key == k {
			return s
		}
	}
	return nil
}

// cmd is one generated command: what the model applies and what vsadm is
// given.
type cmd struct {
	op        string // -A -E -D -a -e -d -C -Z
	key       mKey
	sched     string // "" = not given (wlc)
	persist   string // "" none, "bare" = -p alone, else the value
	dest      mDest
	destGiven bool
	weight    string // "" = not given
}

func (c cmd) args() []string {
	a := []string{c.op}
	if c.op == "-C" {
		return a
	}
	if c.op == "-Z" && c.key == (mKey{}) {
		return a
	}
	a = append(a, c.key.sel()...)
	switch c.op {
	case "-A", "-E":
		if c.sched != "" {
			a = append(a, "-s", c.sched)
		}
		switch c.persist {
		case "":
		case "bare":
			a = append(a, "-p")
		default:
			a = append(a, "-p", c.persist)
		}
	case "-a", "-e", "-d":
		a = append(a, "-r", c.dest.addr+":"+strconv.Itoa(c.dest.port))
		if c.op != "-d" {
			a = append(a, c.dest.method)
			if c.weight != "" {
				a = append(a, "-w", c.weight)
			}
		}
	}
	return a
}

var schedulers = []string{"rr", "wrr", "wlc", "lc", "sh", "dh", "sed", "nq", "fo", "ovf", "mh", "lblc", "lblcr"}

func gen(r *rand.Rand) cmd {
	var c cmd
	switch r.IntN(5) {
	case 0:
		c.key = mKey{fwmark: 1 + r.IntN(2)}
	default:
		c.key = mKey{proto: []string{"tcp", "udp"}[r.IntN(2)], addr: []string{"10.0.0.1", "10.0.0.2"}[r.IntN(2)], port: []int{80, 443, 0}[r.IntN(3)]}
	}
	ops := []string{"-A", "-A", "-A", "-E", "-D", "-a", "-a", "-a", "-a", "-e", "-e", "-d", "-C", "-Z"}
	c.op = ops[r.IntN(len(ops))]
	if c.op == "-C" && r.IntN(4) != 0 {
		c.op = "-a" // clear rarely, or the table stays small
	}
	if c.op == "-Z" && r.IntN(2) == 0 {
		c.key = mKey{}
	}
	switch c.op {
	case "-A", "-E":
		if r.IntN(6) != 0 {
			c.sched = schedulers[r.IntN(len(schedulers))]
		}
		if r.IntN(20) == 0 {
			c.sched = "bogus"
		}
		switch r.IntN(4) {
		case 0:
			c.persist = "bare"
		case 1:
			c.persist = strconv.Itoa(1 + r.IntN(3600))
		}
	case "-a", "-e", "-d":
		c.dest = mDest{addr: fmt.Sprintf("192.168.0.%d", 1+r.IntN(3)), port: []int{80, 8080}[r.IntN(2)],
			method: []string{"-m", "-g", "-i"}[r.IntN(3)]}
		switch r.IntN(6) {
		case 0:
		case 1:
			c.weight = "-1"
		default:
			c.weight = strconv.Itoa(r.IntN(6))
		}
		if r.IntN(15) == 0 {
			c.weight = "x"
		}
	}
	return c
}

// apply runs c on the model and returns the exit status and stderr text
// ipvsadm would give.
func (m *model) apply(c cmd) (int, string) {
	const (
		kernel     = 255
		validation = 2
	)
	s := m.find(c.key)
	switch c.op {
	case "-C":
		m.svcs = nil
		return 0, ""
	case "-Z":
		if c.key != (mKey{}) && s == nil {
			return kernel, "No such service"
		}
		return 0, ""
	case "-A", "-E":
		persist := 0
		switch c.persist {
		case "":
		case "bare":
			persist = 360
		default:
			persist, _ = strconv.Atoi(c.persist)
		}
		if c.key.fwmark == 0 && c.key.port == 0 && persist == 0 {
			return validation, "Zero port specified for non-persistent service"
		}
		sched := c.sched
		if sched == "" {
			sched = "wlc"
		}
		if c.op == "-A" && s != nil {
			return kernel, "Service already exists"
		}
		if c.op == "-E" && s == nil {
			return kernel, "No such service"
		}
		if sched == "bogus" {
			return kernel, "Scheduler or persistence engine not found"
		}
		if c.op == "-A" {
			m.svcs = append(m.svcs, &mSvc{key: c.key, sched: sched, persist: persist})
		} else {
			s.sched, s.persist = sched, persist
		}
		return 0, ""
	case "-D":
		if s == nil {
			return kernel, "No such service"
		}
		m.svcs = slices.DeleteFunc(m.svcs, func(x *mSvc) bool { return x == s })
		return 0, ""
	}
	// -a, -e, -d
	w := 1
	if c.op != "-d" && c.weight != "" {
		v, err := strconv.Atoi(c.weight)
		if err != nil || v < 0 || v > 65535 {
			return validation, "illegal weight specified"
		}
		w = v
	}
	d := c.dest
	if c.op != "-d" && d.method != "-m" && c.key.fwmark == 0 {
		d.port = c.key.port // -g and -i use the service's port
	}
	if s == nil {
		return kernel, "Service not defined"
	}
	i := slices.IndexFunc(s.dests, func(x mDest) bool { return x.addr == d.addr && x.port == d.port })
	switch c.op {
	case "-a":
		if i >= 0 {
			return kernel, "Destination already exists"
		}
		d.weight = w
		s.dests = append(s.dests, d)
	case "-e":
		if i < 0 {
			return kernel, "No such destination"
		}
		d.weight = w
		s.dests[i] = d
	case "-d":
		if i < 0 {
			return kernel, "No such destination"
		}
		s.dests = slices.Delete(s.dests, i, i+1)
	}
	return 0, ""
}

// save prints the model as `ipvsadm -S -n` does: services by fwmark (0
// first), protocol number, address, port; real servers by address, port.
func (m *model) save() string {
	svcs := slices.Clone(m.svcs)
	protoNum := map[string]int{"tcp": 6, "udp": 17, "": 6}
	slices.SortFunc(svcs, func(a, b *mSvc) int {
		if a.key.fwmark != b.key.fwmark {
			return a.key.fwmark - b.key.fwmark
		}
		if protoNum[a.key.proto] != protoNum[b.key.proto] {
			return protoNum[a.key.proto] - protoNum[b.key.proto]
		}
		if c := netip.MustParseAddr(orZero(a.key.addr)).Compare(netip.MustParseAddr(orZero(b.key.addr))); c != 0 {
			return c
		}
		return a.key.port - b.key.port
	})
	var b strings.Builder
	for _, s := range svcs {
		sel := strings.Join(s.key.sel(), " ")
		fmt.Fprintf(&b, "-A %s -s %s", sel, s.sched)
		if s.persist != 0 {
			fmt.Fprintf(&b, " -p %d", s.persist)
		}
		b.WriteString("\n")
		ds := slices.Clone(s.dests)
		slices.SortFunc(ds, func(x, y mDest) int {
			if c := netip.MustParseAddr(x.addr).Compare(netip.MustParseAddr(y.addr)); c != 0 {
				return c
			}
			return x.port - y.port
		})
		for _, d := range ds {
			fmt.Fprintf(&b, "-a %s -r %s:%d %s -w %d", sel, d.addr, d.port, d.method, d.weight)
			if d.method == "-i" {
				b.WriteString(" --tun-type ipip")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func orZero(a string) string {
	if a == "" {
		return "0.0.0.0"
	}
	return a
}

// checkSequence runs n generated commands on vsd (through vsadm) and on
// the model; after each, exit status, stderr and `-S -n` must agree.
// Then the table must survive -S, -C, -R unchanged.
func checkSequence(t *testing.T, d *daemon, seed uint64, n int) {
	t.Helper()
	d.mustRun(t, "", "-C")
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var m model
	var hist []string
	for range n {
		c := gen(r)
		args := c.args()
		hist = append(hist, "ipvsadm "+strings.Join(args, " "))
		wantCode, wantErr := m.apply(c)
		_, stderr, code := d.run("", args...)
		if wantErr != "" {
			wantErr += "\n"
		}
		if code != wantCode || stderr != wantErr {
			t.Fatalf("seed %d: %s: exit %d %q, model says exit %d %q\nafter:\n%s", seed, hist[len(hist)-1], code, stderr, wantCode, wantErr,
				strings.Join(hist[:len(hist)-1], "\n"))
		}
		got := d.mustRun(t, "", "-S", "-n")
		if want := m.save(); got != want {
			t.Fatalf("seed %d: after\n%s\n-S -n:\n%s\nmodel:\n%s", seed, strings.Join(hist, "\n"), got, want)
		}
	}
	saved := d.mustRun(t, "", "-S", "-n")
	d.mustRun(t, "", "-C")
	if got := d.mustRun(t, "", "-S", "-n"); got != "" {
		t.Fatalf("seed %d: -C left %q", seed, got)
	}
	d.mustRun(t, saved, "-R")
	if got := d.mustRun(t, "", "-S", "-n"); got != saved {
		t.Fatalf("seed %d: -S, -C, -R does not round-trip:\nsaved:\n%s\nrestored:\n%s", seed, saved, got)
	}
}

// TestCommandSequencesMatchModel is the property test: 200 random
// sequences of 30 commands each.
func TestCommandSequencesMatchModel(t *testing.T) {
	d := newDaemon(t)
	n := 200
	if testing.Short() {
		n = 20
	}
	for seed := range uint64(n) {
		checkSequence(t, d, seed, 30)
	}
}

// FuzzCommandSequence explores more sequences: the fuzzer picks the seed
// and length.
func FuzzCommandSequence(f *testing.F) {
	f.Add(uint64(1), uint8(20))
	f.Add(uint64(977), uint8(60))
	d := newDaemon(f)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		checkSequence(t, d, seed, int(n%80))
	})
}
