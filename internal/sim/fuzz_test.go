package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/packet"
)

// fuzzNet is a network with a client that has a TCP connection opening
// and a UDP session waiting, and one server of each mode.
func fuzzNet(t testing.TB) (*Network, *Client, []*Server) {
	n := New(Config{Seed: 3})
	c, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:9::10")}})
	if err != nil {
		t.Fatal(err)
	}
	var servers []*Server
	for i, m := range []Mode{NAT, DR, TUN} {
		sc := ServerConfig{Name: m.String(), Addrs: []netip.Addr{rip4(i + 1), rip6(i + 1)}, Mode: m, GUEPort: 5555}
		if m != NAT {
			sc.VIPs = []netip.Addr{vip4, vip6}
		}
		s, err := n.AddServer(sc)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	n.SetNeighbor(vip4, [6]byte{2, 0xd0, 0, 0, 0, 1})
	n.SetNeighbor(vip6, [6]byte{2, 0xd0, 0, 0, 0, 1})
	c.StartSession(HTTP10, netip.AddrPortFrom(vip4, 80), nil)
	c.StartSession(UDP, netip.AddrPortFrom(vip6, 53), nil)
	return n, c, servers
}

// fuzzSeeds builds frames that reach deep into the receive paths: answers
// on the client's connections, tunnelled SYNs for the TUN server, a plain
// SYN for the NAT and DR servers, an ICMP error about the client's SYN.
func fuzzSeeds(t testing.TB) [][]byte {
	n, c, servers := fuzzNet(t)
	var tcpConn, udpConn *clientConn
	for _, cc := range n.conns {
		if cc.proto == packet.ProtoTCP {
			tcpConn = cc
		} else {
			udpConn = cc
		}
	}
	synAck := packet.Frame{Ethernet: packet.EthernetFields{Dst: c.MAC()},
		IPv4: &packet.IPv4Fields{TTL: 64, Src: vip4, Dst: c.Addr4()},
		TCP: &packet.TCPFields{SrcPort: 80, DstPort: tcpConn.local.Port(), Seq: 5000, Ack: tcpConn.iss + 1,
			Flags: packet.TCPSyn | packet.TCPAck, Window: 65535, Options: serverOption(1)}}
	udpAns := packet.Frame{Ethernet: packet.EthernetFields{Dst: c.MAC()},
		IPv6: &packet.IPv6Fields{HopLimit: 64, Src: vip6, Dst: c.Addr6()},
		UDP:  &packet.UDPFields{SrcPort: 53, DstPort: udpConn.local.Port()}, Payload: []byte("srv=dr cli=[2001:db8:9::10]:1 ping 1\r\n")}
	icmp := packet.Frame{Ethernet: packet.EthernetFields{Dst: c.MAC()},
		IPv4:    &packet.IPv4Fields{TTL: 64, Src: vip4, Dst: c.Addr4()},
		ICMP:    &packet.ICMPFields{Type: packet.ICMPv4DestUnreach, Code: packet.ICMPv4PortUnreach},
		Payload: packet.AppendPacket(nil, &packet.Frame{IPv4: &packet.IPv4Fields{TTL: 64, Src: c.Addr4(), Dst: vip4}, TCP: &packet.TCPFields{SrcPort: tcpConn.local.Port(), DstPort: 80, Flags: packet.TCPSyn}})}
	syn := func() (*packet.IPv4Fields, *packet.TCPFields) {
		return &packet.IPv4Fields{TTL: 64, Src: c.Addr4(), Dst: vip4}, &packet.TCPFields{SrcPort: 40000, DstPort: 21, Seq: 9, Flags: packet.TCPSyn}
	}
	i4, t4 := syn()
	gue := packet.Frame{Ethernet: packet.EthernetFields{Dst: servers[2].MAC()},
		OuterIPv6: &packet.IPv6Fields{HopLimit: 64, Src: dirAddr6, Dst: rip6(3)},
		OuterUDP:  &packet.UDPFields{SrcPort: 7, DstPort: 5555, NoChecksum: true}, GUE: &packet.GUEFields{}, IPv4: i4, TCP: t4}
	i4, t4 = syn()
	ipip := packet.Frame{Ethernet: packet.EthernetFields{Dst: servers[2].MAC()}, OuterIPv4: &packet.IPv4Fields{TTL: 64, Src: dirAddr4, Dst: rip4(3)}, IPv4: i4, TCP: t4}
	i4, t4 = syn()
	i4.Dst = rip4(1)
	nat := packet.Frame{Ethernet: packet.EthernetFields{Dst: servers[0].MAC()}, IPv4: i4, TCP: t4}
	i4, t4 = syn()
	dr := packet.Frame{Ethernet: packet.EthernetFields{Dst: servers[1].MAC()}, IPv4: i4, TCP: t4, Payload: []byte("GET /10 HTTP/1.0\r\n\r\n")}
	var out [][]byte
	for _, f := range []*packet.Frame{&synAck, &udpAns, &icmp, &gue, &ipip, &nat, &dr} {
		out = append(out, packet.AppendFrame(nil, f))
	}
	return out
}

// FuzzReceive feeds arbitrary frames to a client and to NAT, DR and TUN
// servers: whatever a director sends, the hosts never crash, and whatever
// they send in reply is well-formed (no bad checksum or malformed frame
// is counted after the fuzzed one).
func FuzzReceive(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		n, c, servers := fuzzNet(t)
		hosts := []*host{&c.host}
		for _, s := range servers {
			hosts = append(hosts, &s.host)
		}
		c.receive(frame)
		for _, s := range servers {
			s.receive(frame)
		}
		before := make([]HostCounters, len(hosts))
		for i, h := range hosts {
			before[i] = h.cnt
		}
		n.RunFor(2 * time.Second)
		for i, h := range hosts {
			if h.cnt.BadChecksum != before[i].BadChecksum || h.cnt.Malformed != before[i].Malformed {
				t.Errorf("%s received a broken frame from the sim: %+v", h.name, h.cnt)
			}
		}
	})
}
