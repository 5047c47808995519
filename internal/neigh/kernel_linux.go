package neigh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsRef names the network namespace the table talks to: the current one,
// or the one behind a handle (tests build tables in namespaces they made).
type nsRef struct {
	h   netns.NsHandle
	set bool
}

func (r nsRef) handle() (*netlink.Handle, error) {
	if r.set {
		return netlink.NewHandleAt(r.h)
	}
	return netlink.NewHandle()
}

func (r nsRef) ptr() *netns.NsHandle {
	if r.set {
		h := r.h
		return &h
	}
	return nil
}

// New dumps the routes (main and local tables) and the neighbours of the
// ports from the current network namespace and returns a Table answering
// from that snapshot. Call Run to keep it current and to have missing
// next hops resolved.
func New(ports []Port) (*Table, error) { return newIn(nsRef{}, ports) }

// NewAt is New for the network namespace ns (which the caller keeps open
// while the table is in use). Run then follows that namespace too.
func NewAt(ns netns.NsHandle, ports []Port) (*Table, error) {
	return newIn(nsRef{h: ns, set: true}, ports)
}

func newIn(ns nsRef, ports []Port) (*Table, error) {
	t, err := newTable(ports)
	if err != nil {
		return nil, err
	}
	t.ns = ns
	h, err := ns.handle()
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	defer h.Close()
	routes, err := dumpRoutes(h)
	if err != nil {
		return nil, err
	}
	neighs, err := dumpNeighs(h, t.ports)
	if err != nil {
		return nil, err
	}
	t.snap.Store(buildSnapshot(t.ports, routes, neighs))
	return t, nil
}

// dumpRetries bounds how often a dump interrupted by concurrent changes
// (NLM_F_DUMP_INTR) is repeated before its possibly inconsistent result is
// used anyway (a later notification triggers a fresh dump).
const dumpRetries = 3

func dumpRoutes(h *netlink.Handle) ([]routeInfo, error) {
	var out []routeInfo
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		var rs []netlink.Route
		var err error
		for try := 0; try < dumpRetries; try++ {
			rs, err = h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
			if !errors.Is(err, netlink.ErrDumpInterrupted) {
				break
			}
		}
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("neigh: dump routes (family %d): %w", fam, err)
		}
		for i := range rs {
			if r, ok := convertRoute(fam, &rs[i]); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// convertRoute turns a netlink route of the main or local table into a
// routeInfo.
func convertRoute(fam int, r *netlink.Route) (routeInfo, bool) {
	if r.Table != tableMain && r.Table != tableLocal {
		return routeInfo{}, false
	}
	var dst netip.Prefix
	if r.Dst == nil {
		if fam == netlink.FAMILY_V4 {
			dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		} else {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	} else {
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			return routeInfo{}, false
		}
		if fam == netlink.FAMILY_V4 {
			a = a.Unmap()
		}
		ones, _ := r.Dst.Mask.Size()
		dst = netip.PrefixFrom(a, ones).Masked()
	}
	if !dst.IsValid() {
		return routeInfo{}, false
	}
	ri := routeInfo{Table: r.Table, Dst: dst, Type: r.Type, Priority: r.Priority}
	if len(r.MultiPath) > 0 {
		for _, nh := range r.MultiPath {
			ri.Hops = append(ri.Hops, convertHop(fam, nh.LinkIndex, nh.Gw, nh.Via != nil))
		}
	} else {
		ri.Hops = []hopInfo{convertHop(fam, r.LinkIndex, r.Gw, r.Via != nil)}
	}
	return ri, true
}

func convertHop(fam, link int, gw net.IP, via bool) hopInfo {
	h := hopInfo{LinkIndex: link, Bad: via || link == 0}
	if gw != nil {
		a, ok := netip.AddrFromSlice(gw)
		if !ok {
			h.Bad = true
			return h
		}
		if fam == netlink.FAMILY_V4 {
			if !a.Is4In6() && !a.Is4() {
				h.Bad = true
			}
			a = a.Unmap()
		}
		h.Gw = a
	}
	return h
}

func dumpNeighs(h *netlink.Handle, ports []Port) ([]neighInfo, error) {
	var out []neighInfo
	for _, p := range ports {
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			var ns []netlink.Neigh
			var err error
			for try := 0; try < dumpRetries; try++ {
				ns, err = h.NeighList(p.Index, fam)
				if !errors.Is(err, netlink.ErrDumpInterrupted) {
					break
				}
			}
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return nil, fmt.Errorf("neigh: dump neighbours of %s (index %d): %w", p.Name, p.Index, err)
			}
			for i := range ns {
				if n, ok := convertNeigh(&ns[i]); ok {
					out = append(out, n)
				}
			}
		}
	}
	return out, nil
}

