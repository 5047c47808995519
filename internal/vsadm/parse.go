package vsadm

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vsd/vsd/api"
)

// Exit statuses, as ipvsadm 1.31 returns them.
const (
	ExitOK       = 0
	ExitList     = 1   // a listing failed ("No such service")
	ExitUsage    = 2   // ipvsadm's own validation (fail(2, ...))
	ExitRefused  = 255 // the kernel (here: vsd) refused, or a popt error
	maxTimeout   = 86400 * 31
	defPersist   = 6 * 60 // IPVS_SVC_PERSISTENT_TIMEOUT
	defScheduler = "wlc"
	defMcastIfn  = "eth0"
)

// Error is a command line refused before anything was sent: Msg is the
// exact text ipvsadm prints on stderr (without the final newline) and
// Code its exit status.
type Error struct {
	Msg  string
	Code int
}

func (e *Error) Error() string { return e.Msg }

func fail(format string, a ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, a...), Code: ExitUsage}
}

func tryHelp(argv0 string) *Error {
	return &Error{Msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.", argv0, argv0), Code: ExitRefused}
}

// Command names, as ipvsadm names its commands in messages, plus help,
// version and the vsadm extension proc.
const (
	CmdAddService    = "add-service"
	CmdEditService   = "edit-service"
	CmdDeleteService = "delete-service"
	CmdFlush         = "flush"
	CmdList          = "list"
	CmdAddServer     = "add-server"
	CmdDeleteServer  = "delete-server"
	CmdEditServer    = "edit-server"
	CmdSet           = "set"
	CmdStartDaemon   = "start-daemon"
	CmdStopDaemon    = "stop-daemon"
	CmdRestore       = "restore"
	CmdSave          = "save"
	CmdZero          = "zero"
	CmdHelp          = "help"
	CmdVersion       = "version"
	CmdProc          = "proc"
)

// Command is one parsed command line.
type Command struct {
	// Name is the command (Cmd* constants).
	Name string
	// Op is the change a changing command sends (-A -E -D -C -a -e -d -Z
	// --set --start-daemon --stop-daemon); nil for the others.
	Op *api.Op

	// For list and save.
	Numeric bool
	Exact   bool
	NoSort  bool
	// Service is the service of `-L <service>`; nil for the whole table.
	Service *api.ServiceKey
	// What -L lists instead of services (at most one is set).
	Conns, Timeouts, Daemons bool
	// Views of -L; when several are set the first in this order wins.
	Stats, Rate, Thresholds, PersistentConn, TunInfo bool

	// Proc is the file of `--proc NAME`.
	Proc string
}

// Changing reports whether c changes the table (the commands -R accepts).
func (c *Command) Changing() bool { return c.Op != nil }

// Option indexes, in ipvsadm's optnames order (the order of the legality
// checks and of the names in messages).
const (
	optNumeric = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOnePacket
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxLen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	numOpts
)

var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold",
	"l-threshold", "mcast-interface", "timeout", "daemon", "stats", "rate",
	"thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen",
	"tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
}

// legality is ipvsadm's commands_v_options table: per command, per option,
// 'x' illegal, '+' required, '1' at most one of the '1' options, ' ' allowed.
var legality = map[string]*[numOpts]byte{}

func init() {
	row := func(cmd string, allowed map[int]byte) {
		var r [numOpts]byte
		for i := range r {
			r[i] = 'x'
		}
		for o, v := range allowed {
			r[o] = v
		}
		legality[cmd] = &r
	}
	svcOpts := map[int]byte{optService: '+', optScheduler: ' ', optPersistent: ' ', optNetmask: ' ',
		optOnePacket: ' ', optPE: ' ', optSchedFlags: ' '}
	row(CmdAddService, svcOpts)
	row(CmdEditService, svcOpts)
	row(CmdDeleteService, map[int]byte{optService: '+'})
	row(CmdFlush, nil)
	row(CmdList, map[int]byte{optNumeric: ' ', optConnection: '1', optService: '1', optTimeout: '1', optDaemon: '1',
		optStats: ' ', optRate: ' ', optThresholds: ' ', optPersistentConn: ' ', optNoSort: ' ', optSyncID: ' ',
		optExact: ' ', optTunInfo: ' '})
	destOpts := map[int]byte{optService: '+', optServer: '+', optForward: ' ', optWeight: ' ', optUThreshold: ' ',
		optLThreshold: ' ', optTunType: ' ', optTunPort: ' ', optTunNoCsum: ' ', optTunCsum: ' ', optTunRemCsum: ' '}
	row(CmdAddServer, destOpts)
	row(CmdEditServer, destOpts)
	row(CmdDeleteServer, map[int]byte{optService: '+', optServer: '+'})
	row(CmdSet, nil)
	row(CmdStartDaemon, map[int]byte{optMcast: ' ', optSyncID: ' ', optMcastGroup: ' ', optMcastPort: ' ',
		optMcastTTL: ' ', optSyncMaxLen: ' '})
	row(CmdStopDaemon, map[int]byte{optSyncID: ' '})
	row(CmdRestore, nil)
	row(CmdSave, map[int]byte{optNumeric: ' '})
	row(CmdZero, map[int]byte{optService: ' '})
}

