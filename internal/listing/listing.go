package listing

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/vsd/vsd/api"
)

// View is the column set of a full listing: ipvsadm -L and its view
// options.
type View int

// Views.
const (
	ViewPlain          View = iota // ipvsadm -L
	ViewStats                      // --stats
	ViewRate                       // --rate
	ViewThresholds                 // --thresholds
	ViewPersistentConn             // --persistent-conn (also the PE columns of -c)
	ViewTunInfo                    // --tun-info
)

// DefaultTableSize is the kernel's default connection hash-table size
// (2^12 buckets, module parameter conn_tab_bits), shown when
// api.Table.TableSize is 0.
const DefaultTableSize = 4096

// Options choose how a listing is printed.
type Options struct {
	// Numeric prints addresses and ports as numbers (ipvsadm -n).
	Numeric bool
	// Exact prints the counters of the stats and rate views in full
	// (ipvsadm -X / --exact) instead of abbreviating them with K/M/G/T.
	Exact bool
	// NoSort keeps the table's order (ipvsadm --nosort) instead of
	// ipvsadm's default order (see Sort).
	NoSort bool
	// View is the column set of WriteTable and WriteService; WriteConns
	// looks only at ViewPersistentConn.
	View View
	// Names turns addresses and ports into names when Numeric is false;
	// nil means BuiltinResolver().
	Names Resolver
}

// resolver is the Resolver a listing uses, nil with Numeric.
func (o Options) resolver() Resolver {
	if o.Numeric {
		return nil
	}
	if o.Names == nil {
		return BuiltinResolver()
	}
	return o.Names
}

// Column widths and cuts of ipvsadm (interfaces.md §2.1).
const (
	protoWidth      = 4  // "TCP " / "SCTP" before the space of a service label
	serviceLabelCut = 33 // IPv4 service labels are cut to this many bytes
	serviceColWidth = 33 // service label column of the stats/rate/thresholds/persistent-conn views
	destLabelWidth  = 28 // destination label column, also its cut for IPv4
	versionPrefix   = "IP Virtual Server version 1.2.1 (size="
)

// titles are the two column-title lines of each view (ipvsadm's
// print_title).
var titles = [...]string{
	ViewPlain: "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
	ViewStats: "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n",
	ViewRate: "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n" +
		"  -> RemoteAddress:Port\n",
	ViewThresholds: "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n" +
		"  -> RemoteAddress:Port\n",
	ViewPersistentConn: "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n" +
		"  -> RemoteAddress:Port\n",
	ViewTunInfo: "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n",
}

func checkView(v View) error {
	if v < 0 || int(v) >= len(titles) {
		return fmt.Errorf("listing: unknown view %d", int(v))
	}
	return nil
}

// WriteTable writes ipvsadm -L [-n] with o.View's columns: the version
// line "IP Virtual Server version 1.2.1 (size=N)" (N = t.TableSize, 0 →
// 4096), the two title lines, then every service followed by its real
// servers, in ipvsadm's order (Sort) unless o.NoSort. t is not modified. A
// nil t prints an empty table. A service or server that cannot be printed
// (a non-fwmark service without a TCP/UDP/SCTP protocol or address, a
// netmask out of range, a scheduler or PE name with a space or control
// character, a server without an address) is an error naming it,
// and nothing is written. Otherwise the text is handed to w in one Write and
// the error is w's.
func WriteTable(w io.Writer, t *api.Table, o Options) error {
	if err := checkView(o.View); err != nil {
		return err
	}
	var svcs []api.Service
	size := DefaultTableSize
	if t != nil {
		if err := checkTable(t); err != nil {
			return err
		}
		svcs = t.Services
		if !o.NoSort {
			svcs = sortedCopy(t).Services
		}
		if t.TableSize != 0 {
			size = t.TableSize
		}
	}
	b := append([]byte(versionPrefix), strconv.Itoa(size)...)
	b = append(b, ")\n"...)
	b = append(b, titles[o.View]...)
	p := printer{o: o, names: o.resolver()}
	for i := range svcs {
		b = p.appendService(b, &svcs[i])
	}
	_, err := w.Write(b)
	return err
}

