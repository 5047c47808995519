package daemon

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vsd/vsd/internal/config"
)

// port is one interface vsd drives, as found on the host.
type port struct {
	name         string
	index        int
	mac          [6]byte
	addr4, addr6 netip.Addr // the director's own addresses (ICMP and tunnel source)
	mtu          int        // the interface MTU (the engine's size check)
}

// discoverPorts looks the configured interfaces up on the host.
func discoverPorts(ifs []config.Interface) ([]port, error) {
	out := make([]port, 0, len(ifs))
	for _, c := range ifs {
		ifi, err := net.InterfaceByName(c.Name)
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", c.Name, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("interface %q: not an Ethernet interface (hardware address %q)", c.Name, ifi.HardwareAddr)
		}
		p := port{name: c.Name, index: ifi.Index, mtu: ifi.MTU}
		copy(p.mac[:], ifi.HardwareAddr)
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("interface %q: addresses: %w", c.Name, err)
		}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			switch {
			case ip.Is4() && !p.addr4.IsValid():
				p.addr4 = ip
			case ip.Is6() && !ip.IsLinkLocalUnicast() && !p.addr6.IsValid():
				p.addr6 = ip
			}
		}
		out = append(out, p)
	}
	return out, nil
}