func convertNeigh(n *netlink.Neigh) (neighInfo, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return neighInfo{}, false
	}
	ni := neighInfo{LinkIndex: n.LinkIndex, Addr: a.Unmap(), State: n.State}
	if len(n.HardwareAddr) == 6 {
		ni.MAC = [6]byte(n.HardwareAddr)
		ni.HasMAC = true
	}
	return ni, true
}

// Coalescing and pacing of Run.
const (
	settleDelay    = 20 * time.Millisecond // a burst of notifications → one rebuild
	recentInterval = time.Second           // a next hop is asked for at most about once per interval
	resubscribeGap = 200 * time.Millisecond
)

// errResubscribe ends one subscription round when netlink closed a
// notification channel (a socket error such as ENOBUFS after an overflow).
var errResubscribe = errors.New("neigh: netlink notification channel closed")

// Run keeps the table current until ctx is done: it subscribes to route,
// neighbour, address and link notifications, rebuilds the snapshot after
// each burst of them (neighbour changes of interfaces that are not ports
// are ignored) and then calls changed (the engine's NeighborsChanged). It
// also serves the requests Resolve queued, by a neighbour "use" request
// (NTF_USE) that makes the kernel start ARP/NDP for the next hop, falling
// back to a UDP datagram to the next hop's discard port when the kernel
// refuses that. After a notification socket fails (for example when its
// buffer overflowed) it subscribes again and rebuilds from a fresh dump.
// Run returns nil when ctx is done, or an error when subscribing fails.
func (t *Table) Run(ctx context.Context, changed func()) error {
	if changed == nil {
		changed = func() {}
	}
	h, err := t.ns.handle()
	if err != nil {
		return fmt.Errorf("neigh: netlink handle: %w", err)
	}
	defer h.Close()
	for {
		err := t.runRound(ctx, h, changed)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errResubscribe) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(resubscribeGap):
		}
	}
}

// runRound subscribes once and serves until ctx is done or a notification
// channel closes.
func (t *Table) runRound(ctx context.Context, h *netlink.Handle, changed func()) (err error) {
	done := make(chan struct{})
	routeCh := make(chan netlink.RouteUpdate, 64)
	neighCh := make(chan netlink.NeighUpdate, 64)
	addrCh := make(chan netlink.AddrUpdate, 16)
	linkCh := make(chan netlink.LinkUpdate, 16)
	var drains []func()
	defer func() {
		close(done)
		// netlink's reader goroutines close their channels once their
		// socket is closed; drain so none stays blocked on a send.
		for _, d := range drains {
			d()
		}
	}()
	ns := t.ns.ptr()
	if err := netlink.RouteSubscribeWithOptions(routeCh, done, netlink.RouteSubscribeOptions{Namespace: ns}); err != nil {
		return fmt.Errorf("neigh: subscribe to routes: %w", err)
	}
	drains = append(drains, func() {
		for range routeCh {
		}
	})
	if err := netlink.NeighSubscribeWithOptions(neighCh, done, netlink.NeighSubscribeOptions{Namespace: ns}); err != nil {
		return fmt.Errorf("neigh: subscribe to neighbours: %w", err)
	}
	drains = append(drains, func() {
		for range neighCh {
		}
	})
	if err := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{Namespace: ns}); err != nil {
		return fmt.Errorf("neigh: subscribe to addresses: %w", err)
	}
	drains = append(drains, func() {
		for range addrCh {
		}
	})
	if err := netlink.LinkSubscribeWithOptions(linkCh, done, netlink.LinkSubscribeOptions{Namespace: ns}); err != nil {
		return fmt.Errorf("neigh: subscribe to links: %w", err)
	}
	drains = append(drains, func() {
		for range linkCh {
		}
	})

	isPort := make(map[int]bool, len(t.ports))
	for _, p := range t.ports {
		isPort[p.Index] = true
	}
	// Changes between New (or the last round) and the subscription are
	// seen by a fresh dump now.
	routesDirty, dirty := true, true
	settle := time.NewTimer(0)
	defer settle.Stop()
	pending := true
	tick := time.NewTicker(recentInterval)
	defer tick.Stop()
	mark := func(routes bool) {
		routesDirty = routesDirty || routes
		dirty = true
		if !pending {
			pending = true
			settle.Reset(settleDelay)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-routeCh:
			if !ok {
				return errResubscribe
			}
			if u.Table == tableMain || u.Table == tableLocal {
				mark(true)
			}
		case u, ok := <-neighCh:
			if !ok {
				return errResubscribe
			}
			if isPort[u.LinkIndex] {
				mark(false)
			}
		case _, ok := <-addrCh:
			if !ok {
				return errResubscribe
			}
			mark(true)
		case u, ok := <-linkCh:
			if !ok {
				return errResubscribe
			}
			if isPort[int(u.Index)] {
				mark(true)
			}
		case <-settle.C:
			pending = false
			if err := t.rebuild(h, routesDirty); err != nil {
				// Keep the old snapshot; try again after the next burst
				// or tick.
				routesDirty = true
				continue
			}
			routesDirty, dirty = false, false
			changed()
		case <-tick.C:
			t.clearRecent()
			if dirty && !pending {
				mark(false)
			}
		case r := <-t.reqs:
			t.resolveNow(h, r)
		}
	}
}

