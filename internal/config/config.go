package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/vsd/vsd/api"
	"io"
	"math"
	"math/bits"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// Defaults filled in by Parse for keys the file leaves out.
const (
	DefaultDatapath      = "auto"
	DefaultXDPMode       = "auto"
	DefaultQueues        = 1
	DefaultBusyPoll      = 20 * time.Microsecond
	DefaultTableBits     = 12
	DefaultTableBudget   = director.DefaultTableBudget
	DefaultControlSocket = api.DefaultSocket
	DefaultScheduler     = "wlc"
	DefaultWeight        = 1
	DefaultMethod        = service.Route // ipvsadm's default (-g)
)

// Limits, as ipvsadm and the kernel have them (interfaces.md §1.4).
const (
	// DefaultPersistence is the timeout of `persistent: true`: ipvsadm's
	// -p without a value (libipvs' 6*60; the man page's 300 is wrong).
	DefaultPersistence = 360
	MaxPersistence     = 2678400 // ipvsadm -p upper bound, seconds (31 days)
	MaxWeight          = 65535
	MaxThreshold       = math.MaxInt32
	MaxQueues          = 256
	MaxBusyPoll        = 10 * time.Millisecond
	MaxCPU             = 8191 // largest CPU number accepted by Parse (Linux NR_CPUS limit)
	MinTableBits       = 8
	MaxTableBits       = 24
	MaxTableBudget     = 1 << 40
	maxSocketPath      = 107 // sun_path holds 108 bytes with the terminating NUL
	maxIfName          = 15  // IFNAMSIZ - 1
)

// Config is a parsed and validated configuration file.
type Config struct {
	Path string // the file name given to Parse, used in every Error

	// Interfaces the daemon drives, in port order; none: control plane only.
	Interfaces []Interface
	Datapath   string // auto | afxdp | afpacket
	XDPMode    string // auto | native | generic
	CPUs       []int  // CPUs the workers are pinned to; none: no pinning
	Queues     int    // receive queues (= workers) per interface
	// BusyPoll is how long a worker keeps looking at its rings after a
	// batch before it sleeps in poll again (0: always sleep).
	BusyPoll time.Duration

	TableBits   int   // connection-table buckets = 2^TableBits
	TableBudget int64 // bytes the connection table may use

	Timeouts Timeouts          // ipvsadm --set triple; 0 = leave unchanged
	Tunables director.Tunables // the IPVS sysctls; unset keys keep the kernel defaults

	ControlSocket string // unix socket of the control API
	// ProcDir, if set, is where the daemon keeps copies of
	// /proc/net/ip_vs, ip_vs_stats and ip_vs_stats_percpu current (under
	// ProcDir/net/), for monitoring agents that read those files.
	ProcDir string

	// Services are the file's virtual services. HasServices says the
	// file has a services key at all: only then does the file own the
	// table (start and every reload make the table equal to Services);
	// without it the table is left to vsadm and the control API.
	Services    []Service
	HasServices bool

	cpuPos []Pos // where each CPU was written (for Check)
}

// Interface is one interface the daemon drives.
type Interface struct {
	Name      string
	Line, Col int
}

// Pos is a place in the file (1-based; 0 = unknown).
type Pos struct {
	Line, Col int
}

// Service is one virtual service and its real servers, in file order.
// Config is complete: the scheduler name, the netmask and the flags are
// filled in, so it can be compared with a live service.
type Service struct {
	Config    service.ServiceConfig
	Dests     []service.DestParams
	Line, Col int   // where the service's entry starts
	DestPos   []Pos // where each real server's entry starts
}

