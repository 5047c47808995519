package sim

import (
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// Test directors: just enough forwarding to prove the clients and servers
// work in each mode. They are not IPVS (no states, no timeouts).

var (
	dirMAC   = [6]byte{0x02, 0xd0, 0, 0, 0, 1}
	dirAddr4 = netip.MustParseAddr("10.0.0.1")
	dirAddr6 = netip.MustParseAddr("2001:db8::1")
	vip4     = netip.MustParseAddr("10.0.0.100")
	vip6     = netip.MustParseAddr("2001:db8::100")
)

func rip4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}) }
func rip6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)})
}

// flowKey identifies a client flow at the fake director.
type flowKey struct {
	proto        packet.Proto
	client, vip  [16]byte
	cport, vport uint16
}

// fakeBase picks a server per flow (round robin, or by client address
// when persist is set) and remembers it.
type fakeBase struct {
	n       *Network
	servers []*Server
	vips    map[[16]byte]bool
	rips    map[[16]byte]int // server address → server index
	flows   map[flowKey]int
	next    int
	persist bool
	flaky   bool // pick anew for every packet: breaks connections on purpose
	p       packet.Parsed
	// corrupt, when set, may damage a frame after the rewrite; inbound
	// says whether it goes towards a server.
	corrupt func(b []byte, p *packet.Parsed, inbound bool)
}

func newFakeBase(n *Network, servers []*Server) fakeBase {
	f := fakeBase{n: n, servers: servers, vips: map[[16]byte]bool{vip4.As16(): true, vip6.As16(): true},
		rips: map[[16]byte]int{}, flows: map[flowKey]int{}}
	for i, s := range servers {
		for _, a := range s.rips {
			f.rips[a.As16()] = i
		}
	}
	return f
}

func (f *fakeBase) pick(p *packet.Parsed) int {
	k := flowKey{proto: p.Proto, client: p.Src, vip: p.Dst, cport: p.SrcPort, vport: p.DstPort}
	if i, ok := f.flows[k]; ok && !f.flaky {
		return i
	}
	var i int
	if f.persist {
		h := uint32(2166136261)
		for _, b := range p.Src {
			h = (h ^ uint32(b)) * 16777619
		}
		i = int(h % uint32(len(f.servers)))
	} else {
		i = f.next % len(f.servers)
		f.next++
	}
	f.flows[k] = i
	return i
}

// rip returns server i's address of the given family.
func (f *fakeBase) rip(i int, v6 bool) netip.Addr {
	for _, a := range f.servers[i].rips {
		if a.Is6() == v6 {
			return a
		}
	}
	return netip.Addr{}
}

// fakeDR rewrites the destination MAC of VIP traffic to the chosen server.
type fakeDR struct{ fakeBase }

func (f *fakeDR) Process(frames []link.Frame, now clock.Time) {
	for i := range frames {
		fr := &frames[i]
		b := fr.Bytes()
		if packet.Decode(b, &f.p) != packet.OK || !f.vips[f.p.Dst] {
			fr.Action = link.Pass
			continue
		}
		s := f.servers[f.pick(&f.p)]
		eth := packet.Ethernet(b)
		eth.SetDestination(s.mac)
		eth.SetSource(dirMAC)
		if f.corrupt != nil {
			f.corrupt(b, &f.p, true)
		}
		fr.Action = link.Tx
	}
}

// fakeNAT rewrites VIP → RIP inbound and RIP → VIP outbound (ports kept),
// updating checksums incrementally with the packet views.
type fakeNAT struct {
	fakeBase
	back map[natBack][16]byte // reply flow → VIP
}

type natBack struct {
	proto        packet.Proto
	client, rip  [16]byte
	cport, rport uint16
}

