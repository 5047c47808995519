package vsadm

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// servicesFile is where getservbyname(3) looks service names up.
const servicesFile = "/etc/services"

// systemResolver resolves names as ipvsadm does through the C library:
// hosts with gethostbyname (IPv4 only, the first address; here the Go
// resolver, which reads /etc/hosts and asks DNS), services with
// getservbyname (here a scan of /etc/services: the name or an alias, for
// the protocol, case-sensitive).
type systemResolver struct{}

func (systemResolver) host(name string) (netip.Addr, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", name)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ips[0].To4())
	return a, ok
}

func (systemResolver) port(name string, proto int) (uint16, bool) {
	f, err := os.Open(servicesFile)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return lookupService(bufio.NewScanner(f), name, protoName(proto))
}

func protoName(proto int) string {
	switch proto {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoSCTP:
		return "sctp"
	}
	return ""
}

// lookupService finds name (or an alias) for proto in an /etc/services
// text: "name port/proto [alias...] [# comment]"; the first entry wins.
func lookupService(sc *bufio.Scanner, name, proto string) (uint16, bool) {
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		portStr, pr, ok := strings.Cut(f[1], "/")
		if !ok || pr != proto {
			continue
		}
		match := f[0] == name
		for _, alias := range f[2:] {
			match = match || alias == name
		}
		if !match {
			continue
		}
		n, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		return uint16(n), true
	}
	return 0, false
}
