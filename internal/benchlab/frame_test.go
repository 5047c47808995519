package benchlab

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func testSpec() FrameSpec {
	src, _ := net.ParseMAC("02:00:00:00:00:01")
	dst, _ := net.ParseMAC("02:00:00:00:00:02")
	return FrameSpec{SrcMAC: src, DstMAC: dst, SrcIP: netip.MustParseAddr("10.0.0.2"), DstIP: netip.MustParseAddr("10.0.9.80"),
		FirstSrcPort: 10000, DstPort: 9, Count: 64}
}

// TestBuildUDPFramesGopacket decodes every frame with gopacket and
// re-serialises the decoded layers with gopacket's own length and checksum
// computation: the bytes must be the same.
func TestBuildUDPFramesGopacket(t *testing.T) {
	spec := testSpec()
	frames, err := BuildUDPFrames(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 64 {
		t.Fatalf("%d frames; want 64", len(frames))
	}
	ports := map[layers.UDPPort]bool{}
	for i, f := range frames {
		if len(f) != 64 || cap(f) != 64 {
			t.Fatalf("frame %d: len %d cap %d; want 64, 64", i, len(f), cap(f))
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: gopacket: %v", i, el.Error())
		}
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if eth == nil || ip == nil || udp == nil {
			t.Fatalf("frame %d: layers %v", i, p.Layers())
		}
		if !bytes.Equal(eth.SrcMAC, spec.SrcMAC) || !bytes.Equal(eth.DstMAC, spec.DstMAC) {
			t.Errorf("frame %d: MACs %v > %v", i, eth.SrcMAC, eth.DstMAC)
		}
		if ip.SrcIP.String() != "10.0.0.2" || ip.DstIP.String() != "10.0.9.80" || ip.TTL != 64 || ip.Protocol != layers.IPProtocolUDP {
			t.Errorf("frame %d: IPv4 %v > %v ttl %d proto %v", i, ip.SrcIP, ip.DstIP, ip.TTL, ip.Protocol)
		}
		if udp.DstPort != 9 || int(udp.SrcPort) != 10000+i {
			t.Errorf("frame %d: UDP ports %d > %d", i, udp.SrcPort, udp.DstPort)
		}
		ports[udp.SrcPort] = true
		want := udp.Checksum
		ipSum := ip.Checksum
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			eth, ip, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatalf("frame %d: serialise: %v", i, err)
		}
		if !bytes.Equal(buf.Bytes(), f) {
			t.Errorf("frame %d: gopacket's re-encoding differs (IPv4 checksum %#04x, UDP checksum %#04x):\n got %x\nwant %x",
				i, ipSum, want, f, buf.Bytes())
		}
	}
	if len(ports) != 64 {
		t.Errorf("%d distinct source ports; want 64 (one flow per frame)", len(ports))
	}
}

func TestBuildUDPFramesSizes(t *testing.T) {
	spec := testSpec()
	spec.Size, spec.Count = 1514, 2
	frames, err := BuildUDPFrames(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(frames[1], layers.LayerTypeEthernet, gopacket.Default)
	if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp == nil || udp.Length != 1514-34 {
		t.Errorf("1514-byte frame: UDP %+v", udp)
	}
	bad := []struct {
		mod  func(*FrameSpec)
		want string
	}{
		{func(s *FrameSpec) { s.Size = 59 }, "size 59"},
		{func(s *FrameSpec) { s.Count = 0 }, "count 0"},
		{func(s *FrameSpec) { s.DstIP = netip.MustParseAddr("2001:db8::1") }, "want IPv4"},
		{func(s *FrameSpec) { s.SrcMAC = nil }, "MAC"},
		{func(s *FrameSpec) { s.FirstSrcPort = 65500 }, "source ports 65500..65563"},
	}
	for _, b := range bad {
		s := testSpec()
		b.mod(&s)
		if _, err := BuildUDPFrames(s); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("error %v; want one containing %q", err, b.want)
		}
	}
}