// Timeouts is the `ipvsadm --set tcp tcpfin udp` triple: the ESTABLISHED,
// FIN_WAIT and UDP timeouts, in whole seconds; 0 leaves one unchanged.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// ApplyTo sets the triple in t (state.Timeouts.SetTriple); 0 values leave
// t's timeouts as they are.
func (tt Timeouts) ApplyTo(t *state.Timeouts) error {
	return t.SetTriple(uint32(tt.TCP/time.Second), uint32(tt.TCPFin/time.Second), uint32(tt.UDP/time.Second))
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

var (
	rootKeys    = []string{"interfaces", "datapath", "xdp_mode", "cpus", "queues", "busy_poll", "table", "timeouts", "tunables", "control", "services"}
	ifaceKeys   = []string{"name"}
	tableKeys   = []string{"bits", "budget"}
	timeoutKeys = []string{"tcp", "tcpfin", "udp"}
	tunableKeys = tunableNames()
	controlKeys = []string{"socket", "proc_dir"}
	serviceKeys = []string{"proto", "vip", "port", "fwmark", "family", "scheduler", "persistent", "netmask", "ops",
		"sched_flags", "syn_proxy", "source_rate", "conn_rate", "real_servers"}
	destKeys = []string{"addr", "port", "weight", "method", "tunnel", "tunnel_port", "tunnel_csum",
		"upper_threshold", "lower_threshold"}

	datapaths  = []string{"auto", "afxdp", "afpacket"}
	xdpModes   = []string{"auto", "native", "generic"}
	protos     = []string{"tcp", "udp", "sctp"}
	families   = []string{"inet", "inet6"}
	methods    = []string{"nat", "dr", "tun", "local"}
	tunnels    = []string{"ipip", "gue"}
	schedFlags = []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"}
)

// Parse parses and validates a configuration file; name is used in error
// messages. On any problem it returns nil and an Errors with every problem
// found, in file order.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{
		Path:          name,
		Datapath:      DefaultDatapath,
		XDPMode:       DefaultXDPMode,
		Queues:        DefaultQueues,
		BusyPoll:      DefaultBusyPoll,
		TableBits:     DefaultTableBits,
		TableBudget:   DefaultTableBudget,
		Tunables:      director.DefaultTunables(),
		ControlSocket: api.SocketPath(), // $VSD_SOCKET, else DefaultControlSocket
	}
	p := &parser{file: name, budget: maxNodes}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Errors{{File: name, Line: extra.Line, Col: extra.Column, Msg: "a second YAML document: the file must hold one"}}
	case !errors.Is(err, io.EOF):
		return nil, Errors{syntaxError(name, err)}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		p.root(doc.Content[0], c)
	}
	if p.over != nil {
		return nil, Errors{p.over}
	}
	if len(p.errs) > 0 {
		return nil, p.errs.sorted(name)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml error ("yaml: line 3: could not find expected
// ':'") into an Error keeping the line.
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	e := &Error{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e.Msg = "YAML syntax error: " + msg
	return e
}

func (p *parser) root(n *yaml.Node, c *Config) {
	if n = p.resolve(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "", "the file must be a mapping of keys (%s), got %s", strings.Join(rootKeys, ", "), kindName(n))
		return
	}
	f, ok := p.fields(n, "", rootKeys)
	if !ok {
		return
	}
	if v, ok := f["interfaces"]; ok {
		c.Interfaces = p.interfaces(v.val)
	}
	if v, ok := f["datapath"]; ok {
		if s, ok := p.enum(v.val, "datapath", datapaths); ok {
			c.Datapath = s
		}
	}
	if v, ok := f["xdp_mode"]; ok {
		if s, ok := p.enum(v.val, "xdp_mode", xdpModes); ok {
			c.XDPMode = s
			if s != "auto" && c.Datapath == "afpacket" {
				p.errorf(p.resolve(v.val), "xdp_mode", "%s needs datapath afxdp or auto (afpacket uses no XDP)", s)
			}
		}
	}
	if v, ok := f["cpus"]; ok {
		c.CPUs, c.cpuPos = p.cpus(v.val)
	}
	if v, ok := f["queues"]; ok {
		if q, ok := p.number(v.val, "queues", 1, MaxQueues, ""); ok {
			c.Queues = int(q)
		}
	}
	if v, ok := f["busy_poll"]; ok {
		if d, ok := p.shortDuration(v.val, "busy_poll", MaxBusyPoll); ok {
			c.BusyPoll = d
		}
	}
	if v, ok := f["table"]; ok {
		p.table(v.val, c)
	}
	if v, ok := f["timeouts"]; ok {
		p.timeouts(v.val, c)
	}
	if v, ok := f["tunables"]; ok {
		p.tunables(v.val, c)
	}
	if v, ok := f["control"]; ok {
		p.control(v.val, c)
	}
	if v, ok := f["services"]; ok {
		c.Services = p.services(v.val)
		c.HasServices = true
	}
}

func (p *parser) interfaces(n *yaml.Node) []Interface {
	items, _ := p.list(n, "interfaces", "interfaces (- name: IFNAME)")
	var out []Interface
	first := map[string]int{}
	for i, it := range items {
		path := index("interfaces", i)
		it = p.resolve(it)
		if it == nil {
			return out
		}
		val, vpath := it, path
		if it.Kind != yaml.ScalarNode || isNull(it) {
			f, ok := p.fields(it, path, ifaceKeys)
			if !ok {
				continue
			}
			v, has := f["name"]
			if !has {
				p.errorf(it, path+".name", "missing; each interface needs a name")
				continue
			}
			val, vpath = v.val, path+".name"
		}
		vn, name, ok := p.scalar(val, vpath, "an interface name")
		if !ok {
			continue
		}
		if msg := badIfName(name); msg != "" {
			p.errorf(vn, vpath, "%q %s", name, msg)
			continue
		}
		if l, dup := first[name]; dup {
			p.errorf(vn, vpath, "%q is listed twice (first at line %d)", name, l)
			continue
		}
		first[name] = vn.Line
		out = append(out, Interface{Name: name, Line: vn.Line, Col: vn.Column})
	}
	return out
}

// badIfName says what is wrong with an interface name, or "".
func badIfName(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxIfName:
		return fmt.Sprintf("is longer than %d bytes (Linux IFNAMSIZ)", maxIfName)
	case s == "." || s == "..":
		return "is not a valid interface name"
	case strings.ContainsAny(s, "/: \t\n\r\x00"):
		return "is not a valid interface name (no /, :, spaces)"
	}
	return ""
}

