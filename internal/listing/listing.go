package listing

import (
	"io"
	"net/netip"
	"strconv"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// DefaultTableSize is the kernel's default connection hash-table size
// (2^12 buckets, module parameter conn_tab_bits), shown when
// Options.TableSize is 0.
const DefaultTableSize = 4096

// Options choose how a listing is printed.
type Options struct {
	// Numeric prints every port as a number (ipvsadm -n). Without it,
	// well-known ports are printed by service name ("http"); addresses are
	// always numeric.
	Numeric bool
	// TableSize is the number of buckets of the connection table, shown
	// as "size=N" in the version line; 0 means DefaultTableSize.
	TableSize int
}

// Column widths and cuts of ipvsadm's plain view (interfaces.md §2.1).
const (
	protoWidth       = 4  // "TCP " / "SCTP" before the space of a service label
	serviceLabelCut  = 33 // IPv4 service labels are cut to this many bytes
	destLabelWidth   = 28 // destination label column, also its cut for IPv4
	forwardWidth     = 7
	weightWidth      = 6
	connCountWidth   = 10
	versionLinePart1 = "IP Virtual Server version 1.2.1 (size="
	titleLines       = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
)

// WriteTable writes the full plain listing of `ipvsadm -L -n` (or of
// `ipvsadm -L` without opt.Numeric): the version line, the two title lines,
// then every service of snap followed by its destinations. Services come in
// Snapshot.Services order and destinations in list order; ipvsadm's default
// sorting is the caller's job. A nil snap prints an empty table. The text is
// built in memory and handed to w in one Write; the error is w's.
func WriteTable(w io.Writer, snap *service.Snapshot, opt Options) error {
	b := appendVersionLine(nil, opt.TableSize)
	b = append(b, titleLines...)
	if snap != nil {
		for _, svc := range snap.Services {
			b = appendService(b, svc, opt)
		}
	}
	_, err := w.Write(b)
	return err
}

// WriteService writes the listing of one service as `ipvsadm -L -n -t
// addr:port` prints it: the two title lines (no version line), the service
// line and its destinations. Find the service with Snapshot.Find; a nil svc
// prints only the title lines.
func WriteService(w io.Writer, svc *service.Service, opt Options) error {
	b := []byte(titleLines)
	if svc != nil {
		b = appendService(b, svc, opt)
	}
	_, err := w.Write(b)
	return err
}

func appendVersionLine(b []byte, size int) []byte {
	if size == 0 {
		size = DefaultTableSize
	}
	b = append(b, versionLinePart1...)
	b = strconv.AppendInt(b, int64(size), 10)
	return append(b, ")\n"...)
}

// appendService appends the service line and one line per destination.
func appendService(b []byte, svc *service.Service, opt Options) []byte {
	b = appendServiceLabel(b, svc.Key, opt.Numeric)
	b = append(b, ' ')
	b = append(b, schedName(svc)...)
	b = appendSchedFlags(b, svc)
	if svc.Flags&service.FlagPersistent != 0 {
		// ipvsadm prints the mask (and the persistence engine, which vsd
		// does not have) only for persistent services.
		b = append(b, " persistent "...)
		b = strconv.AppendUint(b, uint64(svc.Timeout), 10)
		b = appendMask(b, svc)
	}
	if svc.Flags&service.FlagOnePacket != 0 {
		b = append(b, " ops"...)
	}
	b = append(b, '\n')
	proto := portProto(svc.Key)
	for _, d := range svc.Dests {
		b = appendDest(b, d, proto, opt.Numeric)
	}
	return b
}

// appendServiceLabel appends "TCP  addr:port" (protocol left-justified in
// four columns, a space, the address) or "FWM  <mark>[ IPv6]". IPv4 labels
// are cut at 33 bytes, as ipvsadm does; IPv6 labels never are.
func appendServiceLabel(b []byte, k service.Key, numeric bool) []byte {
	if k.IsFwMark() {
		b = append(b, "FWM  "...)
		// ipvsadm prints the unsigned mark with %d: marks of 2^31 and
		// above come out negative. Kept for byte-identical output.
		b = strconv.AppendInt(b, int64(int32(k.FwMark)), 10)
		if k.Addr.Is6() {
			b = append(b, " IPv6"...)
		}
		return b
	}
	start := len(b)
	b = appendLeft(b, protoName(k.Proto), protoWidth)
	b = append(b, ' ')
	b = appendAddrPort(b, k.Addr, k.Port, k.Proto, numeric)
	if !k.Addr.Is6() && len(b)-start > serviceLabelCut {
		b = b[:start+serviceLabelCut]
	}
	return b
}

func protoName(p packet.Proto) string {
	switch p {
	case packet.ProtoTCP:
		return "TCP"
	case packet.ProtoUDP:
		return "UDP"
	case packet.ProtoSCTP:
		return "SCTP"
	}
	// Not reachable through service.Set, which accepts only the three
	// above; print the number rather than nothing.
	return strconv.Itoa(int(p))
}

// portProto is the protocol used to name destination ports. ipvsadm gives
// firewall-mark services the protocol TCP ("a sane value, even though it
// is not used"), so their ports are named as TCP ports.
func portProto(k service.Key) packet.Proto {
	if k.IsFwMark() && k.Proto == 0 {
		return packet.ProtoTCP
	}
	return k.Proto
}

func schedName(svc *service.Service) string {
	if svc.SchedName == "" && svc.Sched != nil {
		return svc.Sched.Name()
	}
	return svc.SchedName
}

// appendSchedFlags appends " (flag,flag)" when any scheduler flag is set.
// sh and mh have their own names for the first two flags; every other
// scheduler shows flag-1, flag-2, flag-3. The order is fixed.
func appendSchedFlags(b []byte, svc *service.Service) []byte {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch schedName(svc) {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	bits := [3]service.Flags{service.FlagSched1, service.FlagSched2, service.FlagSched3}
	open := false
	for i, bit := range bits {
		if svc.Flags&bit == 0 {
			continue
		}
		if open {
			b = append(b, ',')
		} else {
			b = append(b, " ("...)
			open = true
		}
		b = append(b, names[i]...)
	}
	if open {
		b = append(b, ')')
	}
	return b
}

// appendMask appends " mask 255.255.255.0" (IPv4) or " mask 64" (IPv6)
// unless the persistence netmask is the host mask. A Netmask of 0 means
// the host mask (service.ServiceConfig's convention).
func appendMask(b []byte, svc *service.Service) []byte {
	bits := 32
	if svc.Key.Addr.Is6() {
		bits = 128
	}
	n := svc.Netmask
	if n == 0 || n == bits {
		return b
	}
	b = append(b, " mask "...)
	if bits == 128 {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return appendIPv4Mask(b, n)
}

// appendIPv4Mask appends the dotted form of a /n mask. Out-of-range n is
// clamped (Set never stores one).
func appendIPv4Mask(b []byte, n int) []byte {
	n = min(max(n, 0), 32)
	m := ^uint32(0) << (32 - n)
	if n == 0 {
		m = 0
	}
	a := netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
	return a.AppendTo(b)
}

// appendDest appends one destination line:
// "  -> " label(28) " " forward(7) " " weight(6) " " active(10) " " inactive(10),
// every field left-justified, so the line ends in padding spaces.
func appendDest(b []byte, d *service.Dest, proto packet.Proto, numeric bool) []byte {
	b = append(b, "  -> "...)
	start := len(b)
	b = appendAddrPort(b, d.Addr, d.Port, proto, numeric)
	if !d.Addr.Is6() && len(b)-start > destLabelWidth {
		b = b[:start+destLabelWidth]
	}
	b = padTo(b, start, destLabelWidth)
	var cfg service.DestConfig
	if c := d.Config(); c != nil {
		cfg = *c
	}
	b = append(b, ' ')
	b = appendLeft(b, cfg.Method.String(), forwardWidth)
	b = append(b, ' ')
	start = len(b)
	b = strconv.AppendInt(b, int64(cfg.Weight), 10)
	b = padTo(b, start, weightWidth)
	// The kernel's counters are printed with %u.
	b = append(b, ' ')
	b = appendUintLeft(b, uint32(d.Active.Load()), connCountWidth)
	b = append(b, ' ')
	b = appendUintLeft(b, uint32(d.Inactive.Load()), connCountWidth)
	return append(b, '\n')
}

// appendAddrPort appends "a.b.c.d:port" or "[v6]:port"; without numeric,
// a well-known port of proto is printed by name.
func appendAddrPort(b []byte, a netip.Addr, port uint16, proto packet.Proto, numeric bool) []byte {
	if a.Is6() {
		b = append(b, '[')
		b = appendIPv6(b, a)
		b = append(b, ']')
	} else {
		b = a.AppendTo(b)
	}
	b = append(b, ':')
	if !numeric {
		if name := portName(proto, port); name != "" {
			return append(b, name...)
		}
	}
	return strconv.AppendUint(b, uint64(port), 10)
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

func appendUintLeft(b []byte, v uint32, width int) []byte {
	start := len(b)
	b = strconv.AppendUint(b, uint64(v), 10)
	return padTo(b, start, width)
}

// padTo appends spaces until the field that began at start is width bytes.
func padTo(b []byte, start, width int) []byte {
	for len(b)-start < width {
		b = append(b, ' ')
	}
	return b
}
