package forward

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// MAC addresses of the test network.
var (
	macClient   = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macDirector = [6]byte{0x02, 0, 0, 0, 0, 0xd1}
	macServer   = [6]byte{0x02, 0, 0, 0, 0, 0x5e}
)

// gueTestPort is the tunnel port of GUE real servers in the tests (not a
// port gopacket decodes as something else).
const gueTestPort = 6080

func addr16(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// spec describes a test packet compactly; frame turns it into a
// packet.Frame for the builders.
type spec struct {
	vlan         bool
	src, dst     string // the family comes from the addresses
	proto        packet.Proto
	sport, dport uint16
	ttl, tos     uint8
	id           uint16
	df           bool
	mf           bool   // IPv4 MF / IPv6 fragment header with M set
	fragOff      uint16 // bytes; with fragOff > 0 the transport header is not built (payload only)
	frag6        bool   // IPv6: add a fragment header
	fragID       uint32
	ipOpts       []byte
	hopByHop     bool // IPv6: a hop-by-hop header before the transport header
	tcpOpts      []byte
	tcpFlags     packet.TCPFlags
	udpNoCsum    bool
	icmpType     uint8
	icmpCode     uint8
	icmpRest     uint32
	payload      []byte
	ethDst       *[6]byte // default macDirector
}

func (s spec) v6() bool { return netip.MustParseAddr(s.src).Is6() }

func (s spec) frame() *packet.Frame {
	fr := &packet.Frame{Ethernet: packet.EthernetFields{Dst: macDirector, Src: macClient, HasVLAN: s.vlan, VLAN: 0x2064}}
	if s.ethDst != nil {
		fr.Ethernet.Dst = *s.ethDst
	}
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	if s.v6() {
		h := &packet.IPv6Fields{TrafficClass: s.tos, FlowLabel: 0x12345, HopLimit: s.ttl, Src: src, Dst: dst, NextHeader: s.proto}
		if s.hopByHop {
			h.ExtHeaders = append(h.ExtHeaders, packet.IPv6ExtHeader{Type: packet.ProtoHopByHop, Body: []byte{5, 2, 0, 0, 1, 0}})
		}
		if s.frag6 {
			h.ExtHeaders = append(h.ExtHeaders, packet.IPv6FragmentHeader(s.fragOff, s.mf, s.fragID))
		}
		fr.IPv6 = h
	} else {
		fr.IPv4 = &packet.IPv4Fields{TOS: s.tos, ID: s.id, DF: s.df, MF: s.mf, FragOffset: s.fragOff, TTL: s.ttl,
			Protocol: s.proto, Src: src, Dst: dst, Options: s.ipOpts}
	}
	fr.Payload = s.payload
	if s.fragOff > 0 {
		return fr
	}
	switch s.proto {
	case packet.ProtoTCP:
		fr.TCP = &packet.TCPFields{SrcPort: s.sport, DstPort: s.dport, Seq: 0x01020304, Ack: 0xa0b0c0d0,
			Flags: s.tcpFlags | packet.TCPAck, Window: 29200, Options: s.tcpOpts}
	case packet.ProtoUDP:
		fr.UDP = &packet.UDPFields{SrcPort: s.sport, DstPort: s.dport, NoChecksum: s.udpNoCsum}
	case packet.ProtoSCTP:
		fr.SCTP = &packet.SCTPFields{SrcPort: s.sport, DstPort: s.dport, VerificationTag: 0xdeadbeef,
			Chunks: []packet.SCTPChunk{{Type: packet.SCTPData, Flags: 3, Value: []byte("0123456789abcdefghij")}}}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		fr.ICMP = &packet.ICMPFields{Type: s.icmpType, Code: s.icmpCode, Rest: s.icmpRest}
	}
	return fr
}

// bytes builds the frame without headroom.
func (s spec) bytes() []byte { return packet.AppendFrame(nil, s.frame()) }

// buf builds the frame behind link.Headroom bytes of headroom.
func (s spec) buf() (buf []byte, off, n int) { return withHeadroom(s.bytes()) }

// withHeadroom copies frame behind link.Headroom bytes of headroom.
func withHeadroom(frame []byte) (buf []byte, off, n int) {
	buf = make([]byte, link.Headroom+len(frame))
	copy(buf[link.Headroom:], frame)
	return buf, link.Headroom, len(frame)
}

// decode decodes frame with packet.Decode and fails the test unless it is OK.
func decode(t testing.TB, frame []byte) packet.Parsed {
	t.Helper()
	var p packet.Parsed
	if r := packet.Decode(frame, &p); r != packet.OK {
		t.Fatalf("packet.Decode: %v\n%s", r, hex.Dump(frame))
	}
	return p
}

// checkParsed fails the test unless p describes frame exactly as Decode does.
func checkParsed(t testing.TB, frame []byte, p *packet.Parsed) {
	t.Helper()
	if want := decode(t, frame); *p != want {
		t.Errorf("Parsed not updated to match the frame:\nhave %+v\nwant %+v", *p, want)
	}
}

// equalBytes fails the test with a hex dump of both when have != want.
func equalBytes(t testing.TB, what string, have, want []byte) {
	t.Helper()
	if !bytes.Equal(have, want) {
		t.Errorf("%s differs:\nhave\n%swant\n%s", what, hex.Dump(have), hex.Dump(want))
	}
}

// verifyChecksums decodes frame with gopacket and checks every checksum in
// it (IPv4 header, TCP, UDP, SCTP, ICMP, ICMPv6, and those of a packet
// tunnelled in IPIP or GUE) by letting gopacket's own serialisers recompute
// it. It stops at an ICMP header: the packet quoted in an ICMP error is cut
// short and its checksums do not add up. It reports how many checksums it
// verified.
func verifyChecksums(t testing.TB, frame []byte) int {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode the frame: %v\n%s", el.Error(), hex.Dump(frame))
	}
	return verifyLayers(t, pkt.Layers())
}

