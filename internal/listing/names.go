package listing

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vsd/vsd/api"
)

// Resolver turns addresses and ports into names for listings without -n.
type Resolver interface {
	// Host returns the reverse name of a, or false to print it numerically.
	Host(a netip.Addr) (string, bool)
	// Port returns the service name of a port of proto, or false to print
	// the number.
	Port(proto api.Protocol, port uint16) (string, bool)
}

// portKey names a port of one transport protocol.
type portKey struct {
	proto api.Protocol
	port  uint16
}

// builtinPorts is the first name getservbyport(3) returns for common
// ports on Debian 12 (netbase 6.4 /etc/services), which is what ipvsadm -L
// prints there. Names are per protocol: 80/udp has no entry, so it stays
// "80". The only SCTP entry of netbase is amqp (5672).
var builtinPorts = map[portKey]string{
	{api.TCP, 20}:    "ftp-data",
	{api.TCP, 21}:    "ftp",
	{api.UDP, 21}:    "fsp",
	{api.TCP, 22}:    "ssh",
	{api.TCP, 23}:    "telnet",
	{api.TCP, 25}:    "smtp",
	{api.TCP, 53}:    "domain",
	{api.UDP, 53}:    "domain",
	{api.UDP, 67}:    "bootps",
	{api.UDP, 68}:    "bootpc",
	{api.UDP, 69}:    "tftp",
	{api.TCP, 80}:    "http",
	{api.TCP, 88}:    "kerberos",
	{api.UDP, 88}:    "kerberos",
	{api.TCP, 110}:   "pop3",
	{api.TCP, 119}:   "nntp",
	{api.UDP, 123}:   "ntp",
	{api.TCP, 143}:   "imap2",
	{api.TCP, 161}:   "snmp",
	{api.UDP, 161}:   "snmp",
	{api.TCP, 162}:   "snmp-trap",
	{api.UDP, 162}:   "snmp-trap",
	{api.TCP, 389}:   "ldap",
	{api.UDP, 389}:   "ldap",
	{api.TCP, 443}:   "https",
	{api.UDP, 443}:   "https",
	{api.TCP, 465}:   "submissions",
	{api.TCP, 514}:   "shell",
	{api.UDP, 514}:   "syslog",
	{api.TCP, 587}:   "submission",
	{api.TCP, 636}:   "ldaps",
	{api.UDP, 636}:   "ldaps",
	{api.TCP, 853}:   "domain-s",
	{api.UDP, 853}:   "domain-s",
	{api.TCP, 993}:   "imaps",
	{api.TCP, 995}:   "pop3s",
	{api.TCP, 1812}:  "radius",
	{api.UDP, 1812}:  "radius",
	{api.TCP, 1813}:  "radius-acct",
	{api.UDP, 1813}:  "radius-acct",
	{api.TCP, 3306}:  "mysql",
	{api.TCP, 5060}:  "sip",
	{api.UDP, 5060}:  "sip",
	{api.TCP, 5061}:  "sip-tls",
	{api.UDP, 5061}:  "sip-tls",
	{api.TCP, 5432}:  "postgresql",
	{api.TCP, 6379}:  "redis",
	{api.TCP, 8080}:  "http-alt",
	{api.TCP, 5672}:  "amqp",
	{api.SCTP, 5672}: "amqp",
}

type builtinResolver struct{}

// BuiltinResolver returns the resolver of the built-in Debian 12 port
// names; it never names a host. Tests and golden files use it, so they do
// not depend on the machine's /etc/services or DNS.
func BuiltinResolver() Resolver { return builtinResolver{} }

func (builtinResolver) Host(netip.Addr) (string, bool) { return "", false }

func (builtinResolver) Port(proto api.Protocol, port uint16) (string, bool) {
	name, ok := builtinPorts[portKey{proto, port}]
	return name, ok
}

// Files and the reverse-lookup timeout of SystemResolver.
const (
	servicesFile      = "/etc/services"
	hostsFile         = "/etc/hosts"
	hostLookupTimeout = time.Second
)

