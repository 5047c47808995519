package flood

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// usable neighbour states: the kernel has (or had recently) a link address.
const neighUsable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// resolveMAC finds the Ethernet address of dst's next hop on interface
// ifindex in the calling thread's namespace: the route's gateway or dst
// itself, looked up in the neighbour table. When the kernel has no entry it
// sends one UDP datagram to the next hop's port 9 (discard) to make the
// kernel resolve it (ARP or NDP), and waits up to a second.
func resolveMAC(ifindex int, dev string, dst netip.Addr) (net.HardwareAddr, error) {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(routes) == 0 {
		return nil, badInput{fmt.Errorf("--dst %s: no route in this namespace (%v); give --dst-mac", dst, err)}
	}
	r := routes[0]
	if r.LinkIndex != ifindex {
		return nil, badInput{fmt.Errorf("--dst %s: the route goes out of interface index %d, not --dev %s; give --dst-mac", dst, r.LinkIndex, dev)}
	}
	hop := dst
	if gw, ok := netip.AddrFromSlice(r.Gw); ok {
		hop = gw
		if dst.Is4() {
			hop = gw.Unmap()
		}
	}
	family := netlink.FAMILY_V4
	if hop.Is6() {
		family = netlink.FAMILY_V6
	}
	lookup := func() (net.HardwareAddr, error) {
		ns, err := netlink.NeighList(ifindex, family)
		if err != nil {
			return nil, fmt.Errorf("flood: neighbour table of %s: %w", dev, err)
		}
		for _, n := range ns {
			a, ok := netip.AddrFromSlice(n.IP)
			if ok && a.Unmap() == hop && n.State&neighUsable != 0 && len(n.HardwareAddr) == 6 {
				return n.HardwareAddr, nil
			}
		}
		return nil, nil
	}
	if mac, err := lookup(); mac != nil || err != nil {
		return mac, err
	}
	if err := poke(hop, dev); err != nil {
		return nil, err
	}
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		if mac, err := lookup(); mac != nil || err != nil {
			return mac, err
		}
	}
	return nil, badInput{fmt.Errorf("--dst %s: next hop %s on %s did not resolve within 1s; give --dst-mac", dst, hop, dev)}
}

// poke sends one UDP datagram to hop:9 out of dev so that the kernel
// resolves hop's link address.
func poke(hop netip.Addr, dev string) error {
	fam := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: 9, Addr: hop.As16()}
	if hop.Is4() {
		fam = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: 9, Addr: hop.As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("flood: resolving %s: udp socket: %w", hop, err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
		return fmt.Errorf("flood: resolving %s: bind to %s: %w", hop, dev, err)
	}
	// A failure here (e.g. EHOSTUNREACH from an earlier failed resolution)
	// is no reason to stop: the table is read again anyway.
	_ = unix.Sendto(fd, []byte{0}, unix.MSG_DONTWAIT, sa)
	return nil
}
