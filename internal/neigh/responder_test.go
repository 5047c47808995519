package neigh

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	rPorts = []Port{
		{Name: "p0", Index: 10, MAC: [6]byte{2, 0, 0, 0, 0, 0x10}},
		{Name: "p1", Index: 20, MAC: [6]byte{2, 0, 0, 0, 0, 0x20}},
	}
	vip4      = netip.MustParseAddr("10.0.0.80")
	vip4b     = netip.MustParseAddr("10.0.1.80")
	vip6      = netip.MustParseAddr("2001:db8::80")
	client4   = netip.MustParseAddr("10.0.0.7")
	client6   = netip.MustParseAddr("2001:db8::7")
	clientMAC = net.HardwareAddr{2, 0xc1, 0, 0, 0, 7}
)

func testResponder() *Responder {
	return NewResponder(rPorts, []Announce{
		{Port: 0, VIP: vip4}, {Port: 0, VIP: vip6}, {Port: 1, VIP: vip4b},
		{Port: 0, VIP: vip4},                           // duplicate
		{Port: 5, VIP: vip4},                           // port out of range
		{Port: 1, VIP: netip.Addr{}},                   // invalid
		{Port: 1, VIP: netip.MustParseAddr("ff02::1")}, // multicast
	})
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), b.Bytes()...)
}

func ethLayers(dst, src net.HardwareAddr, et layers.EthernetType, vlan bool) []gopacket.SerializableLayer {
	if vlan {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{DstMAC: dst, SrcMAC: src, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 42, Priority: 3, Type: et},
		}
	}
	return []gopacket.SerializableLayer{&layers.Ethernet{DstMAC: dst, SrcMAC: src, EthernetType: et}}
}

type arpSpec struct {
	ethDst   net.HardwareAddr
	sha      net.HardwareAddr
	spa, tpa netip.Addr
	op       uint16
	vlan     bool
}

func arpFrame(t testing.TB, s arpSpec) []byte {
	if s.ethDst == nil {
		s.ethDst = layers.EthernetBroadcast
	}
	if s.sha == nil {
		s.sha = clientMAC
	}
	if s.op == 0 {
		s.op = layers.ARPRequest
	}
	ls := ethLayers(s.ethDst, s.sha, layers.EthernetTypeARP, s.vlan)
	ls = append(ls, &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: s.op, SourceHwAddress: s.sha, SourceProtAddress: s.spa.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: s.tpa.AsSlice(),
	})
	return serialize(t, ls...)
}

type nsSpec struct {
	ethSrc, ethDst net.HardwareAddr
	src, dst       netip.Addr
	target         netip.Addr
	hop            uint8
	noSLL          bool
	vlan           bool
}

func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 2, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

func multicastMAC(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

func nsFrame(t testing.TB, s nsSpec) []byte {
	if s.ethSrc == nil {
		s.ethSrc = clientMAC
	}
	if !s.target.IsValid() {
		s.target = vip6
	}
	if !s.src.IsValid() {
		s.src = client6
	}
	if !s.dst.IsValid() {
		s.dst = solicitedNode(s.target)
	}
	if s.ethDst == nil {
		s.ethDst = multicastMAC(s.dst)
	}
	if s.hop == 0 {
		s.hop = 255
	}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: s.hop, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: s.target.AsSlice()}
	if !s.noSLL {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: s.ethSrc}}
	}
	ls := ethLayers(s.ethDst, s.ethSrc, layers.EthernetTypeIPv6, s.vlan)
	return serialize(t, append(ls, ip, icmp, ns)...)
}

// answer runs Answer on a copy of frame with room to spare.
func answer(r *Responder, frame []byte, port int) ([]byte, bool) {
	buf := make([]byte, len(frame)+64)
	copy(buf[8:], frame)
	n, ok := r.Answer(buf, 8, len(frame), port)
	if !ok {
		if !bytes.Equal(buf[8:8+len(frame)], frame) {
			panic("Answer changed a frame it did not answer")
		}
		return nil, false
	}
	return buf[8 : 8+n], true
}

