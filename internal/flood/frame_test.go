package flood

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func mustRange(t testing.TB, s string) Range {
	t.Helper()
	r, err := ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// csum is an independent RFC 1071 checksum over the concatenation of bs.
func csum(bs ...[]byte) uint16 {
	var all []byte
	for _, b := range bs {
		all = append(all, b...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint64
	for i := 0; i < len(all); i += 2 {
		s += uint64(all[i])<<8 | uint64(all[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func pseudo(src, dst netip.Addr, proto byte, n int) []byte {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	if src.Is4() {
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	return append(b, 0, 0, byte(n>>8), byte(n), 0, 0, 0, proto)
}

// decoded is one built frame, decoded by gopacket and checked against an
// independent checksum and against gopacket's own re-serialisation.
type decoded struct {
	src, dst     netip.Addr
	sport, dport uint16
	ipid         uint16
	tcp          *layers.TCP
	udp          *layers.UDP
}

func decode(t *testing.T, f []byte) decoded {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, testSrcMAC) || !bytes.Equal(eth.DstMAC, testDstMAC) {
		t.Fatalf("MACs %s -> %s", eth.SrcMAC, eth.DstMAC)
	}
	var d decoded
	var ipl gopacket.SerializableLayer
	var l4start int
	var proto byte
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		d.src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
		d.dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		d.ipid = ip4.Id
		if ip4.TTL != ttl || ip4.IHL != 5 || ip4.Flags != layers.IPv4DontFragment || ip4.FragOffset != 0 || int(ip4.Length) != len(f)-ethLen {
			t.Fatalf("IPv4 header %+v", ip4)
		}
		if c := csum(f[ethLen : ethLen+ip4Len]); c != 0 {
			t.Fatalf("IPv4 header checksum %#04x is wrong (sum %#04x)", ip4.Checksum, c)
		}
		ipl, l4start, proto = ip4, ethLen+ip4Len, byte(ip4.Protocol)
	} else {
		ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		d.src, _ = netip.AddrFromSlice(ip6.SrcIP)
		d.dst, _ = netip.AddrFromSlice(ip6.DstIP)
		if ip6.HopLimit != ttl || ip6.FlowLabel != 0 || int(ip6.Length) != len(f)-ethLen-ip6Len {
			t.Fatalf("IPv6 header %+v", ip6)
		}
		ipl, l4start, proto = ip6, ethLen+ip6Len, byte(ip6.NextHeader)
	}
	l4 := f[l4start:]
	if c := csum(pseudo(d.src, d.dst, proto, len(l4)), l4); c != 0 {
		t.Fatalf("L4 checksum wrong (sum %#04x) in % x", c, f)
	}
	// gopacket's own serialisation with computed checksums gives the
	// same bytes.
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	var err error
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		d.tcp, d.sport, d.dport = tcp, uint16(tcp.SrcPort), uint16(tcp.DstPort)
		tcp.SetNetworkLayerForChecksum(ipl.(gopacket.NetworkLayer))
		err = gopacket.SerializeLayers(buf, opts, eth, ipl, tcp)
	} else {
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		d.udp, d.sport, d.dport = udp, uint16(udp.SrcPort), uint16(udp.DstPort)
		udp.SetNetworkLayerForChecksum(ipl.(gopacket.NetworkLayer))
		err = gopacket.SerializeLayers(buf, opts, eth, ipl, udp, gopacket.Payload(udp.Payload))
	}
	if err != nil {
		t.Fatal(err)
	}
	// (gopacket pads Ethernet frames to 60 bytes; the kernel would too on
	// a real wire.)
	if out := buf.Bytes(); !bytes.Equal(out[:min(len(out), len(f))], f) || len(out) > max(len(f), 60) ||
		len(out) > len(f) && bytes.Count(out[len(f):], []byte{0}) != len(out)-len(f) {
		t.Fatalf("gopacket re-serialises\n% x\nas\n% x", f, buf.Bytes())
	}
	return d
}

func TestFrames(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		dst  string
		kind Kind
		size int
	}{
		{"syn4", "10.0.0.0/8", "192.0.2.1:80", KindSYN, 0},
		{"synack4", "10.0.0.250-10.0.1.20", "192.0.2.1:443", KindSYNACKSeq, 0},
		{"udp4", "172.16.0.0/12", "192.0.2.1:7777", KindUDP, 99},
		{"udp4-empty", "172.16.0.0/12", "192.0.2.1:7777", KindUDP, 0},
		{"syn6", "2001:db8::ffff:ffff:ffff:fff0-2001:db8:0:1::f", "[2001:db8:1::1]:80", KindSYN, 0},
		{"synack6", "2001:db8::/64", "[2001:db8:1::1]:8080", KindSYNACKSeq, 0},
		{"udp6", "2001:db8::/32", "[2001:db8:1::1]:7777", KindUDP, 1400},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Dev: "x", Src: mustRange(t, c.src), SrcNum: 20, Dst: netip.MustParseAddrPort(c.dst),
				Kind: c.kind, Size: c.size, Packets: 1, DstMAC: testDstMAC, Seed: 7}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g, tmpl := newGen(&cfg, testSrcMAC)
			if len(tmpl) != frameLen(&cfg) {
				t.Fatalf("template %d bytes, frameLen %d", len(tmpl), frameLen(&cfg))
			}
			f := bytes.Clone(tmpl)
			var lastSeq uint32
			var lastSrc netip.Addr
			var lastPort uint16
			flow := 0
			for k := range 100 {
				g.fill(f)
				d := decode(t, f)
				if d.dst != cfg.Dst.Addr() || d.dport != cfg.Dst.Port() {
					t.Fatalf("packet %d to %s:%d", k, d.dst, d.dport)
				}
				if cfg.Src.Is4() && d.ipid != uint16(k+1) {
					t.Fatalf("packet %d: IP id %d", k, d.ipid)
				}
				ack := c.kind == KindSYNACKSeq && k%2 == 1
				if ack {
					// The ACK of the SYN before it.
					if d.src != lastSrc || d.sport != lastPort || d.tcp.Seq != lastSeq+1 || !d.tcp.ACK || d.tcp.SYN {
						t.Fatalf("packet %d: %s:%d seq %d flags ack=%v syn=%v after a SYN from %s:%d seq %d",
							k, d.src, d.sport, d.tcp.Seq, d.tcp.ACK, d.tcp.SYN, lastSrc, lastPort, lastSeq)
					}
				} else {
					want := cfg.Src.Nth(uint64(flow % 20))
					if d.src != want || d.sport != uint16(1024+flow%20) {
						t.Fatalf("packet %d (flow %d) from %s:%d, want %s:%d", k, flow, d.src, d.sport, want, 1024+flow%20)
					}
					flow++
				}
				if d.tcp != nil {
					if d.tcp.Window != 65535 || d.tcp.DataOffset != 5 || len(d.tcp.Payload) != 0 ||
						d.tcp.FIN || d.tcp.RST || d.tcp.PSH || d.tcp.URG {
						t.Fatalf("packet %d: TCP %+v", k, d.tcp)
					}
					if !ack && (!d.tcp.SYN || d.tcp.ACK || d.tcp.Ack != 0) {
						t.Fatalf("packet %d: not a bare SYN: %+v", k, d.tcp)
					}
					lastSeq = d.tcp.Seq
				} else {
					if len(d.udp.Payload) != c.size || int(d.udp.Length) != udpLen+c.size || d.udp.Checksum == 0 {
						t.Fatalf("packet %d: UDP %+v", k, d.udp)
					}
				}
				lastSrc, lastPort = d.src, d.sport
			}
		})
	}
}

func TestFramesPortsAndRandom(t *testing.T) {
	base := Config{Dev: "x", Src: mustRange(t, "10.1.0.0/16"), SrcNum: 3, Dst: netip.MustParseAddrPort("192.0.2.1:80"),
		Kind: KindSYN, Packets: 1, DstMAC: testDstMAC, Sport: PortRange{2000, 2001}, Seed: 1}
	g, tmpl := newGen(&base, testSrcMAC)
	f := bytes.Clone(tmpl)
	type tuple struct {
		src  netip.Addr
		port uint16
	}
	var got []tuple
	seqs := map[uint32]bool{}
	for range 7 {
		g.fill(f)
		d := decode(t, f)
		got = append(got, tuple{d.src, d.sport})
		seqs[d.tcp.Seq] = true
	}
	a := netip.MustParseAddr
	want := []tuple{{a("10.1.0.0"), 2000}, {a("10.1.0.1"), 2000}, {a("10.1.0.2"), 2000},
		{a("10.1.0.0"), 2001}, {a("10.1.0.1"), 2001}, {a("10.1.0.2"), 2001}, {a("10.1.0.0"), 2000}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("in order: flow %d from %v, want %v", i, got[i], want[i])
		}
	}
	if len(seqs) != 7 {
		t.Errorf("ISNs repeat: %v", seqs)
	}

	rnd := base
	rnd.Random, rnd.SrcNum, rnd.Sport = true, 50, PortRange{3000, 3009}
	g, tmpl = newGen(&rnd, testSrcMAC)
	f = bytes.Clone(tmpl)
	srcs, ports := map[netip.Addr]int{}, map[uint16]int{}
	for range 2000 {
		g.fill(f)
		d := decode(t, f)
		if off := binary.BigEndian.Uint32(d.src.AsSlice()) - binary.BigEndian.Uint32(a("10.1.0.0").AsSlice()); off >= 50 {
			t.Fatalf("random source %s outside the first 50", d.src)
		}
		if d.sport < 3000 || d.sport > 3009 {
			t.Fatalf("random port %d outside 3000-3009", d.sport)
		}
		srcs[d.src]++
		ports[d.sport]++
	}
	if len(srcs) != 50 || len(ports) != 10 {
		t.Errorf("random: %d sources and %d ports used of 50 and 10", len(srcs), len(ports))
	}
	// In-order sequences are not what random gives.
	if srcs[a("10.1.0.0")] > 100 {
		t.Errorf("random: 10.1.0.0 used %d times of 2000", srcs[a("10.1.0.0")])
	}
}

func TestFillAllocs(t *testing.T) {
	for _, k := range []Kind{KindSYN, KindSYNACKSeq, KindUDP} {
		cfg := Config{Dev: "x", Src: mustRange(t, "2001:db8::/64"), Dst: netip.MustParseAddrPort("[2001:db8:1::1]:80"),
			Kind: k, Packets: 1, DstMAC: testDstMAC, Random: true}
		g, tmpl := newGen(&cfg, testSrcMAC)
		if n := testing.AllocsPerRun(1000, func() { g.fill(tmpl) }); n != 0 {
			t.Errorf("%s: fill allocates %.1f times per frame", k, n)
		}
	}
}

func BenchmarkFill(b *testing.B) {
	cfg := Config{Dev: "x", Src: mustRange(b, "10.0.0.0/8"), Dst: netip.MustParseAddrPort("192.0.2.1:80"),
		Kind: KindSYN, Packets: 1, DstMAC: testDstMAC}
	g, tmpl := newGen(&cfg, testSrcMAC)
	for b.Loop() {
		g.fill(tmpl)
	}
}