// WriteService writes ipvsadm -L [-n] -t|-u|--sctp-service|-f <service>:
// the two title lines of o.View (no version line), the service and its
// real servers (sorted unless o.NoSort; svc is not modified). A nil svc
// prints only the title lines.
func WriteService(w io.Writer, svc *api.Service, o Options) error {
	if err := checkView(o.View); err != nil {
		return err
	}
	b := []byte(titles[o.View])
	if svc != nil {
		if err := checkService(svc); err != nil {
			return err
		}
		s := *svc
		if !o.NoSort {
			s.Dests = sortedDests(svc.Dests)
		}
		p := printer{o: o, names: o.resolver()}
		b = p.appendService(b, &s)
	}
	_, err := w.Write(b)
	return err
}

// WriteSave writes ipvsadm -S [-n]: one -A line per service followed by
// one -a line per real server, in the order of WriteTable. Thresholds are
// not saved (ipvsadm does not). An empty or nil table prints nothing.
func WriteSave(w io.Writer, t *api.Table, o Options) error {
	if t == nil {
		return nil
	}
	if err := checkTable(t); err != nil {
		return err
	}
	svcs := t.Services
	if !o.NoSort {
		svcs = sortedCopy(t).Services
	}
	p := printer{o: o, names: o.resolver()}
	var b []byte
	for i := range svcs {
		b = p.appendSaveService(b, &svcs[i])
	}
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}

