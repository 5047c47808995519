package lab

import (
	"fmt"
	"net/netip"

	"github.com/vsd/vsd/internal/netns"
)

// The client's own segment when it sits behind the router
// (TopoOptions.ClientMTU): the router is host 1 there and hostRouter on
// the front segment.
var (
	client4 = netip.MustParsePrefix("10.0.1.0/24")
	client6 = netip.MustParsePrefix("2001:db8:c::/64")
)

const hostRouter = 3

// ClientIP is the client's address in family v6 in this lab: ClientAddr,
// or its address on its own segment behind the router.
func (t *Topo) ClientIP(v6 bool) netip.Addr {
	return host(t.ClientNet(v6), hostClient)
}

// ClientNet is the prefix of the client's segment in family v6: the front
// segment, or the client's own segment behind the router. Tests may add
// more client addresses inside it (host numbers 2..99).
func (t *Topo) ClientNet(v6 bool) netip.Prefix {
	switch {
	case t.o.ClientMTU == 0 && v6:
		return front6
	case t.o.ClientMTU == 0:
		return front4
	case v6:
		return client6
	}
	return client4
}

// ClientHost is host n of the client's segment in family v6.
func (t *Topo) ClientHost(v6 bool, n int) netip.Addr { return host(t.ClientNet(v6), n) }

// RouterAddr is the router's address on the front segment (the next hop
// towards the client of the director and the real servers).
func RouterAddr(v6 bool) netip.Addr {
	if v6 {
		return host(front6, hostRouter)
	}
	return host(front4, hostRouter)
}

// buildRouter puts the client behind a router: client eth0 — rt cl,
// rt front — the front bridge. Every interface keeps MTU 1500, so the
// client advertises MSS 1460 and may send full-size packets; only the
// router's route to the client has MTU ClientMTU (locked, which IPv6
// forwarding needs to honour it), so a larger packet towards the client
// with DF set (always for IPv6) is answered by the router with ICMP
// fragmentation needed / packet too big, sent to the packet's source —
// for a virtual service, the VIP. That is path MTU discovery across the
// director: the small MTU is not on the client's own interface, so TCP's
// MSS negotiation cannot avoid it.
func (t *Topo) buildRouter(plug func(ns *netns.NS, end, swName, br string) error) error {
	l := t.Lab
	rt, err := l.NS("rt")
	if err != nil {
		return err
	}
	t.Router = rt
	c := t.Client
	mtu := fmt.Sprint(t.o.ClientMTU)
	return must(
		func() error { return rt.Sysctl("net.ipv6.conf.all.accept_dad", "0") },
		func() error { return rt.Sysctl("net.ipv6.conf.default.accept_dad", "0") },
		func() error { return plug(rt, "front", "r0", "brf") },
		func() error { return l.Veth(c, "eth0", rt, "cl") },
		func() error { return noOffloads(c, "eth0") },
		func() error { return noOffloads(rt, "cl") },
		func() error { return addAddrs(rt, "front", hostRouter, front4, front6) },
		func() error { return addAddrs(rt, "cl", 1, client4, client6) },
		func() error { return addAddrs(c, "eth0", hostClient, client4, client6) },
		func() error { return c.IP("route", "add", "default", "via", host(client4, 1).String()) },
		func() error { return c.IP("-6", "route", "add", "default", "via", host(client6, 1).String()) },
		func() error { return rt.Sysctl("net.ipv4.ip_forward", "1") },
		func() error { return rt.Sysctl("net.ipv6.conf.all.forwarding", "1") },
		func() error { return rt.Sysctl("net.ipv4.conf.all.rp_filter", "0") },
		func() error { return rt.Sysctl("net.ipv4.conf.default.rp_filter", "0") },
		// ICMP errors on, and not rate-limited (frag needed and packet
		// too big are exempt anyway).
		func() error { return rt.Sysctl("net.ipv4.icmp_ratelimit", "0") },
		func() error { return rt.Sysctl("net.ipv6.icmp.ratelimit", "0") },
		func() error {
			return rt.IP("route", "replace", client4.String(), "dev", "cl", "src", host(client4, 1).String(), "mtu", "lock", mtu)
		},
		func() error {
			return rt.IP("-6", "route", "replace", client6.String(), "dev", "cl", "metric", "256", "mtu", "lock", mtu)
		},
	)
}

// routeToClient gives the director and the real servers a route to the
// client's segment through the router. The real servers' own path MTU
// discovery stays on and TCP MTU probing off, so a real server learns the
// smaller MTU only from the ICMP errors the director forwards.
func (t *Topo) routeToClient() error {
	via4, via6 := RouterAddr(false).String(), RouterAddr(true).String()
	steps := []func() error{
		func() error { return t.Director.IP("route", "add", client4.String(), "via", via4, "dev", "front") },
		func() error {
			return t.Director.IP("-6", "route", "add", client6.String(), "via", via6, "dev", "front")
		},
	}
	for _, s := range t.Servers {
		steps = append(steps,
			func() error { return s.IP("route", "add", client4.String(), "via", via4, "dev", "front") },
			func() error { return s.IP("-6", "route", "add", client6.String(), "via", via6, "dev", "front") },
			func() error { return s.Sysctl("net.ipv4.ip_no_pmtu_disc", "0") },
			func() error { return s.Sysctl("net.ipv4.tcp_mtu_probing", "0") },
		)
	}
	return must(steps...)
}