func (p *parser) cpus(n *yaml.Node) ([]int, []Pos) {
	items, _ := p.list(n, "cpus", "CPU numbers")
	var cpus []int
	var pos []Pos
	first := map[int64]int{}
	for i, it := range items {
		path := index("cpus", i)
		it = p.resolve(it)
		if it == nil {
			break
		}
		v, ok := p.number(it, path, 0, MaxCPU, "")
		if !ok {
			continue
		}
		if l, dup := first[v]; dup {
			p.errorf(it, path, "CPU %d is listed twice (first at line %d)", v, l)
			continue
		}
		first[v] = it.Line
		cpus = append(cpus, int(v))
		pos = append(pos, Pos{it.Line, it.Column})
	}
	return cpus, pos
}

func (p *parser) table(n *yaml.Node, c *Config) {
	f, ok := p.fields(n, "table", tableKeys)
	if !ok {
		return
	}
	bitsOK := true
	if v, ok := f["bits"]; ok {
		b, ok := p.number(v.val, "table.bits", MinTableBits, MaxTableBits, "")
		if ok {
			c.TableBits = int(b)
		}
		bitsOK = ok
	}
	if v, ok := f["budget"]; ok {
		b, ok := p.size(v.val, "table.budget", 1<<20, MaxTableBudget)
		if !ok {
			return
		}
		c.TableBudget = b
		if need := minBudget(c.TableBits); bitsOK && b < need {
			p.errorf(p.resolve(v.val), "table.budget", "%s is too small for bits %d: the buckets alone take %s (give at least %s)",
				formatSize(b), c.TableBits, formatSize(int64(4)<<c.TableBits), formatSize(need))
		}
	}
}

// minBudget is the smallest table budget accepted for 2^bits buckets: the
// bucket array (4 bytes a bucket) plus 256 KiB for the lock stripes (at
// most 1024 × 128 bytes) and some thousands of entries; conntrack.New
// refuses a budget that leaves no room for entries.
func minBudget(bits int) int64 { return int64(4)<<bits + 256<<10 }