func verifyLayers(t testing.TB, ls []gopacket.Layer) int {
	t.Helper()
	var netLayer gopacket.NetworkLayer
	n := 0
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			netLayer = l
			reserialize(t, "IPv4 header", l, l.Contents, l.Payload)
			n++
		case *layers.IPv6:
			netLayer = l
		case *layers.TCP:
			if err := l.SetNetworkLayerForChecksum(netLayer); err != nil {
				t.Fatal(err)
			}
			reserialize(t, "TCP", l, l.Contents, l.Payload)
			n++
		case *layers.UDP:
			_, v4 := netLayer.(*layers.IPv4)
			if l.Checksum != 0 || !v4 {
				if err := l.SetNetworkLayerForChecksum(netLayer); err != nil {
					t.Fatal(err)
				}
				reserialize(t, "UDP", l, l.Contents, l.Payload)
				n++
			}
			if l.DstPort == gueTestPort {
				return n + verifyGUE(t, l.Payload)
			}
		case *layers.SCTP:
			reserialize(t, "SCTP", l, l.Contents, l.Payload)
			n++
		case *layers.ICMPv4:
			reserialize(t, "ICMPv4", l, l.Contents, l.Payload)
			return n + 1
		case *layers.ICMPv6:
			if err := l.SetNetworkLayerForChecksum(netLayer); err != nil {
				t.Fatal(err)
			}
			reserialize(t, "ICMPv6", l, l.Contents, l.Payload)
			return n + 1
		}
	}
	return n
}

// verifyGUE checks the GUE header in front of a tunnelled packet and the
// checksums of that packet.
func verifyGUE(t testing.TB, b []byte) int {
	t.Helper()
	if len(b) < 5 || b[0] != 0 || b[2] != 0 || b[3] != 0 {
		t.Fatalf("bad GUE header % x", b[:min(len(b), 4)])
	}
	lt := layers.LayerTypeIPv4
	if b[4]>>4 == 6 {
		lt = layers.LayerTypeIPv6
	}
	if want := map[gopacket.LayerType]uint8{layers.LayerTypeIPv4: 4, layers.LayerTypeIPv6: 41}[lt]; b[1] != want {
		t.Errorf("GUE protocol %d, want %d", b[1], want)
	}
	pkt := gopacket.NewPacket(b[4:], lt, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode the GUE payload: %v", el.Error())
	}
	return verifyLayers(t, pkt.Layers())
}

// reserialize serialises layer l over payload with gopacket, letting it
// compute the checksum, and fails the test unless the header comes out as
// contents (the header as found in the frame).
func reserialize(t testing.TB, what string, l gopacket.SerializableLayer, contents, payload []byte) {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, l, gopacket.Payload(payload)); err != nil {
		t.Fatalf("%s: gopacket serialise: %v", what, err)
	}
	got := buf.Bytes()[:len(contents)]
	if _, udp := l.(*layers.UDP); udp && got[6] == 0 && got[7] == 0 {
		// gopacket leaves a computed 0 as is; RFC 768 sends it as 0xFFFF.
		got[6], got[7] = 0xff, 0xff
	}
	if !bytes.Equal(got, contents) {
		t.Errorf("%s: header (checksum) wrong:\nin frame        % x\ngopacket makes % x", what, contents, got)
	}
}