func (f *fakeNAT) Process(frames []link.Frame, now clock.Time) {
	for i := range frames {
		fr := &frames[i]
		b := fr.Bytes()
		p := &f.p
		if packet.Decode(b, p) != packet.OK || !p.Flags.Has(packet.FlagL4) {
			fr.Action = link.Pass
			continue
		}
		eth := packet.Ethernet(b)
		switch {
		case f.vips[p.Dst]:
			si := f.pick(p)
			rip := f.rip(si, p.V6)
			f.back[natBack{proto: p.Proto, client: p.Src, rip: rip.As16(), cport: p.SrcPort, rport: p.DstPort}] = p.Dst
			setAddr(b, p, false, rip)
			eth.SetDestination(f.servers[si].mac)
			if f.corrupt != nil {
				f.corrupt(b, p, true)
			}
		default:
			if _, ok := f.rips[p.Src]; !ok {
				fr.Action = link.Pass
				continue
			}
			vip, found := f.back[natBack{proto: p.Proto, client: p.Dst, rip: p.Src, cport: p.DstPort, rport: p.SrcPort}]
			if !found {
				fr.Action = link.Drop
				continue
			}
			client := addrOf(p.Dst, p.V6)
			setAddr(b, p, true, addrOf(vip, p.V6))
			mac, ok := f.n.Resolve(client)
			if !ok {
				fr.Action = link.Drop
				continue
			}
			eth.SetDestination(mac)
			if f.corrupt != nil {
				f.corrupt(b, p, false)
			}
		}
		eth.SetSource(dirMAC)
		fr.Action = link.Tx
	}
}

// setAddr rewrites the source (src) or destination address of the packet
// with checksum updates.
func setAddr(b []byte, p *packet.Parsed, src bool, a netip.Addr) {
	var old, new []byte
	if p.V6 {
		ip := packet.IPv6(b[p.L3Off:])
		n16 := a.As16()
		if src {
			o := ip.Source()
			old = o[:]
			ip.SetSource(n16)
		} else {
			o := ip.Destination()
			old = o[:]
			ip.SetDestination(n16)
		}
		new = n16[:]
	} else {
		ip := packet.IPv4(b[p.L3Off:])
		n4 := a.As4()
		if src {
			o := ip.Source()
			old = o[:]
			ip.SetSourceWithChecksum(n4)
		} else {
			o := ip.Destination()
			old = o[:]
			ip.SetDestinationWithChecksum(n4)
		}
		new = n4[:]
	}
	seg := b[p.L4Off:p.Len]
	switch p.Proto {
	case packet.ProtoTCP:
		packet.TCP(seg).UpdateChecksumForAddress(old, new)
	case packet.ProtoUDP:
		packet.UDP(seg).UpdateChecksumForAddress(old, new)
	}
}

// fakeTUN encapsulates VIP traffic towards the chosen server's RIP, in IPIP
// or GUE, prepending the outer headers into the headroom with the packet
// package's Encode builders. outer6 picks the outer family (so IPv4 in IPv6
// and IPv6 in IPv4 are covered); GUE over IPv6 is sent without a UDP
// checksum, over IPv4 with one.
type fakeTUN struct {
	fakeBase
	gue     bool
	guePort uint16
	outer6  bool
}

func (f *fakeTUN) Process(frames []link.Frame, now clock.Time) {
	for i := range frames {
		fr := &frames[i]
		b := fr.Bytes()
		p := &f.p
		if packet.Decode(b, p) != packet.OK || !f.vips[p.Dst] {
			fr.Action = link.Pass
			continue
		}
		si := f.pick(p)
		rip := f.rip(si, f.outer6)
		innerLen := int(p.Len) - int(p.L3Off)
		ipLen := 20
		if f.outer6 {
			ipLen = 40
		}
		hdr := ipLen
		if f.gue {
			hdr += 8 + 4
		}
		innerProto := packet.ProtoIPIP
		if p.V6 {
			innerProto = packet.ProtoIPv6
		}
		next := innerProto
		if f.gue {
			next = packet.ProtoUDP
		}
		start := fr.Off + int(p.L3Off) - hdr - 14
		buf := fr.Buf[start:]
		eth := packet.EthernetFields{Dst: f.servers[si].mac, Src: dirMAC, EtherType: packet.EtherTypeIPv4}
		src := dirAddr4
		if f.outer6 {
			eth.EtherType = packet.EtherTypeIPv6
			src = dirAddr6
		}
		packet.Ethernet(buf).Encode(&eth)
		ip := buf[14:]
		if f.outer6 {
			packet.IPv6(ip).Encode(&packet.IPv6Fields{PayloadLength: uint16(hdr - 40 + innerLen), NextHeader: next, HopLimit: 64, Src: src, Dst: rip})
		} else {
			packet.IPv4(ip).Encode(&packet.IPv4Fields{TotalLength: uint16(hdr + innerLen), ID: uint16(f.next), TTL: 64, Protocol: next, Src: src, Dst: rip})
		}
		if f.gue {
			u := packet.UDP(ip[ipLen:])
			u.Encode(&packet.UDPFields{SrcPort: 40000 + p.SrcPort%1000, DstPort: f.guePort, Length: uint16(8 + 4 + innerLen)})
			packet.GUE(ip[ipLen+8:]).Encode(&packet.GUEFields{Proto: uint8(innerProto)})
			if !f.outer6 {
				s16, d16 := src.As16(), rip.As16()
				seg := ip[ipLen : hdr+innerLen]
				u.SetChecksum(u[:len(seg)].CalculateChecksum(packet.PseudoSum(false, &s16, &d16, packet.ProtoUDP, len(seg))))
			}
		}
		fr.Off = start
		fr.Len = 14 + hdr + innerLen
		fr.Action = link.Tx
	}
}