// checkReply decodes an answered frame with gopacket and checks it is a
// valid ARP reply or neighbour advertisement from port p of r for one of
// its VIPs. It returns a description of the first problem.
func checkReply(r *Responder, frame []byte, port int) error {
	p := &r.ports[port]
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil || !bytes.Equal(eth.SrcMAC, p.mac[:]) {
		return fmt.Errorf("Ethernet source %v, want the port's %x", eth, p.mac)
	}
	if a, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); a != nil {
		if a.Operation != layers.ARPReply {
			return fmt.Errorf("ARP op %d, want reply", a.Operation)
		}
		if !bytes.Equal(a.SourceHwAddress, p.mac[:]) {
			return fmt.Errorf("ARP sender MAC %x", a.SourceHwAddress)
		}
		if _, ok := p.v4[[4]byte(a.SourceProtAddress)]; !ok {
			return fmt.Errorf("ARP sender %v is not a VIP of port %d", net.IP(a.SourceProtAddress), port)
		}
		if !bytes.Equal(eth.DstMAC, a.DstHwAddress) || eth.DstMAC[0]&1 != 0 {
			return fmt.Errorf("ARP reply to %x, target hw %x", eth.DstMAC, a.DstHwAddress)
		}
		return nil
	}
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if ip == nil || icmp == nil || na == nil {
		return fmt.Errorf("neither an ARP reply nor an NA: %v", pkt)
	}
	if ip.HopLimit != 255 || ip.Length != naLen {
		return fmt.Errorf("NA hop limit %d, payload length %d", ip.HopLimit, ip.Length)
	}
	if _, ok := p.v6[[16]byte(ip.SrcIP)]; !ok || !ip.SrcIP.Equal(na.TargetAddress) {
		return fmt.Errorf("NA from %v for %v, want from a VIP for itself", ip.SrcIP, na.TargetAddress)
	}
	if !na.Override() || na.Router() {
		return fmt.Errorf("NA flags %#x", na.Flags)
	}
	if allN := net.ParseIP("ff02::1"); ip.DstIP.Equal(allN) != !na.Solicited() {
		return fmt.Errorf("NA to %v with Solicited=%v", ip.DstIP, na.Solicited())
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, p.mac[:]) {
		return fmt.Errorf("NA options %v", na.Options)
	}
	// The checksum, recomputed by gopacket.
	ic := *icmp
	if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{ComputeChecksums: true}, &ic, gopacket.Payload(icmp.Payload)); err != nil {
		return err
	}
	if got := binary.BigEndian.Uint16(b.Bytes()[2:4]); got != icmp.Checksum {
		return fmt.Errorf("NA checksum %#04x, gopacket computes %#04x", icmp.Checksum, got)
	}
	return nil
}

func TestAnswerARP(t *testing.T) {
	r := testResponder()
	for _, vlan := range []bool{false, true} {
		for _, dst := range []net.HardwareAddr{layers.EthernetBroadcast, rPorts[0].MAC[:]} {
			req := arpFrame(t, arpSpec{ethDst: dst, spa: client4, tpa: vip4, vlan: vlan})
			rep, ok := answer(r, req, 0)
			if !ok {
				t.Fatalf("vlan %v, to %x: not answered", vlan, dst)
			}
			if len(rep) != len(req) {
				t.Errorf("reply length %d, request %d", len(rep), len(req))
			}
			if err := checkReply(r, rep, 0); err != nil {
				t.Fatal(err)
			}
			pkt := gopacket.NewPacket(rep, layers.LayerTypeEthernet, gopacket.Default)
			a := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !bytes.Equal(a.SourceProtAddress, vip4.AsSlice()) || !bytes.Equal(a.DstProtAddress, client4.AsSlice()) ||
				!bytes.Equal(a.DstHwAddress, clientMAC) {
				t.Errorf("ARP reply %v", a)
			}
			if d := pkt.Layer(layers.LayerTypeDot1Q); (d != nil) != vlan || (vlan && d.(*layers.Dot1Q).VLANIdentifier != 42) {
				t.Errorf("VLAN tag: %v, want %v", d, vlan)
			}
		}
	}
	// The second VIP is answered on port 1 only.
	if rep, ok := answer(r, arpFrame(t, arpSpec{spa: client4, tpa: vip4b}), 1); !ok {
		t.Error("VIP of port 1 not answered on port 1")
	} else if err := checkReply(r, rep, 1); err != nil {
		t.Error(err)
	}
	// ARP probes (RFC 5227, sender 0.0.0.0) are answered, to the prober.
	if rep, ok := answer(r, arpFrame(t, arpSpec{spa: netip.IPv4Unspecified(), tpa: vip4}), 0); !ok {
		t.Error("ARP probe not answered")
	} else if err := checkReply(r, rep, 0); err != nil {
		t.Error(err)
	}
}

