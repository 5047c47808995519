package neigh

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Announce says that VIP is answered for (ARP / neighbour solicitation) and
// announced (gratuitous ARP / unsolicited NA) on the port with index Port
// (director order).
type Announce struct {
	Port int
	VIP  netip.Addr
}

// OnLink returns, for each VIP, an Announce for every port one of whose own
// address prefixes (as `ip addr` lists them, in the current namespace)
// contains it. A VIP inside no port's prefix is not announced: it must be
// routed to the director by its neighbours. A VIP that is itself a port's
// address is announced too (the kernel answers for it as well, with the
// same MAC). IPv4-mapped IPv6 VIPs count as IPv4.
func OnLink(ports []Port, vips []netip.Addr) ([]Announce, error) {
	return onLinkIn(nsRef{}, ports, vips)
}

// OnLinkAt is OnLink in the network namespace ns.
func OnLinkAt(ns netns.NsHandle, ports []Port, vips []netip.Addr) ([]Announce, error) {
	return onLinkIn(nsRef{h: ns, set: true}, ports, vips)
}

func onLinkIn(ns nsRef, ports []Port, vips []netip.Addr) ([]Announce, error) {
	for i, v := range vips {
		if !v.IsValid() {
			return nil, fmt.Errorf("neigh: VIP %d is not a valid address", i)
		}
	}
	h, err := ns.handle()
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	defer h.Close()
	prefixes := make([][]netip.Prefix, len(ports))
	for i, p := range ports {
		addrs, err := h.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: p.Index, Name: p.Name}}, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("neigh: list addresses of %s (index %d): %w", p.Name, p.Index, err)
		}
		for _, a := range addrs {
			if a.IPNet == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(a.IPNet.IP)
			if !ok {
				continue
			}
			ones, bits := a.IPNet.Mask.Size()
			if bits == 32 {
				ip = ip.Unmap()
			}
			if pf := netip.PrefixFrom(ip, ones); pf.IsValid() {
				prefixes[i] = append(prefixes[i], pf.Masked())
			}
		}
	}
	var out []Announce
	for _, v := range vips {
		v = v.Unmap()
		for i := range ports {
			for _, pf := range prefixes[i] {
				if pf.Contains(v) {
					out = append(out, Announce{Port: i, VIP: v})
					break
				}
			}
		}
	}
	return out, nil
}