func (p *parser) timeouts(n *yaml.Node, c *Config) {
	f, ok := p.fields(n, "timeouts", timeoutKeys)
	if !ok {
		return
	}
	for _, t := range [...]struct {
		key string
		dst *time.Duration
	}{{"tcp", &c.Timeouts.TCP}, {"tcpfin", &c.Timeouts.TCPFin}, {"udp", &c.Timeouts.UDP}} {
		if v, ok := f[t.key]; ok {
			if s, ok := p.seconds(v.val, "timeouts."+t.key, 0, state.MaxTimeoutSeconds); ok {
				*t.dst = time.Duration(s) * time.Second
			}
		}
	}
}

func (p *parser) tunables(n *yaml.Node, c *Config) {
	f, ok := p.fields(n, "tunables", tunableKeys)
	if !ok {
		return
	}
	for _, fl := range c.Tunables.Fields() {
		v, ok := f[fl.Name]
		if !ok {
			continue
		}
		path := "tunables." + fl.Name
		switch {
		case fl.Bool != nil:
			if x, ok := p.boolean(v.val, path); ok {
				*fl.Bool = x
			}
		case fl.Level:
			if x, ok := p.level(v.val, path); ok {
				*fl.Int = x
			}
		default:
			if x, ok := p.number(v.val, path, fl.Min, fl.Max, fl.Unit); ok {
				*fl.Int = int(x)
			}
		}
	}
}

// tunableNames are the keys of tunables:, the sysctl names of
// director.Tunables.Fields.
func tunableNames() []string {
	var t director.Tunables
	var names []string
	for _, f := range t.Fields() {
		names = append(names, f.Name)
	}
	return names
}

// level reads a defense level 0..3. For files written before the levels,
// true means 3 (always) and false 0 (off).
func (p *parser) level(n *yaml.Node, path string) (int, bool) {
	if r := p.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!bool" {
		if strings.EqualFold(r.Value, "true") {
			return 3, true
		}
		return 0, true
	}
	x, ok := p.number(n, path, 0, 3, "(0 off, 1 automatic, 2 automatic and on now, 3 always)")
	return int(x), ok
}

func (p *parser) control(n *yaml.Node, c *Config) {
	f, ok := p.fields(n, "control", controlKeys)
	if !ok {
		return
	}
	if v, ok := f["socket"]; ok {
		vn, s, ok := p.scalar(v.val, "control.socket", "an absolute path")
		switch {
		case !ok:
		case !strings.HasPrefix(s, "/"):
			p.errorf(vn, "control.socket", "%q is not an absolute path", s)
		case len(s) > maxSocketPath:
			p.errorf(vn, "control.socket", "path is %d bytes, a unix socket path may have at most %d", len(s), maxSocketPath)
		case strings.HasSuffix(s, "/") || strings.ContainsRune(s, 0):
			p.errorf(vn, "control.socket", "%q is not a file path", s)
		default:
			c.ControlSocket = s
		}
	}
	if v, ok := f["proc_dir"]; ok {
		vn, s, ok := p.scalar(v.val, "control.proc_dir", "an absolute directory path")
		switch {
		case !ok:
		case !strings.HasPrefix(s, "/") || strings.ContainsRune(s, 0):
			p.errorf(vn, "control.proc_dir", "%q is not an absolute path", s)
		default:
			c.ProcDir = strings.TrimRight(s, "/")
			if c.ProcDir == "" {
				p.errorf(vn, "control.proc_dir", "the root directory cannot be the proc directory")
			}
		}
	}
}

// svcKey identifies a service for duplicate detection, with kernel
// semantics (service.Set's sameKey).
type svcKey struct {
	mark  uint32
	v6    bool
	proto packet.Proto
	addr  netip.Addr
	port  uint16
}

func keyOf(k service.Key) svcKey {
	if k.IsFwMark() {
		return svcKey{mark: k.FwMark, v6: k.Addr.Is6()}
	}
	return svcKey{proto: k.Proto, addr: k.Addr.Unmap(), port: k.Port}
}

func keyName(k service.Key) string {
	if k.IsFwMark() && k.Addr.Is6() {
		return k.String() + " (inet6)"
	}
	return k.String()
}