// rebuild dumps the neighbours (always: cheap, and a route change may need
// new ones) and, when routesDirty, the routes, and publishes a new snapshot.
func (t *Table) rebuild(h *netlink.Handle, routesDirty bool) error {
	old := t.snap.Load()
	routes := old.routes
	if routesDirty {
		var err error
		if routes, err = dumpRoutes(h); err != nil {
			return err
		}
	}
	neighs, err := dumpNeighs(h, t.ports)
	if err != nil {
		return err
	}
	snap := buildSnapshot(t.ports, routes, neighs)
	t.snap.Store(snap)
	t.rebuilds.Add(1)
	t.clearRecent()
	t.clearLearned(snap)
	return nil
}

// resolveNow asks the kernel to resolve a next hop.
func (t *Table) resolveNow(h *netlink.Handle, r request) {
	ip := net.IP(r.addr[:]).To16()
	fam := netlink.FAMILY_V6
	if !r.v6 {
		ip = net.IP(r.addr[12:16]).To4()
		fam = netlink.FAMILY_V4
	}
	if r.learn {
		// What the kernel's ARP/NDP input does for a request addressed
		// to it: a STALE entry with the sender's address.
		err := h.NeighSet(&netlink.Neigh{LinkIndex: int(r.ifindex), Family: fam, IP: ip,
			State: nudStale, HardwareAddr: net.HardwareAddr(r.mac[:])})
		if err != nil {
			t.useErrors.Add(1)
		}
		return
	}
	if !t.forceFallback {
		// NTF_USE: the kernel looks the entry up (creating it when
		// NLM_F_CREATE allows), ignores state and lladdr, and calls
		// neigh_event_send on it, which starts resolution for an entry
		// that is new, FAILED or STALE. Verified on Linux 6.18 for ARP
		// and NDP (the root tests exercise it).
		err := h.NeighSet(&netlink.Neigh{LinkIndex: int(r.ifindex), Family: fam, IP: ip, Flags: netlink.NTF_USE})
		if err == nil {
			return
		}
		t.useErrors.Add(1)
	}
	if t.sendDiscard(r, ip) == nil {
		t.fallbacks.Add(1)
	}
}

// sendDiscard sends an empty UDP datagram to the discard port (9) of the
// next hop out of its interface: the kernel resolves the next hop to send
// it. The socket is made in the table's namespace.
func (t *Table) sendDiscard(r request, ip net.IP) error {
	name := ""
	for _, p := range t.ports {
		if p.Index == int(r.ifindex) {
			name = p.Name
		}
	}
	domain := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: 9, Addr: r.addr, ZoneId: uint32(r.ifindex)}
	if !r.v6 {
		domain = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: 9, Addr: [4]byte(r.addr[12:16])}
	}
	fd, err := t.socketIn(domain)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if name != "" {
		if err := unix.BindToDevice(fd, name); err != nil {
			return fmt.Errorf("neigh: bind to %s: %w", name, err)
		}
	}
	if err := unix.Sendto(fd, nil, unix.MSG_DONTWAIT, sa); err != nil {
		return fmt.Errorf("neigh: send to %s port 9: %w", ip, err)
	}
	return nil
}

// socketIn opens a UDP socket in the table's namespace.
func (t *Table) socketIn(domain int) (int, error) {
	if !t.ns.set {
		fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("neigh: udp socket: %w", err)
		}
		return fd, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return -1, fmt.Errorf("neigh: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(t.ns.h); err != nil {
		return -1, fmt.Errorf("neigh: enter namespace: %w", err)
	}
	fd, serr := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: do not unlock it, so the
		// runtime retires it instead of reusing it.
		runtime.LockOSThread()
		if serr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("neigh: leave namespace: %w", err)
	}
	if serr != nil {
		return -1, fmt.Errorf("neigh: udp socket: %w", serr)
	}
	return fd, nil
}