func TestAnswerARPNot(t *testing.T) {
	r := testResponder()
	req := arpFrame(t, arpSpec{spa: client4, tpa: vip4})
	cases := map[string][]byte{
		"not a VIP":        arpFrame(t, arpSpec{spa: client4, tpa: netip.MustParseAddr("10.0.0.81")}),
		"reply":            arpFrame(t, arpSpec{spa: client4, tpa: vip4, op: layers.ARPReply}),
		"gratuitous":       arpFrame(t, arpSpec{spa: vip4, tpa: vip4}),
		"own frame":        arpFrame(t, arpSpec{sha: rPorts[0].MAC[:], spa: client4, tpa: vip4}),
		"unicast to other": arpFrame(t, arpSpec{ethDst: net.HardwareAddr{2, 9, 9, 9, 9, 9}, spa: client4, tpa: vip4}),
		"truncated":        req[:14+27],
		"ethernet only":    req[:14],
		"short ethernet":   req[:10],
	}
	bad := append([]byte(nil), req...)
	bad[14+5] = 16 // protocol address length
	cases["plen 16"] = bad
	for name, f := range cases {
		if _, ok := answer(r, f, 0); ok {
			t.Errorf("%s: answered", name)
		}
	}
	if _, ok := answer(r, req, 1); ok {
		t.Error("VIP of port 0 answered on port 1")
	}
	for _, port := range []int{-1, 2} {
		if _, ok := answer(r, req, port); ok {
			t.Errorf("answered on port %d", port)
		}
	}
	// Bad offsets and lengths are refused, not a panic.
	buf := append([]byte(nil), req...)
	for _, c := range [][2]int{{-1, 10}, {0, -1}, {0, len(buf) + 1}, {len(buf) + 1, 0}, {10, len(buf)}} {
		if _, ok := r.Answer(buf, c[0], c[1], 0); ok {
			t.Errorf("Answer(off %d, n %d) answered", c[0], c[1])
		}
	}
	var nilR *Responder
	if _, ok := nilR.Answer(buf, 0, len(buf), 0); ok {
		t.Error("nil Responder answered")
	}
}

func TestAnswerNS(t *testing.T) {
	r := testResponder()
	for _, vlan := range []bool{false, true} {
		for _, s := range []nsSpec{
			{vlan: vlan}, // to the solicited-node group
			{vlan: vlan, dst: vip6, ethDst: rPorts[0].MAC[:]}, // unicast (NUD)
			{vlan: vlan, noSLL: true},
		} {
			req := nsFrame(t, s)
			rep, ok := answer(r, req, 0)
			if !ok {
				t.Fatalf("%+v: not answered", s)
			}
			if err := checkReply(r, rep, 0); err != nil {
				t.Fatalf("%+v: %v", s, err)
			}
			pkt := gopacket.NewPacket(rep, layers.LayerTypeEthernet, gopacket.Default)
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			na := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if !bytes.Equal(eth.DstMAC, clientMAC) || !ip.DstIP.Equal(client6.AsSlice()) || !na.Solicited() {
				t.Errorf("NA to %x %v solicited %v, want to the solicitor", eth.DstMAC, ip.DstIP, na.Solicited())
			}
			if d := pkt.Layer(layers.LayerTypeDot1Q); (d != nil) != vlan {
				t.Errorf("VLAN tag %v, want %v", d, vlan)
			}
		}
	}
	// Duplicate address detection: from ::, no source link-layer option;
	// the answer goes to all-nodes without the Solicited flag.
	rep, ok := answer(r, nsFrame(t, nsSpec{src: netip.IPv6Unspecified(), noSLL: true}), 0)
	if !ok {
		t.Fatal("DAD probe not answered")
	}
	if err := checkReply(r, rep, 0); err != nil {
		t.Fatal(err)
	}
	pkt := gopacket.NewPacket(rep, layers.LayerTypeEthernet, gopacket.Default)
	if eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(eth.DstMAC, allNodesMAC[:]) {
		t.Errorf("DAD answer to %x, want all-nodes", eth.DstMAC)
	}
}