// checkTable checks every service of t (see checkService).
func checkTable(t *api.Table) error {
	for i := range t.Services {
		if err := checkService(&t.Services[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkService refuses what ipvsadm could never have been handed by the
// kernel: a non-fwmark service without a known protocol or an address, a
// netmask outside the family's range, a scheduler or PE name with spaces or
// control characters, a real server without an address.
func checkService(svc *api.Service) error {
	if !svc.IsFwMark() {
		if protoNumber(svc.Protocol) == 0 {
			return fmt.Errorf("listing: service %s: unknown protocol %q (want TCP, UDP or SCTP)", svc.ServiceKey, string(svc.Protocol))
		}
		if !svc.Addr.IsValid() {
			return fmt.Errorf("listing: service %s: no address", svc.ServiceKey)
		}
	}
	bits := 32
	if svc.Is6() {
		bits = 128
	}
	if svc.Netmask < 0 || svc.Netmask > bits {
		return fmt.Errorf("listing: service %s: netmask /%d out of range 0..%d", svc.ServiceKey, svc.Netmask, bits)
	}
	if badName(svc.Scheduler) {
		return fmt.Errorf("listing: service %s: scheduler name %q has a space or control character", svc.ServiceKey, svc.Scheduler)
	}
	if badName(svc.PE) {
		return fmt.Errorf("listing: service %s: persistence engine name %q has a space or control character", svc.ServiceKey, svc.PE)
	}
	for i := range svc.Dests {
		if !svc.Dests[i].Addr.IsValid() {
			return fmt.Errorf("listing: service %s: real server %d has no address", svc.ServiceKey, i+1)
		}
	}
	return nil
}

// badName reports whether a name to be printed as one field holds a space
// or a control character, which would break the line structure readers
// (ldirectord, ipvsadm -c on the proc file) rely on.
func badName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// checkConns refuses entries whose protocol, state or PE fields would not
// be single fields of a line.
func checkConns(conns []api.Conn) error {
	for i := range conns {
		c := &conns[i]
		for _, f := range [...]struct{ what, v string }{{"protocol", c.Protocol}, {"state", c.State}, {"PE name", c.PEName}, {"PE data", c.PEData}} {
			if badName(f.v) {
				return fmt.Errorf("listing: connection %d: %s %q has a space or control character", i+1, f.what, f.v)
			}
		}
	}
	return nil
}

// printer carries the options of one listing.
type printer struct {
	o     Options
	names Resolver // nil: numeric
}

// nameProto is the protocol whose port names a service's ports get.
// ipvsadm gives firewall-mark services the protocol TCP ("a sane value,
// even though it is not used"), so their ports are named as TCP ports.
func nameProto(svc *api.Service) api.Protocol {
	if svc.IsFwMark() && svc.Protocol == "" {
		return api.TCP
	}
	return svc.Protocol
}

// appendService appends the service line and one line per real server in
// p's view.
func (p *printer) appendService(b []byte, svc *api.Service) []byte {
	start := len(b)
	b = p.appendServiceLabel(b, svc)
	switch p.o.View {
	case ViewStats:
		b = padTo(b, start, serviceColWidth)
		b = appendStats(b, &svc.Stats, p.o.Exact)
	case ViewRate:
		b = padTo(b, start, serviceColWidth)
		b = appendRates(b, &svc.Rates, p.o.Exact)
	default:
		b = appendServiceSettings(b, svc)
	}
	b = append(b, '\n')
	proto := nameProto(svc)
	for i := range svc.Dests {
		b = p.appendDest(b, &svc.Dests[i], proto)
	}
	return b
}

// appendServiceLabel appends "TCP  addr:port" (protocol left-justified in
// four columns, a space, the address) or "FWM  <mark>[ IPv6]". IPv4 labels
// are cut at 33 bytes; IPv6 labels never are.
func (p *printer) appendServiceLabel(b []byte, svc *api.Service) []byte {
	if svc.IsFwMark() {
		b = append(b, "FWM  "...)
		b = appendMark(b, svc.FwMark)
		if svc.IPv6 {
			b = append(b, " IPv6"...)
		}
		return b
	}
	start := len(b)
	b = appendLeft(b, string(svc.Protocol), protoWidth)
	b = append(b, ' ')
	b = p.appendAddrPort(b, svc.Addr, svc.Port, svc.Protocol)
	if !svc.Addr.Is6() && len(b)-start > serviceLabelCut {
		b = b[:start+serviceLabelCut]
	}
	return b
}

// appendMark appends a firewall mark the way ipvsadm does, with %d of the
// unsigned mark: marks of 2^31 and above come out negative. Kept for
// byte-identical output.
func appendMark(b []byte, mark uint32) []byte {
	return strconv.AppendInt(b, int64(int32(mark)), 10)
}

func schedName(svc *api.Service) string {
	if svc.Scheduler == "" {
		return "wlc"
	}
	return svc.Scheduler
}

const schedFlagMask = api.SchedFlag1 | api.SchedFlag2 | api.SchedFlag3

// appendSchedFlags appends the set scheduler flags, comma-separated. sh
// and mh have their own names for the first two flags; every other
// scheduler shows flag-1, flag-2, flag-3. The order is fixed.
func appendSchedFlags(b []byte, svc *api.Service) []byte {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch schedName(svc) {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	bits := [3]uint32{api.SchedFlag1, api.SchedFlag2, api.SchedFlag3}
	first := true
	for i, bit := range bits {
		if svc.SchedFlags&bit == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, names[i]...)
	}
	return b
}

// appendServiceSettings appends " <sched>[ (<flags>)][ persistent N[ mask
// M][ pe NAME]][ ops]" of the plain-like views.
func appendServiceSettings(b []byte, svc *api.Service) []byte {
	b = append(b, ' ')
	b = append(b, schedName(svc)...)
	if svc.SchedFlags&schedFlagMask != 0 {
		b = append(b, " ("...)
		b = appendSchedFlags(b, svc)
		b = append(b, ')')
	}
	if svc.Persistent {
		b = append(b, " persistent "...)
		b = strconv.AppendUint(b, uint64(svc.Timeout), 10)
		if m, ok := maskText(svc); ok {
			b = append(b, " mask "...)
			b = append(b, m...)
		}
		if svc.PE != "" {
			b = append(b, " pe "...)
			b = append(b, svc.PE...)
		}
	}
	if svc.OnePacket {
		b = append(b, " ops"...)
	}
	return b
}

// maskText is the persistence netmask as ipvsadm prints it: the dotted
// mask for IPv4, the prefix length for IPv6; ok is false for the host mask
// (Netmask 0, 32 or 128), which is not shown.
func maskText(svc *api.Service) (string, bool) {
	n := svc.Netmask
	if svc.Is6() {
		if n == 0 || n == 128 {
			return "", false
		}
		return strconv.Itoa(n), true
	}
	if n == 0 || n == 32 {
		return "", false
	}
	m := ipv4Mask(n)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String(), true
}

// ipv4Mask is the 32-bit mask of a /n prefix (0 → host mask, the API's
// convention).
func ipv4Mask(n int) uint32 {
	if n <= 0 || n >= 32 {
		return ^uint32(0)
	}
	return ^uint32(0) << (32 - n)
}

// methodName is the Forward column of a real server; an unset method is
// ipvsadm's default, direct routing.
func methodName(m api.Method) string {
	if m == "" {
		return string(api.Route)
	}
	return string(m)
}

// appendDest appends one real-server line in p's view.
func (p *printer) appendDest(b []byte, d *api.Dest, proto api.Protocol) []byte {
	b = append(b, "  -> "...)
	start := len(b)
	b = p.appendAddrPort(b, d.Addr, d.Port, proto)
	if !d.Addr.Is6() && len(b)-start > destLabelWidth {
		b = b[:start+destLabelWidth]
	}
	b = padTo(b, start, destLabelWidth)
	switch p.o.View {
	case ViewStats:
		b = appendStats(b, &d.Stats, p.o.Exact)
	case ViewRate:
		// ipvsadm prints the destination's CPS, InPPS and OutPPS with
		// " %8llu", never abbreviated; only the byte rates use the rule.
		b = append(b, ' ')
		b = appendUintRight(b, d.Rates.CPS, 8)
		b = append(b, ' ')
		b = appendUintRight(b, d.Rates.InPPS, 8)
		b = append(b, ' ')
		b = appendUintRight(b, d.Rates.OutPPS, 8)
		b = appendLargeNum(b, d.Rates.InBPS, p.o.Exact)
		b = appendLargeNum(b, d.Rates.OutBPS, p.o.Exact)
	case ViewThresholds:
		b = append(b, ' ')
		b = appendUintLeft(b, uint64(d.UThreshold), 10)
		b = append(b, ' ')
		b = appendUintLeft(b, uint64(d.LThreshold), 10)
		b = appendConns(b, d)
	case ViewPersistentConn:
		// ipvsadm prints the weight of this view with %u.
		b = append(b, ' ')
		b = appendUintLeft(b, uint64(uint32(d.Weight)), 9)
		b = append(b, ' ')
		b = appendUintLeft(b, uint64(uint32(d.PersistConns)), 11)
		b = appendConns(b, d)
	case ViewTunInfo:
		b = append(b, ' ')
		b = appendLeft(b, methodName(d.Method), 7)
		b = append(b, ' ')
		b = appendLeft(b, tunInfo(d), 13)
		b = append(b, ' ')
		b = appendIntLeft(b, int64(d.Weight), 6)
		b = appendConns(b, d)
	default:
		b = append(b, ' ')
		b = appendLeft(b, methodName(d.Method), 7)
		b = append(b, ' ')
		b = appendIntLeft(b, int64(d.Weight), 6)
		b = appendConns(b, d)
	}
	return append(b, '\n')
}

// appendConns appends " ActiveConn(10) InActConn(10)", printed with %u as
// ipvsadm does.
func appendConns(b []byte, d *api.Dest) []byte {
	b = append(b, ' ')
	b = appendUintLeft(b, uint64(uint32(d.ActiveConns)), 10)
	b = append(b, ' ')
	return appendUintLeft(b, uint64(uint32(d.InactConns)), 10)
}

// tunType is the tunnel type of a Tunnel real server; unset means ipip.
func tunType(d *api.Dest) string {
	if d.TunType == "" {
		return api.TunIPIP
	}
	return d.TunType
}

// tunInfo is the TunnelInfo column: ipip, gue:<port>:<csum>, gre:<csum>
// (csum -c, +c or r+c), n/a for a server that is not a tunnel.
func tunInfo(d *api.Dest) string {
	if d.Method != api.Tunnel {
		return "n/a"
	}
	csum := "-c"
	switch d.TunCsum {
	case api.CsumOn:
		csum = "+c"
	case api.CsumRemote:
		csum = "r+c"
	}
	switch t := tunType(d); t {
	case api.TunGUE:
		return "gue:" + strconv.Itoa(int(d.TunPort)) + ":" + csum
	case api.TunGRE:
		return "gre:" + csum
	default:
		return t
	}
}

func appendStats(b []byte, s *api.Stats, exact bool) []byte {
	b = appendLargeNum(b, s.Conns, exact)
	b = appendLargeNum(b, s.InPkts, exact)
	b = appendLargeNum(b, s.OutPkts, exact)
	b = appendLargeNum(b, s.InBytes, exact)
	return appendLargeNum(b, s.OutBytes, exact)
}

func appendRates(b []byte, r *api.Rates, exact bool) []byte {
	b = appendLargeNum(b, r.CPS, exact)
	b = appendLargeNum(b, r.InPPS, exact)
	b = appendLargeNum(b, r.OutPPS, exact)
	b = appendLargeNum(b, r.InBPS, exact)
	return appendLargeNum(b, r.OutBPS, exact)
}

// appendLargeNum appends v as ipvsadm's print_largenum does: a 9-column
// right-aligned field; below 10^8 in full, below 10^9 as v/10^3 "K", below
// 10^11 as v/10^6 "M", below 10^14 as v/10^9 "G", else v/10^12 "T"
// (integer division, the number in 8 columns before the letter). With
// exact, the full number right-aligned in max(9, digits+1) columns.
func appendLargeNum(b []byte, v uint64, exact bool) []byte {
	if exact {
		digits := len(strconv.FormatUint(v, 10))
		return appendUintRight(b, v, max(9, digits+1))
	}
	switch {
	case v < 100_000_000:
		return appendUintRight(b, v, 9)
	case v < 1_000_000_000:
		return append(appendUintRight(b, v/1_000, 8), 'K')
	case v < 100_000_000_000:
		return append(appendUintRight(b, v/1_000_000, 8), 'M')
	case v < 100_000_000_000_000:
		return append(appendUintRight(b, v/1_000_000_000, 8), 'G')
	default:
		return append(appendUintRight(b, v/1_000_000_000_000, 8), 'T')
	}
}

// appendSaveService appends the -A line of a service and the -a line of
// each of its real servers.
func (p *printer) appendSaveService(b []byte, svc *api.Service) []byte {
	var sel []byte
	if svc.IsFwMark() {
		sel = append(sel, "-f "...)
		sel = appendMark(sel, svc.FwMark)
		if svc.IPv6 {
			sel = append(sel, " -6"...)
		}
	} else {
		switch svc.Protocol {
		case api.TCP:
			sel = append(sel, "-t "...)
		case api.UDP:
			sel = append(sel, "-u "...)
		default:
			sel = append(sel, "--sctp-service "...)
		}
		sel = p.appendAddrPort(sel, svc.Addr, svc.Port, svc.Protocol)
	}
	b = append(b, "-A "...)
	b = append(b, sel...)
	b = append(b, " -s "...)
	b = append(b, schedName(svc)...)
	if svc.Persistent {
		b = append(b, " -p "...)
		b = strconv.AppendUint(b, uint64(svc.Timeout), 10)
		if m, ok := maskText(svc); ok {
			b = append(b, " -M "...)
			b = append(b, m...)
		}
	}
	if svc.PE != "" {
		b = append(b, " --pe "...)
		b = append(b, svc.PE...)
	}
	if svc.OnePacket {
		b = append(b, " -o"...)
	}
	if svc.SchedFlags&schedFlagMask != 0 {
		b = append(b, " -b "...)
		b = appendSchedFlags(b, svc)
	}
	b = append(b, '\n')
	proto := nameProto(svc)
	for i := range svc.Dests {
		d := &svc.Dests[i]
		b = append(b, "-a "...)
		b = append(b, sel...)
		b = append(b, " -r "...)
		b = p.appendAddrPort(b, d.Addr, d.Port, proto)
		switch d.Method {
		case api.Masq:
			b = append(b, " -m"...)
		case api.Tunnel:
			b = append(b, " -i"...)
		default: // Route, Local and unset
			b = append(b, " -g"...)
		}
		b = append(b, " -w "...)
		b = strconv.AppendInt(b, int64(d.Weight), 10)
		if d.Method == api.Tunnel {
			b = appendSaveTunnel(b, d)
		}
		b = append(b, '\n')
	}
	return b
}

// appendSaveTunnel appends " --tun-type T" and, for gue and gre, the port
// and checksum options. GRE has no remote checksum offload: ipvsadm saves
// only csum or nocsum for it.
func appendSaveTunnel(b []byte, d *api.Dest) []byte {
	t := tunType(d)
	b = append(b, " --tun-type "...)
	b = append(b, t...)
	switch t {
	case api.TunGUE:
		b = append(b, " --tun-port "...)
		b = strconv.AppendUint(b, uint64(d.TunPort), 10)
		switch d.TunCsum {
		case api.CsumRemote:
			b = append(b, " --tun-remcsum"...)
		case api.CsumOn:
			b = append(b, " --tun-csum"...)
		default:
			b = append(b, " --tun-nocsum"...)
		}
	case api.TunGRE:
		if d.TunCsum == api.CsumOn {
			b = append(b, " --tun-csum"...)
		} else {
			b = append(b, " --tun-nocsum"...)
		}
	}
	return b
}

// appendAddrPort appends "host:port" or "[host]:port" (IPv6). With a
// resolver, the host is its name for a when it has one, and the port the
// service name of proto; otherwise both are numeric.
func (p *printer) appendAddrPort(b []byte, a netip.Addr, port uint16, proto api.Protocol) []byte {
	v6 := a.Is6()
	if v6 {
		b = append(b, '[')
	}
	host, ok := "", false
	if p.names != nil && a.IsValid() {
		host, ok = p.names.Host(a)
	}
	if ok {
		b = append(b, host...)
	} else {
		b = appendIP(b, a)
	}
	if v6 {
		b = append(b, ']')
	}
	b = append(b, ':')
	if p.names != nil && protoNumber(proto) != 0 {
		if name, ok := p.names.Port(proto, port); ok {
			return append(b, name...)
		}
	}
	return strconv.AppendUint(b, uint64(port), 10)
}

// appendIP appends a as inet_ntop writes it; an invalid address prints as
// 0.0.0.0, the kernel's zero address.
func appendIP(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is6():
		return appendIPv6(b, a)
	case a.Is4():
		return a.AppendTo(b)
	default:
		return append(b, "0.0.0.0"...)
	}
}

// appendIPv6 appends a as glibc's inet_ntop writes it. That is RFC 5952
// form (what netip prints) except for IPv4-compatible addresses: when the
// first 96 bits are zero and the address is not :: or ::1-like (::x), glibc
// writes the last 32 bits as a dotted quad ("::1.2.3.4", "::0.1.0.0"). A
// zone is dropped; the kernel has none.
func appendIPv6(b []byte, a netip.Addr) []byte {
	a = a.WithZone("")
	s := a.As16()
	compat := s[12] != 0 || s[13] != 0
	for _, x := range s[:12] {
		if x != 0 {
			compat = false
			break
		}
	}
	if compat {
		b = append(b, "::"...)
		return netip.AddrFrom4([4]byte(s[12:])).AppendTo(b)
	}
	return a.AppendTo(b)
}

// appendLeft appends s left-justified in width columns (like %-*s): never
// cut, padded with spaces when shorter.
func appendLeft(b []byte, s string, width int) []byte {
	start := len(b)
	b = append(b, s...)
	return padTo(b, start, width)
}

func appendUintLeft(b []byte, v uint64, width int) []byte {
	start := len(b)
	b = strconv.AppendUint(b, v, 10)
	return padTo(b, start, width)
}

func appendIntLeft(b []byte, v int64, width int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, v, 10)
	return padTo(b, start, width)
}

// appendUintRight appends v right-justified in width columns (like %*llu).
func appendUintRight(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	return appendRight(b, strconv.AppendUint(tmp[:0], v, 10), width)
}

// appendHexRight appends v in upper-case hex right-justified in width
// columns (like %*llX).
func appendHexRight(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	return appendRight(b, upperHex(strconv.AppendUint(tmp[:0], v, 16)), width)
}

func appendRight(b, s []byte, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// appendHex0 appends v as width upper-case hex digits with leading zeros
// (like %0*X); wider values are not cut.
func appendHex0(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	s := upperHex(strconv.AppendUint(tmp[:0], v, 16))
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func upperHex(s []byte) []byte {
	for i, c := range s {
		if c >= 'a' && c <= 'f' {
			s[i] = c - 'a' + 'A'
		}
	}
	return s
}

// padTo appends spaces until the field that began at start is width bytes.
func padTo(b []byte, start, width int) []byte {
	for len(b)-start < width {
		b = append(b, ' ')
	}
	return b
}