// Tunnel types (the kernel's IP_VS_CONN_F_TUNNEL_TYPE_*), their option
// table (tunnel_types_v_options) and names.
const (
	tunIPIP = iota
	tunGUE
	tunGRE
)

var (
	tunNames   = [...]string{api.TunIPIP, api.TunGUE, api.TunGRE}
	tunOpts    = [4]int{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
	tunLegalty = [3][4]byte{
		tunIPIP: {'x', 'x', 'x', 'x'},
		tunGUE:  {'+', '1', '1', '1'},
		tunGRE:  {'x', '1', '1', 'x'},
	}
)

// IP protocol numbers, as ipvsadm keeps them in svc.protocol.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// resolver looks up host and service names. The system one is used by
// Parse; tests and the fuzz target use a fake one.
type resolver interface {
	// host resolves an IPv4 host name to its first address
	// (gethostbyname).
	host(name string) (netip.Addr, bool)
	// port resolves a service name for an IP protocol (getservbyname).
	port(name string, proto int) (uint16, bool)
}

// svcState is ipvsadm's ipvs_service_t while parsing.
type svcState struct {
	af       int // 0 (not yet set), 4 or 6
	addr     netip.Addr
	port     uint16
	protocol int
	fwmark   uint32
	netmask  uint32 // IPv4: the mask (a.b.c.d as a<<24|...); IPv6: prefix length
	sched    string
	persist  bool
	timeout  uint32
	ops      bool
	pe       string
	flags    uint32
}

type destState struct {
	af       int
	addr     netip.Addr
	port     uint16
	method   api.Method
	weight   int32
	uThresh  uint32
	lThresh  uint32
	tunType  int
	tunPort  uint16
	tunCsum  string
	setCsums int
}

type parser struct {
	argv0 string
	res   resolver

	cmd     string
	options uint64
	svc     svcState
	dest    destState
	tmo     api.Timeouts
	daemon  api.SyncDaemon
	sflags  string
	cmdView Command
}

// Parse turns one command line (without argv[0]) into a Command, or
// returns an *Error with ipvsadm's message and exit status. Host and
// service names are resolved with the system resolver and /etc/services.
// An empty line is `ipvsadm` alone: list the whole table.
func Parse(args []string) (*Command, error) {
	c, err := parse("ipvsadm", args, systemResolver{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse is Parse with the program name used in the "Try" message and a
// resolver.
func parse(argv0 string, args []string, res resolver) (*Command, *Error) {
	if len(args) == 0 {
		return &Command{Name: CmdList}, nil
	}
	p := &parser{argv0: argv0, res: res}
	p.dest.weight = 1
	p.dest.method = api.Route
	p.svc.netmask = 0xffffffff
	return p.run(append([]string{argv0}, args...))
}

func (p *parser) setOption(o int) *Error {
	if p.options&(1<<o) != 0 {
		return fail("multiple '%s' options specified", optNames[o])
	}
	p.options |= 1 << o
	return nil
}

func (p *parser) run(argv []string) (*Command, *Error) {
	po := newPopt(argv)
	opt, arg, _, perr := po.nextOpt()
	if perr != poptOK {
		return nil, tryHelp(p.argv0)
	}
	switch opt.tag {
	case tagAdd:
		p.cmd = CmdAddService
	case tagEdit:
		p.cmd = CmdEditService
	case tagDel:
		p.cmd = CmdDeleteService
	case tagAddDest:
		p.cmd = CmdAddServer
	case tagEditDest:
		p.cmd = CmdEditServer
	case tagDelDest:
		p.cmd = CmdDeleteServer
	case tagFlush:
		p.cmd = CmdFlush
	case tagList:
		p.cmd = CmdList
	case tagZero:
		p.cmd = CmdZero
	case tagSet:
		p.cmd = CmdSet
	case tagRestore:
		p.cmd = CmdRestore
	case tagSave:
		p.cmd = CmdSave
	case tagStartDaemon, tagStopDaemon:
		p.cmd = CmdStartDaemon
		bad := "illegal start-daemon parameter specified"
		if opt.tag == tagStopDaemon {
			p.cmd = CmdStopDaemon
			bad = "illegal start_daemon specified" // sic
		}
		switch arg {
		case "master", "backup":
			p.daemon.Role = arg
		default:
			return nil, fail("%s", bad)
		}
	case tagHelp:
		return &Command{Name: CmdHelp}, nil
	case tagVersion:
		return &Command{Name: CmdVersion}, nil
	default:
		return nil, tryHelp(p.argv0)
	}

	for {
		opt, arg, hasArg, perr := po.nextOpt()
		if perr == poptEnd {
			break
		}
		if perr != poptOK {
			return nil, &Error{Msg: fmt.Sprintf("%s: %s", po.badOption(), perr), Code: ExitRefused}
		}
		if err := p.option(opt.tag, arg, hasArg, po); err != nil {
			return nil, err
		}
	}

	if p.cmd == CmdSet {
		a, ok1 := po.getArg()
		b, ok2 := po.getArg()
		c, ok3 := po.getArg()
		if !ok1 || !ok2 || !ok3 {
			return nil, fail("--set option requires 3 timeout values")
		}
		var vals [3]uint32
		for i, s := range []string{a, b, c} {
			v := stringToNumber(s, 0, maxTimeout)
			if v < 0 {
				return nil, fail("invalid timeout value `%s' specified", s)
			}
			vals[i] = uint32(v)
		}
		p.tmo = api.Timeouts{TCP: vals[0], TCPFin: vals[1], UDP: vals[2]}
	}
	if extra, ok := po.getArg(); ok {
		return nil, fail("unexpected argument %s", extra)
	}
	if p.sflags != "" {
		f, err := parseSchedFlags(p.svc.sched, p.sflags)
		if err != nil {
			return nil, err
		}
		p.svc.flags |= f
	}
	return p.finish()
}

// option applies one option after the command, as ipvsadm's
// parse_options loop does, left to right.
func (p *parser) option(t tag, arg string, hasArg bool, po *popt) *Error {
	switch t {
	case tagTCP, tagUDP, tagSCTP:
		if err := p.setOption(optService); err != nil {
			return err
		}
		p.svc.protocol = map[tag]int{tagTCP: protoTCP, tagUDP: protoUDP, tagSCTP: protoSCTP}[t]
		ok := p.parseService(arg, &p.svc, true)
		if !ok {
			return fail("illegal virtual server address[:port] specified")
		}
	case tagFwMark:
		if err := p.setOption(optService); err != nil {
			return err
		}
		p.svc.af = 4
		p.svc.protocol = protoTCP
		l, whole, erange := strtoul(arg)
		if !whole || erange || l == 0 || l > 0xffffffff {
			return fail("invalid fwmark value `%s' specified", arg)
		}
		p.svc.fwmark = uint32(l)
	case tagScheduler:
		if err := p.setOption(optScheduler); err != nil {
			return err
		}
		p.svc.sched = truncate(arg, 15) // IP_VS_SCHEDNAME_MAXLEN - 1
	case tagPersistent:
		if err := p.setOption(optPersistent); err != nil {
			return err
		}
		p.svc.persist = true
		p.svc.timeout = defPersist
		if hasArg {
			v := stringToNumber(arg, 1, maxTimeout)
			if v < 0 {
				return fail("invalid timeout value `%s' specified", arg)
			}
			p.svc.timeout = uint32(v)
		}
	case tagNetmask:
		if err := p.setOption(optNetmask); err != nil {
			return err
		}
		if p.svc.af != 6 {
			m, ok := inetAton(arg)
			if !ok {
				var a netip.Addr
				if a, ok = p.hostToAddr(arg); ok {
					m = be32(a)
				}
			}
			if !ok {
				return fail("illegal virtual server persistent mask specified")
			}
			p.svc.netmask = m
		} else {
			p.svc.netmask = uint32(atoi(arg))
			if p.svc.netmask < 1 || p.svc.netmask > 128 {
				return fail("illegal ipv6 netmask specified")
			}
		}
	case tagRealServer:
		if err := p.setOption(optServer); err != nil {
			return err
		}
		t := p.svc // ipvs_service_t t_dest = ce->svc
		if !p.parseService(arg, &t, false) {
			return fail("illegal real server address[:port] specified")
		}
		p.dest.af, p.dest.addr, p.dest.port = t.af, t.addr, t.port
	case tagIPIP, tagGate, tagMasq:
		if err := p.setOption(optForward); err != nil {
			return err
		}
		p.dest.method = map[tag]api.Method{tagIPIP: api.Tunnel, tagGate: api.Route, tagMasq: api.Masq}[t]
	case tagWeight:
		if err := p.setOption(optWeight); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 65535)
		if v < 0 {
			return fail("illegal weight specified")
		}
		p.dest.weight = int32(v)
	case tagUThreshold, tagLThreshold:
		o, name := optUThreshold, "u_threshold"
		if t == tagLThreshold {
			o, name = optLThreshold, "l_threshold"
		}
		if err := p.setOption(o); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 1<<31-1)
		if v < 0 {
			return fail("illegal %s specified", name)
		}
		if t == tagUThreshold {
			p.dest.uThresh = uint32(v)
		} else {
			p.dest.lThresh = uint32(v)
		}
	case tagConnection:
		return p.flag(optConnection, &p.cmdView.Conns)
	case tagNumeric:
		return p.flag(optNumeric, &p.cmdView.Numeric)
	case tagMcastInterface:
		if err := p.setOption(optMcast); err != nil {
			return err
		}
		p.daemon.Interface = truncate(arg, 15) // IP_VS_IFNAME_MAXLEN - 1
	case tagSyncID:
		if err := p.setOption(optSyncID); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 255)
		if v < 0 {
			return fail("illegal syncid specified")
		}
		p.daemon.SyncID = uint8(v)
	case tagTimeout:
		return p.flag(optTimeout, &p.cmdView.Timeouts)
	case tagDaemon:
		return p.flag(optDaemon, &p.cmdView.Daemons)
	case tagStats:
		return p.flag(optStats, &p.cmdView.Stats)
	case tagRate:
		return p.flag(optRate, &p.cmdView.Rate)
	case tagThresholds:
		return p.flag(optThresholds, &p.cmdView.Thresholds)
	case tagPersistentConn:
		return p.flag(optPersistentConn, &p.cmdView.PersistentConn)
	case tagNoSort:
		return p.flag(optNoSort, &p.cmdView.NoSort)
	case tagSort:
		// the default; accepted for compatibility
	case tagExact:
		return p.flag(optExact, &p.cmdView.Exact)
	case tagIPv6:
		if p.svc.fwmark == 0 {
			return fail("-6 used before -f\n")
		}
		p.svc.af = 6
		p.svc.netmask = 128
	case tagOps:
		if err := p.setOption(optOnePacket); err != nil {
			return err
		}
		p.svc.ops = true
	case tagPE:
		if err := p.setOption(optPE); err != nil {
			return err
		}
		p.svc.pe = truncate(arg, 32) // IP_VS_PENAME_MAXLEN
	case tagSchedFlags:
		if err := p.setOption(optSchedFlags); err != nil {
			return err
		}
		p.sflags = truncate(arg, 127) // char sched_flags_arg[128]
	case tagSyncMaxLen:
		if err := p.setOption(optSyncMaxLen); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535-20-8)
		if v < 0 {
			return fail("illegal sync-maxlen specified")
		}
		p.daemon.MaxLen = uint16(v)
	case tagMcastGroup:
		if err := p.setOption(optMcastGroup); err != nil {
			return err
		}
		if strings.Contains(arg, ":") {
			a, ok := inetPton6(arg)
			if !ok || !a.IsMulticast() {
				return fail("invalid IPv6 mcast-group `%s'", arg)
			}
			p.daemon.Group = a
		} else {
			a, ok := inetPton4(arg)
			if !ok || !a.IsMulticast() {
				return fail("invalid IPv4 mcast-group `%s'", arg)
			}
			p.daemon.Group = a
		}
	case tagMcastPort:
		if err := p.setOption(optMcastPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v < 0 {
			return fail("illegal mcast-port specified")
		}
		p.daemon.Port = uint16(v)
	case tagMcastTTL:
		if err := p.setOption(optMcastTTL); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 255)
		if v < 0 {
			return fail("illegal mcast-ttl specified")
		}
		p.daemon.TTL = uint8(v)
	case tagTunType:
		if err := p.setOption(optTunType); err != nil {
			return err
		}
		switch arg {
		case api.TunIPIP:
			p.dest.tunType = tunIPIP
		case api.TunGUE:
			p.dest.tunType = tunGUE
		case api.TunGRE:
			p.dest.tunType = tunGRE
		default:
			return fail("illegal tunnel type specified")
		}
	case tagTunPort:
		if err := p.setOption(optTunPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v < 0 {
			return fail("illegal tunnel port specified")
		}
		p.dest.tunPort = uint16(v)
	case tagTunNoCsum, tagTunCsum, tagTunRemCsum:
		o, c := optTunNoCsum, api.CsumNone
		switch t {
		case tagTunCsum:
			o, c = optTunCsum, api.CsumOn
		case tagTunRemCsum:
			o, c = optTunRemCsum, api.CsumRemote
		}
		if err := p.setOption(o); err != nil {
			return err
		}
		p.dest.tunCsum = c
	case tagTunInfo:
		return p.flag(optTunInfo, &p.cmdView.TunInfo)
	default:
		// a command (or any other known option) in the wrong place
		return fail("invalid option `%s'", po.badOption())
	}
	return nil
}

func (p *parser) flag(o int, b *bool) *Error {
	if err := p.setOption(o); err != nil {
		return err
	}
	*b = true
	return nil
}

// parseService is ipvsadm's parse_service on svc: host[:port],
// [ipv6]:port or a bare IPv6 address. It reports SERVICE_ADDR; when no
// port is given svc.port is left as it was (the -r quirk relies on that).
func (p *parser) parseService(buf string, svc *svcState, isService bool) bool {
	if strIsDigit(buf) {
		return false
	}
	var portStr string
	hasPort := false
	if buf[0] == '[' {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 {
			return false
		}
		rest := buf[i+1:]
		buf = buf[:i]
		if rest == "" || rest[0] != ':' {
			return false
		}
		portStr, hasPort = rest[1:], true
	}
	if a, ok := inetPton6(buf); ok {
		svc.addr, svc.af = a, 6
		svc.netmask = 128
	} else {
		// portp = strrchr(buf, ':'): a bracketed non-IPv6 text loses
		// the port after the bracket.
		hasPort = false
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			portStr, hasPort = buf[i+1:], true
			buf = buf[:i]
		}
		if m, ok := inetAton(buf); ok {
			svc.addr, svc.af = addrFromBE32(m), 4
		} else if a, ok := p.hostToAddr(buf); ok {
			svc.addr, svc.af = a, 4
		} else {
			return false
		}
	}
	if hasPort {
		if n := stringToNumber(portStr, 0, 65535); n >= 0 {
			svc.port = uint16(n)
		} else if n, ok := p.servicePort(portStr, svc.protocol); ok {
			svc.port = n
		} else {
			return false
		}
	}
	return true
}