func TestAnswerNSNot(t *testing.T) {
	r := testResponder()
	req := nsFrame(t, nsSpec{})
	eh := 14
	badSum := append([]byte(nil), req...)
	badSum[eh+40+2] ^= 0x40
	badCode := append([]byte(nil), req...)
	badCode[eh+40+1] = 1 // (checksum now wrong too; the code check comes first)
	zeroOpt := append([]byte(nil), req...)
	zeroOpt[eh+40+24+1] = 0
	cases := map[string][]byte{
		"not a VIP":          nsFrame(t, nsSpec{target: netip.MustParseAddr("2001:db8::81")}),
		"hop limit 64":       nsFrame(t, nsSpec{hop: 64}),
		"DAD with SLL":       nsFrame(t, nsSpec{src: netip.IPv6Unspecified()}),
		"DAD to the target":  nsFrame(t, nsSpec{src: netip.IPv6Unspecified(), noSLL: true, dst: vip6, ethDst: rPorts[0].MAC[:]}),
		"wrong group":        nsFrame(t, nsSpec{dst: netip.MustParseAddr("ff02::1")}),
		"multicast source":   nsFrame(t, nsSpec{src: netip.MustParseAddr("ff02::2")}),
		"unicast to another": nsFrame(t, nsSpec{dst: vip6, ethDst: net.HardwareAddr{2, 9, 9, 9, 9, 9}}),
		"own frame":          nsFrame(t, nsSpec{ethSrc: rPorts[0].MAC[:]}),
		"bad checksum":       badSum,
		"bad code":           badCode,
		"zero-length option": zeroOpt,
		"truncated":          req[:len(req)-1],
		"no ICMPv6 body":     req[:eh+40+20],
		"no IPv6 header":     req[:eh+39],
	}
	for name, f := range cases {
		if _, ok := answer(r, f, 0); ok {
			t.Errorf("%s: answered", name)
		}
	}
	if _, ok := answer(r, req, 1); ok {
		t.Error("VIP of port 0 answered on port 1")
	}
	// An NA (type 136) is not answered.
	pkt := gopacket.NewPacket(checkNA(t, r), layers.LayerTypeEthernet, gopacket.Default)
	if _, ok := answer(r, pkt.Data(), 0); ok {
		t.Error("an NA was answered")
	}
	// Without room for the longer NA the frame is left alone.
	short := nsFrame(t, nsSpec{noSLL: true}) // 78 bytes; the NA needs 86
	buf := append([]byte(nil), short...)
	if _, ok := r.Answer(buf, 0, len(buf), 0); ok {
		t.Error("answered without room for the NA")
	}
	if !bytes.Equal(buf, short) {
		t.Error("frame changed though not answered")
	}
}

// checkNA returns an NA frame the responder produced.
func checkNA(t *testing.T, r *Responder) []byte {
	rep, ok := answer(r, nsFrame(t, nsSpec{}), 0)
	if !ok {
		t.Fatal("NS not answered")
	}
	return rep
}

func TestAnswerNoAlloc(t *testing.T) {
	r := testResponder()
	arp := arpFrame(t, arpSpec{spa: client4, tpa: vip4})
	ns := nsFrame(t, nsSpec{vlan: true})
	buf := make([]byte, 256)
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, arp)
		if _, ok := r.Answer(buf, 0, len(arp), 0); !ok {
			panic("ARP not answered")
		}
		copy(buf, ns)
		if _, ok := r.Answer(buf, 0, len(ns), 0); !ok {
			panic("NS not answered")
		}
	}); n != 0 {
		t.Fatalf("Answer allocates %.1f times per run", n)
	}
}