// lab is a network with one director (a fake), n servers and one client.
type lab struct {
	n       *Network
	dir     *DirectorHost
	servers []*Server
	client  *Client
	fake    *fakeBase
}

// labMode names the fakes: nat, dr, tun-ipip, tun-gue (plus outer-family
// variants tun-ipip6, tun-gue6).
func newLab(t testing.TB, mode string, nServers int, cfg Config) *lab {
	t.Helper()
	n := New(cfg)
	l := &lab{n: n}
	smode := map[string]Mode{"nat": NAT, "dr": DR, "tun-ipip": TUN, "tun-gue": TUN, "tun-ipip6": TUN, "tun-gue6": TUN}[mode]
	if smode == 0 {
		t.Fatalf("unknown lab mode %q", mode)
	}
	for i := 1; i <= nServers; i++ {
		sc := ServerConfig{Name: "rs" + string(rune('0'+i)), Addrs: []netip.Addr{rip4(i), rip6(i)}, Mode: smode, GUEPort: 5555}
		if smode != NAT {
			sc.VIPs = []netip.Addr{vip4, vip6}
		}
		s, err := n.AddServer(sc)
		if err != nil {
			t.Fatal(err)
		}
		l.servers = append(l.servers, s)
	}
	base := newFakeBase(n, l.servers)
	var d Director
	switch mode {
	case "nat":
		f := &fakeNAT{fakeBase: base, back: map[natBack][16]byte{}}
		d, l.fake = f, &f.fakeBase
	case "dr":
		f := &fakeDR{base}
		d, l.fake = f, &f.fakeBase
	default:
		f := &fakeTUN{fakeBase: base, gue: mode == "tun-gue" || mode == "tun-gue6", guePort: 5555,
			outer6: mode == "tun-ipip6" || mode == "tun-gue6"}
		d, l.fake = f, &f.fakeBase
	}
	dh, err := n.AddDirector(d, DirectorConfig{Name: "fake-" + mode,
		Ports: []DirectorPort{{MAC: dirMAC, Addrs: []netip.Addr{dirAddr4, dirAddr6}}}, VIPs: []netip.Addr{vip4, vip6}})
	if err != nil {
		t.Fatal(err)
	}
	l.dir = dh
	c, err := n.AddClient(ClientConfig{Name: "cip", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:9::10")}})
	if err != nil {
		t.Fatal(err)
	}
	l.client = c
	return l
}

// start starts a session or fails the test.
func (l *lab) start(t testing.TB, k Kind, svc netip.AddrPort, p *SessionParams) int {
	t.Helper()
	id, err := l.client.StartSession(k, svc, p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// noProblems fails the test if the report lists any broken invariant.
func noProblems(t testing.TB, r *Report) {
	t.Helper()
	if p := r.Problems(); len(p) > 0 {
		t.Errorf("problems: %v\n%s", p, r)
	}
}
