package steer

import (
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vsd/vsd/internal/packet"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xb}
)

func eth() packet.EthernetFields { return packet.EthernetFields{Dst: macB, Src: macA} }

func ip4(src, dst netip.Addr) *packet.IPv4Fields {
	return &packet.IPv4Fields{TTL: 64, Src: src, Dst: dst}
}

func ip6(src, dst netip.Addr) *packet.IPv6Fields {
	return &packet.IPv6Fields{HopLimit: 64, Src: src, Dst: dst}
}

func ipOf(src, dst netip.Addr) (*packet.IPv4Fields, *packet.IPv6Fields) {
	if src.Is4() {
		return ip4(src, dst), nil
	}
	return nil, ip6(src, dst)
}

// l4Frame is a TCP, UDP or SCTP frame src:sp → dst:dp with a payload.
func l4Frame(proto uint8, src netip.Addr, sp uint16, dst netip.Addr, dp uint16) *packet.Frame {
	f := &packet.Frame{Ethernet: eth(), Payload: []byte("hello")}
	f.IPv4, f.IPv6 = ipOf(src, dst)
	switch proto {
	case protoTCP:
		f.TCP = &packet.TCPFields{SrcPort: sp, DstPort: dp, Flags: packet.TCPSyn, Window: 1000}
	case protoUDP:
		f.UDP = &packet.UDPFields{SrcPort: sp, DstPort: dp}
	case protoSCTP:
		f.SCTP = &packet.SCTPFields{SrcPort: sp, DstPort: dp, VerificationTag: 1,
			Chunks: []packet.SCTPChunk{{Type: 1, Value: make([]byte, 16)}}}
	}
	return f
}

func build(f *packet.Frame) []byte { return packet.AppendFrame(nil, f) }

// icmpFrame is an ICMP (ICMPv6 for IPv6 addresses) message src → dst
// quoting a TCP packet dst → src.
func icmpFrame(typ, code uint8, src, dst netip.Addr) []byte {
	inner := l4Frame(protoTCP, dst, 80, client, 1234)
	if !dst.Is4() {
		inner = l4Frame(protoTCP, dst, 80, cli6, 1234)
	}
	f := &packet.Frame{Ethernet: eth(), ICMP: &packet.ICMPFields{Type: typ, Code: code},
		Payload: packet.AppendPacket(nil, inner)}
	f.IPv4, f.IPv6 = ipOf(src, dst)
	return build(f)
}

// tunErr is an ICMP error (typ, code) from src to dst quoting quoted
// (an IP packet), cut to at most limit bytes (0: whole).
func tunErr(typ, code uint8, src, dst netip.Addr, quoted []byte, limit int) []byte {
	if limit > 0 && len(quoted) > limit {
		quoted = quoted[:limit]
	}
	f := &packet.Frame{Ethernet: eth(), IPv4: ip4(src, dst),
		ICMP: &packet.ICMPFields{Type: typ, Code: code}, Payload: quoted}
	return build(f)
}

// tunPacket is the director's tunnel packet dir4 → rs carrying a client's
// TCP packet to vip4: IPIP, or with gport != 0 UDP (to gport) + GUE.
// Options, when set, go into both IPv4 headers.
func tunPacket(rs netip.Addr, gport uint16, opts []byte) []byte {
	f := l4Frame(protoTCP, client, 1234, vip4, 80)
	f.IPv4.DF = true
	f.IPv4.Options = opts
	f.OuterIPv4 = ip4(dir4, rs)
	f.OuterIPv4.Options = opts
	if gport != 0 {
		f.OuterUDP = &packet.UDPFields{SrcPort: 40000, DstPort: gport}
		f.GUE = &packet.GUEFields{}
	}
	return packet.AppendPacket(nil, f)
}

func withVLAN(f *packet.Frame) *packet.Frame {
	f.Ethernet.HasVLAN, f.Ethernet.VLAN = true, 100
	return f
}

// frag4 is an IPv4 UDP fragment at byte offset off (MF set when more).
func frag4(src, dst netip.Addr, off uint16, more bool) []byte {
	return frag4p(protoUDP, src, dst, off, more)
}

// frag4p is frag4 for protocol proto (a non-first fragment of any
// protocol; a first one of TCP, UDP or SCTP, to port 53).
func frag4p(proto uint8, src, dst netip.Addr, off uint16, more bool) []byte {
	f := l4Frame(proto, src, 1234, dst, 53)
	f.IPv4.FragOffset, f.IPv4.MF = off, more
	if off != 0 { // a non-first fragment carries payload, not the transport header
		f.TCP, f.UDP, f.SCTP = nil, nil, nil
		f.IPv4.Protocol, f.Payload = packet.Proto(proto), make([]byte, 16)
	}
	return build(f)
}

// frag6 is an IPv6 fragment (with a fragment header) at byte offset off.
func frag6(proto uint8, src, dst netip.Addr, dp uint16, off uint16) []byte {
	f := l4Frame(proto, src, 1234, dst, dp)
	f.IPv6.ExtHeaders = []packet.IPv6ExtHeader{packet.IPv6FragmentHeader(off, true, 7)}
	if off != 0 {
		f.TCP, f.UDP, f.SCTP = nil, nil, nil
		f.IPv6.NextHeader, f.Payload = packet.Proto(proto), make([]byte, 16)
	}
	return build(f)
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// arpFrame is an ARP message asking for (op 1) or answering (op 2) target.
func arpFrame(op uint16, target netip.Addr, vlan bool) []byte {
	e := &layers.Ethernet{SrcMAC: macA[:], DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: macA[:], SourceProtAddress: client.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()}
	if vlan {
		e.EthernetType = layers.EthernetTypeDot1Q
		return serialize(e, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeARP}, a)
	}
	return serialize(e, a)
}

// nsFrame is an ICMPv6 neighbour solicitation for target.
func nsFrame(target netip.Addr, hopLimit uint8) []byte {
	e := &layers.Ethernet{SrcMAC: macA[:], DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0x80}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hopLimit,
		SrcIP: cli6.AsSlice(), DstIP: net.ParseIP("ff02::1:ff00:80")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macA[:]}}}
	return serialize(e, ip, icmp, ns)
}