func TestAnnouncements(t *testing.T) {
	r := testResponder()
	frames := r.Announcements(0, make([]byte, 0, 16))
	if len(frames) != 2 {
		t.Fatalf("port 0: %d frames, want 2 (one VIPv4, one VIPv6)", len(frames))
	}
	p := rPorts[0].MAC[:]
	pkt := gopacket.NewPacket(frames[0], layers.LayerTypeEthernet, gopacket.Default)
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if a == nil || a.Operation != layers.ARPRequest || !bytes.Equal(eth.DstMAC, layers.EthernetBroadcast) || !bytes.Equal(eth.SrcMAC, p) ||
		!bytes.Equal(a.SourceHwAddress, p) || !bytes.Equal(a.SourceProtAddress, vip4.AsSlice()) || !bytes.Equal(a.DstProtAddress, vip4.AsSlice()) {
		t.Errorf("gratuitous ARP: %v", pkt)
	}
	if len(frames[0]) != 60 {
		t.Errorf("gratuitous ARP is %d bytes, want 60", len(frames[0]))
	}
	if err := checkReply(r, frames[1], 0); err != nil {
		t.Errorf("unsolicited NA: %v", err)
	}
	pkt = gopacket.NewPacket(frames[1], layers.LayerTypeEthernet, gopacket.Default)
	ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	na := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if !ip.DstIP.Equal(net.ParseIP("ff02::1")) || na.Solicited() || !na.Override() ||
		!bytes.Equal(pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC, allNodesMAC[:]) {
		t.Errorf("unsolicited NA: %v", pkt)
	}
	if got := r.Announcements(1, nil); len(got) != 1 {
		t.Errorf("port 1: %d frames, want 1", len(got))
	}
	if r.Announcements(2, nil) != nil || r.Announcements(-1, nil) != nil {
		t.Error("frames for a port out of range")
	}
	// Frames do not overlap: appending to one does not change the next.
	f := r.Announcements(0, nil)
	n1 := append([]byte(nil), f[1]...)
	_ = append(f[0], 0xee)
	if !bytes.Equal(f[1], n1) {
		t.Error("announcement frames share capacity")
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzAnswer from the test frames")

// fuzzSeeds are the frames of the unit tests, as FuzzAnswer inputs.
func fuzzSeeds(t testing.TB) [][]byte {
	return [][]byte{
		arpFrame(t, arpSpec{spa: client4, tpa: vip4}),
		arpFrame(t, arpSpec{spa: client4, tpa: vip4, vlan: true}),
		arpFrame(t, arpSpec{spa: client4, tpa: vip4b}),
		arpFrame(t, arpSpec{spa: client4, tpa: vip4, op: layers.ARPReply}),
		arpFrame(t, arpSpec{spa: netip.IPv4Unspecified(), tpa: vip4}),
		nsFrame(t, nsSpec{}),
		nsFrame(t, nsSpec{vlan: true}),
		nsFrame(t, nsSpec{dst: vip6, ethDst: rPorts[0].MAC[:]}),
		nsFrame(t, nsSpec{src: netip.IPv6Unspecified(), noSLL: true}),
		nsFrame(t, nsSpec{target: netip.MustParseAddr("2001:db8::81")}),
		{0xff, 0xff},
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzAnswer")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAnswer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, f := range fuzzSeeds(t) {
		for _, port := range []uint8{0, 1} {
			s := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\nuint8(%d)\n", f, 64, port)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d-port%d", i, port)), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzAnswer: Answer never panics, leaves unanswered frames untouched, and
// every frame it answers decodes (gopacket) as a valid ARP reply or
// neighbour advertisement from the port for one of its VIPs.
func FuzzAnswer(f *testing.F) {
	r := testResponder()
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(64), uint8(0))
	}
	f.Fuzz(func(t *testing.T, frame []byte, room, port uint8) {
		buf := make([]byte, len(frame)+int(room))
		copy(buf, frame)
		p := int(port % 3) // 2 is out of range
		n, ok := r.Answer(buf, 0, len(frame), p)
		if !ok {
			if !bytes.Equal(buf[:len(frame)], frame) {
				t.Fatal("unanswered frame changed")
			}
			return
		}
		if n <= 0 || n > len(buf) {
			t.Fatalf("reply length %d, buffer %d", n, len(buf))
		}
		if err := checkReply(r, buf[:n], p); err != nil {
			t.Fatalf("answer to %x: %v", frame, err)
		}
	})
}

// TestRequester: the asker's address and MAC come back out of the replies
// Answer makes, and nothing comes out of a reply to a probe.
func TestRequester(t *testing.T) {
	r := testResponder()
	c4 := [16]byte(client4.As16())
	c6 := [16]byte(client6.As16())
	for _, c := range []struct {
		name string
		req  []byte
		v6   bool
		addr [16]byte
		ok   bool
	}{
		{"ARP", arpFrame(t, arpSpec{spa: client4, tpa: vip4}), false, c4, true},
		{"ARP VLAN", arpFrame(t, arpSpec{spa: client4, tpa: vip4, vlan: true}), false, c4, true},
		{"ARP probe", arpFrame(t, arpSpec{spa: netip.IPv4Unspecified(), tpa: vip4}), false, [16]byte{}, false},
		{"NS", nsFrame(t, nsSpec{}), true, c6, true},
		{"NS VLAN", nsFrame(t, nsSpec{vlan: true}), true, c6, true},
	} {
		rep, ok := answer(r, c.req, 0)
		if !ok {
			t.Fatalf("%s: not answered", c.name)
		}
		v6, addr, mac, ok := Requester(rep)
		if ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if v6 != c.v6 || addr != c.addr || !bytes.Equal(mac[:], clientMAC) {
			t.Errorf("%s: %v %x %x, want %v %x %x", c.name, v6, addr, mac, c.v6, c.addr, clientMAC)
		}
	}
	if _, _, _, ok := Requester(arpFrame(t, arpSpec{spa: client4, tpa: vip4})); ok {
		t.Error("a request (not a reply) gave a requester")
	}
	if _, _, _, ok := Requester(nil); ok {
		t.Error("an empty frame gave a requester")
	}
}