func (p *parser) services(n *yaml.Node) []Service {
	items, _ := p.list(n, "services", "services")
	var out []Service
	first := map[svcKey]int{}
	for i, it := range items {
		path := index("services", i)
		at := it // an alias: report at the alias, not at its anchor
		if it = p.resolve(it); it == nil {
			break
		}
		s, ok := p.service(it, path)
		s.Line, s.Col = at.Line, at.Column
		if !ok {
			continue
		}
		k := keyOf(s.Config.Key)
		if l, dup := first[k]; dup {
			p.errorf(at, path, "%s is already defined at line %d", keyName(s.Config.Key), l)
			continue
		}
		first[k] = s.Line
		out = append(out, s)
	}
	return out
}

// addr parses an IP literal (no zone), IPv4-mapped IPv6 as IPv4.
func (p *parser) addr(n *yaml.Node, path string) (netip.Addr, bool) {
	vn, s, ok := p.scalar(n, path, "an IPv4 or IPv6 address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.errorf(vn, path, "%q is not an IPv4 or IPv6 address", s)
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		p.errorf(vn, path, "%q: an address zone (%%%s) is not allowed", s, a.Zone())
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (p *parser) service(n *yaml.Node, path string) (Service, bool) {
	s := Service{Line: n.Line, Col: n.Column}
	f, ok := p.fields(n, path, serviceKeys)
	if !ok {
		return s, false
	}
	good := true
	fail := func() { good = false }
	var k service.Key
	keyOK := true
	proto := ""
	if fw, isMark := f["fwmark"]; isMark {
		m, ok := p.number(fw.val, path+".fwmark", 1, math.MaxUint32, "")
		keyOK = ok
		for _, x := range []string{"proto", "vip", "port"} {
			if v, has := f[x]; has {
				p.errorf(v.key, path+"."+x, "not allowed with fwmark (a firewall-mark service has no protocol, VIP or port)")
				fail()
			}
		}
		fam := "inet"
		if v, has := f["family"]; has {
			if fam, ok = p.enum(v.val, path+".family", families); !ok {
				keyOK = false
			}
		}
		k.FwMark = uint32(m)
		k.Addr = netip.IPv4Unspecified()
		if fam == "inet6" {
			k.Addr = netip.IPv6Unspecified()
		}
	} else {
		if v, has := f["family"]; has {
			p.errorf(v.key, path+".family", "only for fwmark services (the VIP gives the family)")
			fail()
		}
		for _, x := range []string{"proto", "vip", "port"} {
			if _, has := f[x]; !has {
				p.errorf(n, path+"."+x, "missing; a service needs proto, vip and port, or fwmark")
				keyOK = false
			}
		}
		if v, has := f["proto"]; has {
			var ok bool
			if proto, ok = p.enum(v.val, path+".proto", protos); ok {
				k.Proto = map[string]packet.Proto{"tcp": packet.ProtoTCP, "udp": packet.ProtoUDP, "sctp": packet.ProtoSCTP}[proto]
			} else {
				keyOK = false
			}
		}
		if v, has := f["vip"]; has {
			a, ok := p.addr(v.val, path+".vip")
			k.Addr, keyOK = a, keyOK && ok
		}
		if v, has := f["port"]; has {
			port, ok := p.number(v.val, path+".port", 0, 65535, "")
			k.Port, keyOK = uint16(port), keyOK && ok
		}
	}
	if !keyOK {
		fail()
	}
	cfg := service.ServiceConfig{Key: k, Sched: DefaultScheduler}
	schedOK := true
	if v, has := f["scheduler"]; has {
		if name, ok := p.enum(v.val, path+".scheduler", sched.Names()); ok {
			cfg.Sched = name
		} else {
			schedOK = false
			fail()
		}
	}
	persistOK := true
	if v, has := f["persistent"]; has {
		if t, ok := p.persistent(v.val, path+".persistent"); ok {
			if t > 0 {
				cfg.Flags |= service.FlagPersistent
				cfg.Timeout = uint32(t)
			}
		} else {
			persistOK = false
			fail()
		}
	}
	persistent := cfg.Flags&service.FlagPersistent != 0
	maxBits := 32
	if k.Addr.Is6() {
		maxBits = 128
	}
	cfg.Netmask = maxBits
	if v, has := f["netmask"]; has {
		switch {
		case !persistOK:
		case !persistent:
			p.errorf(v.key, path+".netmask", "only with persistent (the netmask groups clients for persistence)")
			fail()
		case keyOK:
			if m, ok := p.netmask(v.val, path+".netmask", k.Addr.Is6()); ok {
				cfg.Netmask = m
			} else {
				fail()
			}
		}
	}
	if v, has := f["ops"]; has {
		if on, ok := p.boolean(v.val, path+".ops"); !ok {
			fail()
		} else if on {
			if keyOK && !k.IsFwMark() && k.Proto != packet.ProtoUDP {
				p.errorf(p.resolve(v.val), path+".ops", "One-Packet Scheduling is only for UDP virtual services (and fwmark services)")
				fail()
			}
			cfg.Flags |= service.FlagOnePacket
		}
	}
	if v, has := f["sched_flags"]; has {
		if fl, ok := p.schedFlags(v.val, path+".sched_flags", cfg.Sched, schedOK); ok {
			cfg.Flags |= fl
		} else {
			fail()
		}
	}
	if v, has := f["syn_proxy"]; has {
		on, ok := p.boolean(v.val, path+".syn_proxy")
		switch {
		case !ok:
			fail()
		case !on:
		case keyOK && k.Proto != packet.ProtoTCP:
			p.errorf(p.resolve(v.val), path+".syn_proxy", "only for TCP services")
			fail()
		case persistent:
			p.errorf(p.resolve(v.val), path+".syn_proxy", "not with persistent (a template would be made from the SYN)")
			fail()
		case schedOK && cfg.Sched != "sh" && cfg.Sched != "dh" && cfg.Sched != "mh":
			p.errorf(p.resolve(v.val), path+".syn_proxy", "needs a hash scheduler (sh, dh or mh), so the client's ACK reaches the server its SYN went to; %s is not one", cfg.Sched)
			fail()
		default:
			cfg.Flags |= service.FlagSynStateless
		}
	}
	if v, has := f["conn_rate"]; has {
		if r, ok := p.number(v.val, path+".conn_rate", 0, 1<<31-1, "packets per second per connection (0 = no limit)"); ok {
			cfg.ConnRate = uint32(r)
		} else {
			fail()
		}
	}
	if v, has := f["source_rate"]; has {
		if r, ok := p.number(v.val, path+".source_rate", 0, 1<<31-1, "packets per second per client address (0 = no limit)"); ok {
			cfg.SourceRate = uint32(r)
		} else {
			fail()
		}
	}
	if keyOK && persistOK && !k.IsFwMark() && k.Port == 0 && !persistent {
		p.errorf(p.resolve(f["port"].val), path+".port", "0 (all ports) needs persistent (ipvsadm: Zero port specified for non-persistent service)")
		fail()
	}
	s.Config = cfg
	if v, has := f["real_servers"]; has {
		items, ok := p.list(v.val, path+".real_servers", "real servers")
		if !ok {
			fail()
		}
		first := map[netip.AddrPort]int{}
		for i, it := range items {
			dpath := index(path+".real_servers", i)
			at := it
			if it = p.resolve(it); it == nil {
				return s, false
			}
			d, ok := p.dest(it, dpath, k, keyOK)
			if !ok {
				fail()
				continue
			}
			ap := netip.AddrPortFrom(d.Addr, d.Port)
			if l, dup := first[ap]; dup {
				p.errorf(at, dpath, "%s is listed twice in this service (first at line %d)", ap, l)
				fail()
				continue
			}
			first[ap] = at.Line
			s.Dests = append(s.Dests, d)
			s.DestPos = append(s.DestPos, Pos{at.Line, at.Column})
		}
	}
	return s, good
}

// persistent returns the persistence timeout: 0 for false, 360 for true, or
// the seconds given.
func (p *parser) persistent(n *yaml.Node, path string) (int64, bool) {
	r := p.resolve(n)
	if r == nil {
		return 0, false
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!bool" {
		on, ok := p.boolean(r, path)
		if on {
			return DefaultPersistence, ok
		}
		return 0, ok
	}
	return p.seconds(r, path, 1, MaxPersistence)
}

// netmask returns a persistence netmask as a prefix length: an IPv4
// dotted mask, or a prefix length N or /N (IPv4 1..32, IPv6 1..128).
func (p *parser) netmask(n *yaml.Node, path string, v6 bool) (int, bool) {
	maxBits := 32
	want := "a netmask like 255.255.255.0 or a prefix length /1../32"
	if v6 {
		maxBits = 128
		want = "a prefix length /1../128"
	}
	vn, s, ok := p.scalar(n, path, want)
	if !ok {
		return 0, false
	}
	if t := strings.TrimPrefix(s, "/"); t != "" && t[0] >= '0' && t[0] <= '9' && !strings.Contains(t, ".") && !strings.Contains(t, ":") {
		l, err := strconv.Atoi(t)
		if err != nil || l < 1 || l > maxBits {
			p.errorf(vn, path, "%s is out of range /1../%d", s, maxBits)
			return 0, false
		}
		return l, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.Zone() != "" {
		p.errorf(vn, path, "%q is not %s", s, want)
		return 0, false
	}
	if v6 {
		p.errorf(vn, path, "%q: an IPv6 service takes a prefix length /1../128, not a dotted mask", s)
		return 0, false
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^m)
	if ones == 0 || m != ^uint32(0)<<(32-ones) {
		p.errorf(vn, path, "%q is not a netmask (contiguous ones, at least one)", s)
		return 0, false
	}
	return ones, true
}

// schedFlags returns the service flags of an ipvsadm -b list: a YAML list
// or one comma-separated string.
func (p *parser) schedFlags(n *yaml.Node, path, schedName string, schedOK bool) (service.Flags, bool) {
	r := p.resolve(n)
	if r == nil {
		return 0, false
	}
	var items []*yaml.Node
	if r.Kind == yaml.ScalarNode && !isNull(r) {
		items = []*yaml.Node{r} // handled below: may hold commas
	} else {
		var ok bool
		if items, ok = p.list(r, path, "scheduler flags"); !ok {
			return 0, false
		}
	}
	var fl service.Flags
	good := true
	i := 0
	for _, it := range items {
		in, s, ok := p.scalar(it, index(path, i), "a scheduler flag")
		if !ok {
			good = false
			i++
			continue
		}
		for _, name := range strings.Split(s, ",") {
			ipath := index(path, i)
			i++
			name = strings.TrimSpace(name)
			if !contains(schedFlags, name) {
				msg := fmt.Sprintf("%q is not one of %s", name, strings.Join(schedFlags, ", "))
				if sg := suggest(name, schedFlags); sg != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", sg)
				}
				p.errorf(in, ipath, "%s", msg)
				good = false
				continue
			}
			if pre, _, _ := strings.Cut(name, "-"); (pre == "sh" || pre == "mh") && schedOK && schedName != pre {
				p.errorf(in, ipath, "%s needs scheduler %s (this service uses %s)", name, pre, schedName)
				good = false
				continue
			}
			switch name {
			case "flag-1", "sh-fallback", "mh-fallback":
				fl |= service.FlagSched1
			case "flag-2", "sh-port", "mh-port":
				fl |= service.FlagSched2
			case "flag-3":
				fl |= service.FlagSched3
			}
		}
	}
	return fl, good
}

func (p *parser) dest(n *yaml.Node, path string, sk service.Key, keyOK bool) (service.DestParams, bool) {
	d := service.DestParams{Weight: DefaultWeight, Method: DefaultMethod, Port: sk.Port}
	f, ok := p.fields(n, path, destKeys)
	if !ok {
		return d, false
	}
	good := true
	addrOK := false
	if v, has := f["addr"]; has {
		d.Addr, addrOK = p.addr(v.val, path+".addr")
		if addrOK {
			a := d.Addr
			if a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				p.errorf(p.resolve(v.val), path+".addr", "%s is not a unicast address", a)
				addrOK = false
			}
		}
	} else {
		p.errorf(n, path+".addr", "missing; a real server needs addr")
	}
	good = addrOK
	methodOK := true
	if v, has := f["method"]; has {
		m, ok := p.enum(v.val, path+".method", methods)
		methodOK = ok
		good = good && ok
		d.Method = map[string]service.Method{"nat": service.Masq, "dr": service.Route, "tun": service.Tunnel, "local": service.Local}[m]
	}
	isTun := methodOK && d.Method == service.Tunnel
	isGUE := false
	if v, has := f["tunnel"]; has {
		switch vn, s, ok := p.scalar(v.val, path+".tunnel", "ipip or gue"); {
		case !ok:
			good = false
		case methodOK && !isTun:
			p.errorf(v.key, path+".tunnel", "only with method tun")
			good = false
		case s == "gre":
			p.errorf(vn, path+".tunnel", "%q is not supported by vsd (use ipip or gue)", s)
			good = false
		default:
			t, ok := p.enum(vn, path+".tunnel", tunnels)
			good = good && ok
			if t == "gue" {
				d.TunType, isGUE = service.TunGUE, true
			}
		}
	}
	if v, has := f["tunnel_port"]; has {
		if !isGUE {
			if methodOK {
				p.errorf(v.key, path+".tunnel_port", "only with tunnel gue")
			}
			good = false
		} else if port, ok := p.number(v.val, path+".tunnel_port", 1, 65535, ""); ok {
			d.TunPort = uint16(port)
		} else {
			good = false
		}
	} else if isGUE {
		p.errorf(f["tunnel"].key, path+".tunnel_port", "missing; tunnel gue needs tunnel_port (the real server's GUE UDP port)")
		good = false
	}
	if v, has := f["tunnel_csum"]; has {
		if !isGUE {
			if methodOK {
				p.errorf(v.key, path+".tunnel_csum", "only with tunnel gue")
			}
			good = false
		} else if on, ok := p.boolean(v.val, path+".tunnel_csum"); !ok {
			good = false
		} else if on {
			d.TunFlags |= service.TunFlagCsum
		}
	}
	if v, has := f["port"]; has {
		port, ok := p.number(v.val, path+".port", 0, 65535, "")
		switch {
		case !ok:
			good = false
		case keyOK && methodOK && !sk.IsFwMark() && d.Method != service.Masq && uint16(port) != sk.Port:
			p.errorf(p.resolve(v.val), path+".port", "%d differs from the service port %d: only method nat can change the port (dr, tun and local keep it)", port, sk.Port)
			good = false
		default:
			d.Port = uint16(port)
		}
	}
	if v, has := f["weight"]; has {
		w, ok := p.number(v.val, path+".weight", 0, MaxWeight, "")
		d.Weight = int32(w)
		good = good && ok
	}
	upperOK := true
	if v, has := f["upper_threshold"]; has {
		u, ok := p.number(v.val, path+".upper_threshold", 0, MaxThreshold, "")
		d.UThreshold, upperOK = uint32(u), ok
		good = good && ok
	}
	if v, has := f["lower_threshold"]; has {
		l, ok := p.number(v.val, path+".lower_threshold", 0, MaxThreshold, "")
		d.LThreshold = uint32(l)
		good = good && ok
		if ok && upperOK && d.UThreshold != 0 && d.LThreshold > d.UThreshold {
			p.errorf(p.resolve(v.val), path+".lower_threshold", "%d is above upper_threshold %d", d.LThreshold, d.UThreshold)
			good = false
		}
	}
	if addrOK && keyOK && methodOK && d.Addr.Is6() != sk.Addr.Is6() && d.Method != service.Tunnel {
		fam := map[bool]string{false: "IPv4", true: "IPv6"}
		p.errorf(p.resolve(f["addr"].val), path+".addr", "%s address in an %s service: only method tun may mix address families",
			fam[d.Addr.Is6()], fam[sk.Addr.Is6()])
		good = false
	}
	return d, good
}