func (p *parser) hostToAddr(name string) (netip.Addr, bool) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return netip.Addr{}, false
	}
	a, ok := p.res.host(name)
	if !ok || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

func (p *parser) servicePort(name string, proto int) (uint16, bool) {
	if name == "" || (proto != protoTCP && proto != protoUDP && proto != protoSCTP) {
		return 0, false
	}
	return p.res.port(name, proto)
}

func addrFromBE32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// parseSchedFlags is ipvsadm's parse_sched_flags, run after all options
// with the scheduler given so far ("" when -s is missing).
func parseSchedFlags(sched, arg string) (uint32, *Error) {
	var flags uint32
	n := 0
	for _, f := range strings.Split(arg, ",") {
		if f == "" {
			continue // strtok skips empty fields
		}
		n++
		switch f {
		case "flag-1":
			flags |= api.SchedFlag1
		case "flag-2":
			flags |= api.SchedFlag2
		case "flag-3":
			flags |= api.SchedFlag3
		case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
			if sched != f[:2] {
				return 0, fail("incompatible scheduler flag `%s'", f)
			}
			if strings.HasSuffix(f, "fallback") {
				flags |= api.SchedFlag1
			} else {
				flags |= api.SchedFlag2
			}
		default:
			return 0, fail("invalid scheduler flag `%s'", f)
		}
	}
	if n == 0 {
		// ipvsadm crashes here (strcmp on strtok's NULL)
		return 0, fail("invalid scheduler flag `%s'", arg)
	}
	return flags, nil
}