// SystemResolver returns a resolver that names ports from /etc/services
// (the first name listed for the port and protocol, as getservbyport(3)
// returns), or from BuiltinResolver's table when the file is missing, and
// hosts from /etc/hosts (the first name of the first line with the
// address) and then the system resolver (net.DefaultResolver.LookupAddr,
// at most 1 s per address). The files are read once, on first use, and
// every answer is cached, so create one resolver per listing to see
// changes. Safe for concurrent use.
func SystemResolver() Resolver {
	return &systemResolver{
		servicesPath: servicesFile,
		hostsPath:    hostsFile,
		lookupAddr:   net.DefaultResolver.LookupAddr,
		timeout:      hostLookupTimeout,
	}
}

type systemResolver struct {
	servicesPath, hostsPath string
	lookupAddr              func(ctx context.Context, addr string) ([]string, error)
	timeout                 time.Duration

	portsOnce sync.Once
	ports     map[portKey]string // nil: use builtinPorts

	hostsOnce sync.Once
	hosts     map[netip.Addr]string

	mu    sync.Mutex
	cache map[netip.Addr]string // "" = no name; guarded by mu
}

func (r *systemResolver) Port(proto api.Protocol, port uint16) (string, bool) {
	r.portsOnce.Do(func() {
		f, err := os.Open(r.servicesPath)
		if err != nil {
			// Missing (or unreadable) file: the built-in table.
			return
		}
		defer f.Close()
		r.ports, _ = parseServices(f)
		if r.ports == nil {
			r.ports = map[portKey]string{}
		}
	})
	if r.ports == nil {
		return builtinResolver{}.Port(proto, port)
	}
	name, ok := r.ports[portKey{proto, port}]
	return name, ok
}

func (r *systemResolver) Host(a netip.Addr) (string, bool) {
	a = a.WithZone("")
	r.hostsOnce.Do(func() {
		f, err := os.Open(r.hostsPath)
		if err != nil {
			return
		}
		defer f.Close()
		r.hosts, _ = parseHosts(f)
	})
	if name, ok := r.hosts[a]; ok {
		return name, true
	}
	r.mu.Lock()
	name, ok := r.cache[a]
	r.mu.Unlock()
	if ok {
		return name, name != ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	names, err := r.lookupAddr(ctx, a.String())
	cancel()
	name = ""
	if err == nil && len(names) > 0 {
		// gethostbyaddr gives the name without the root's trailing dot.
		name = strings.TrimSuffix(names[0], ".")
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = make(map[netip.Addr]string)
	}
	r.cache[a] = name
	r.mu.Unlock()
	return name, name != ""
}

// maxLine bounds one line of /etc/services or /etc/hosts.
const maxLine = 64 << 10

// parseServices reads an /etc/services file: "name port/protocol
// [aliases...] [# comment]". The first name listed for a port and protocol
// wins, as with getservbyport(3). Protocols other than tcp, udp and sctp,
// and malformed lines, are skipped as glibc skips them; only a read error
// (or a line longer than 64 KiB) is an error, returned with what was read
// before it.
func parseServices(r io.Reader) (map[portKey]string, error) {
	m := make(map[portKey]string)
	err := eachLine(r, func(f []string) {
		if len(f) < 2 {
			return
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok {
			return
		}
		port, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return
		}
		var p api.Protocol
		switch strings.ToLower(proto) {
		case "tcp":
			p = api.TCP
		case "udp":
			p = api.UDP
		case "sctp":
			p = api.SCTP
		default:
			return
		}
		k := portKey{p, uint16(port)}
		if _, dup := m[k]; !dup {
			m[k] = f[0]
		}
	})
	if err != nil {
		return m, errors.Join(errors.New("listing: reading services file"), err)
	}
	return m, nil
}

// parseHosts reads an /etc/hosts file: "address name [aliases...] [#
// comment]". The first line with an address gives its name (the canonical
// name, as gethostbyaddr(3) returns it). Lines whose address does not parse
// are skipped; a zone is dropped. Errors as parseServices.
func parseHosts(r io.Reader) (map[netip.Addr]string, error) {
	m := make(map[netip.Addr]string)
	err := eachLine(r, func(f []string) {
		if len(f) < 2 {
			return
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			return
		}
		a = a.WithZone("")
		if _, dup := m[a]; !dup {
			m[a] = f[1]
		}
	})
	if err != nil {
		return m, errors.Join(errors.New("listing: reading hosts file"), err)
	}
	return m, nil
}

// eachLine calls fn with the fields of every line of r, comments ("#" to
// the end of the line) removed, blank lines skipped.
func eachLine(r io.Reader, fn func([]string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) > 0 {
			fn(f)
		}
	}
	return sc.Err()
}
