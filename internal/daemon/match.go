package daemon

import (
	"net/netip"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/steer"
)

// matchOf turns a configuration snapshot into what the BPF programs must
// send to vsd: traffic to every VIP:port (and ICMP errors addressed to the
// VIPs), replies from every NAT real server (and its ICMP errors), and ARP
// / neighbour solicitations for the VIPs, and ICMP errors about the
// director's own tunnel packets to every IPv4 TUN real server (IPIP, or GUE
// to its tunnel port). Firewall-mark services are not steered: their
// traffic is chosen by mark rules, which the programs do not evaluate; but
// their TUN real servers are tunnels (the director recognises errors about
// them by address alone, service.Snapshot.TunnelDest).
func matchOf(snap *service.Snapshot) steer.Match {
	var m steer.Match
	seenS := map[steer.Endpoint]bool{}
	seenR := map[steer.Endpoint]bool{}
	seenT := map[steer.Endpoint]bool{}
	seenV := map[netip.Addr]bool{}
	addS := func(e steer.Endpoint) {
		if !seenS[e] {
			seenS[e] = true
			m.Services = append(m.Services, e)
		}
	}
	addR := func(e steer.Endpoint) {
		if !seenR[e] {
			seenR[e] = true
			m.Replies = append(m.Replies, e)
		}
	}
	for _, svc := range snap.Services {
		for _, d := range svc.Dests {
			if e, ok := tunnelOf(d); ok && !seenT[e] {
				seenT[e] = true
				m.Tunnels = append(m.Tunnels, e)
			}
		}
		if svc.Key.IsFwMark() {
			continue
		}
		vip := svc.Key.Addr
		proto := uint8(svc.Key.Proto)
		addS(steer.Endpoint{Proto: proto, Addr: vip, Port: svc.Key.Port})
		addS(steer.Endpoint{Proto: icmpOf(vip), Addr: vip})
		if !seenV[vip] {
			seenV[vip] = true
			m.VIPs = append(m.VIPs, vip)
		}
		for _, d := range svc.Dests {
			if d.Config().Method != service.Masq {
				continue
			}
			addR(steer.Endpoint{Proto: proto, Addr: d.Addr, Port: d.Port})
			addR(steer.Endpoint{Proto: icmpOf(d.Addr), Addr: d.Addr})
		}
	}
	return m
}

func icmpOf(a netip.Addr) uint8 {
	if a.Is4() {
		return uint8(packet.ProtoICMP)
	}
	return uint8(packet.ProtoICMPv6)
}

// tunnelOf is the steer.Match tunnel entry of d when it is an IPv4 TUN
// real server of type IPIP or GUE: the director handles tunnel errors only
// about IPv4 tunnels (ICMPv4), as the kernel does.
func tunnelOf(d *service.Dest) (steer.Endpoint, bool) {
	c := d.Config()
	if c.Method != service.Tunnel || !d.Addr.Is4() {
		return steer.Endpoint{}, false
	}
	switch c.TunType {
	case service.TunIPIP:
		return steer.Endpoint{Proto: uint8(packet.ProtoIPIP), Addr: d.Addr}, true
	case service.TunGUE:
		return steer.Endpoint{Proto: uint8(packet.ProtoUDP), Addr: d.Addr, Port: c.TunPort}, true
	}
	return steer.Endpoint{}, false
}