// genericOptCheck is ipvsadm's generic_opt_check: options in optnames
// order against the command's row.
func (p *parser) genericOptCheck() *Error {
	row := legality[p.cmd]
	last, count := 0, 0
	for j := 0; j < numOpts; j++ {
		if p.options&(1<<j) == 0 {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' command", optNames[j], p.cmd)
			}
			continue
		}
		switch row[j] {
		case 'x':
			return fail("Illegal '%s' option with the '%s' command", optNames[j], p.cmd)
		case '1':
			count++
			if count == 1 {
				last = j
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], p.cmd)
		}
	}
	return nil
}

func (p *parser) has(o int) bool { return p.options&(1<<o) != 0 }

// finish runs process_options' checks and builds the Command.
func (p *parser) finish() (*Command, *Error) {
	if err := p.genericOptCheck(); err != nil {
		return nil, err
	}
	svc := &p.svc
	if p.cmd == CmdAddService || p.cmd == CmdEditService {
		if svc.fwmark == 0 && svc.port == 0 && !svc.persist {
			return nil, fail("Zero port specified for non-persistent service")
		}
		if svc.ops && svc.fwmark == 0 && svc.protocol != protoUDP {
			return nil, fail("One-Packet Scheduling is only for UDP virtual services")
		}
		if svc.sched == "" {
			svc.sched = defScheduler
		}
	}
	if p.cmd == CmdStartDaemon && p.daemon.Interface == "" {
		p.daemon.Interface = defMcastIfn
	}
	d := &p.dest
	if p.cmd == CmdAddServer || p.cmd == CmdEditServer {
		if svc.fwmark == 0 && (d.method == api.Tunnel || d.method == api.Route) {
			d.port = svc.port
		}
		if d.af != svc.af && d.method != api.Tunnel {
			return nil, fail("Different address family is allowed only for tunneling servers")
		}
		if (p.has(optTunType) || p.has(optTunPort) || p.has(optTunNoCsum) || p.has(optTunCsum) || p.has(optTunRemCsum)) &&
			d.method != api.Tunnel {
			return nil, fail("Tunnel options conflict with forward method")
		}
		last, count := 0, 0
		for j, o := range tunOpts {
			v := tunLegalty[d.tunType][j]
			if !p.has(o) {
				if v == '+' {
					return nil, fail("You need to supply the '%s' option for the '%s' tunnel type", optNames[o], tunNames[d.tunType])
				}
				continue
			}
			switch v {
			case 'x':
				return nil, fail("Illegal '%s' option with the '%s' tunnel type", optNames[o], tunNames[d.tunType])
			case '1':
				count++
				if count == 1 {
					last = o
					continue
				}
				return nil, fail("The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[o], optNames[last], tunNames[d.tunType])
			}
		}
	}

	c := p.cmdView
	c.Name = p.cmd
	switch p.cmd {
	case CmdList:
		if (c.Conns || c.Timeouts || c.Daemons) && (c.Stats || c.Rate || c.Thresholds) ||
			(c.Timeouts || c.Daemons) && c.PersistentConn {
			return nil, fail("options conflicts in the list command")
		}
		if p.has(optService) && !c.Conns {
			k := p.serviceKey()
			c.Service = &k
		}
		return &c, nil
	case CmdSave, CmdRestore:
		return &c, nil
	}
	op, err := p.op()
	if err != nil {
		return nil, err
	}
	return &Command{Name: p.cmd, Op: op}, nil
}

func (p *parser) serviceKey() api.ServiceKey {
	s := &p.svc
	if s.fwmark != 0 {
		return api.ServiceKey{FwMark: s.fwmark, IPv6: s.af == 6}
	}
	proto := map[int]api.Protocol{protoTCP: api.TCP, protoUDP: api.UDP, protoSCTP: api.SCTP}[s.protocol]
	return api.ServiceKey{Protocol: proto, Addr: s.addr, Port: s.port}
}

// op builds the operation of a changing command.
func (p *parser) op() (*api.Op, *Error) {
	key := p.serviceKey()
	switch p.cmd {
	case CmdAddService, CmdEditService:
		mask, err := p.prefixLen()
		if err != nil {
			return nil, err
		}
		s := &api.Service{
			ServiceKey: key,
			Scheduler:  p.svc.sched,
			SchedFlags: p.svc.flags,
			Persistent: p.svc.persist,
			Timeout:    p.svc.timeout,
			Netmask:    mask,
			PE:         p.svc.pe,
			OnePacket:  p.svc.ops,
		}
		kind := api.AddService
		if p.cmd == CmdEditService {
			kind = api.EditService
		}
		return &api.Op{Kind: kind, Service: s}, nil
	case CmdDeleteService:
		return &api.Op{Kind: api.DeleteService, Service: &api.Service{ServiceKey: key}}, nil
	case CmdFlush:
		return &api.Op{Kind: api.Clear}, nil
	case CmdZero:
		if !p.has(optService) {
			return &api.Op{Kind: api.Zero}, nil
		}
		return &api.Op{Kind: api.Zero, Service: &api.Service{ServiceKey: key}}, nil
	case CmdAddServer, CmdEditServer:
		d := &p.dest
		dest := &api.Dest{
			DestKey:    api.DestKey{Addr: d.addr, Port: d.port},
			Method:     d.method,
			Weight:     d.weight,
			UThreshold: d.uThresh,
			LThreshold: d.lThresh,
		}
		if d.method == api.Tunnel {
			dest.TunType = tunNames[d.tunType]
			if d.tunType != tunIPIP {
				dest.TunCsum = d.tunCsum
				if dest.TunCsum == "" {
					dest.TunCsum = api.CsumNone
				}
			}
			if d.tunType == tunGUE {
				dest.TunPort = d.tunPort
			}
		}
		kind := api.AddDest
		if p.cmd == CmdEditServer {
			kind = api.EditDest
		}
		return &api.Op{Kind: kind, Service: &api.Service{ServiceKey: key}, Dest: dest}, nil
	case CmdDeleteServer:
		return &api.Op{Kind: api.DeleteDest, Service: &api.Service{ServiceKey: key},
			Dest: &api.Dest{DestKey: api.DestKey{Addr: p.dest.addr, Port: p.dest.port}}}, nil
	case CmdSet:
		t := p.tmo
		return &api.Op{Kind: api.SetTimeouts, Timeouts: &t}, nil
	case CmdStartDaemon:
		d := p.daemon
		return &api.Op{Kind: api.StartDaemon, Daemon: &d}, nil
	case CmdStopDaemon:
		return &api.Op{Kind: api.StopDaemon, Daemon: &api.SyncDaemon{Role: p.daemon.Role, SyncID: p.daemon.SyncID}}, nil
	}
	return nil, fail("internal error: no operation for the '%s' command", p.cmd)
}

// prefixLen turns the persistence mask into api.Service.Netmask (a prefix
// length, 0 for the host mask). vsd keeps the mask as a prefix, so an IPv4
// mask that is not contiguous (or 0.0.0.0, which the API cannot express)
// is refused with ipvsadm's message for a bad mask; ipvsadm would pass it
// to the kernel.
func (p *parser) prefixLen() (int, *Error) {
	m := p.svc.netmask
	if p.svc.af == 6 {
		if m >= 128 {
			return 0, nil
		}
		return int(m), nil
	}
	if m == 0xffffffff {
		return 0, nil
	}
	ones := 0
	for ones < 32 && m&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones == 0 || m != ^uint32(0)<<(32-ones) {
		return 0, fail("illegal virtual server persistent mask specified")
	}
	return ones, nil
}
