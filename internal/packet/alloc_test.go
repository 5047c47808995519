package packet

import "testing"

// TestHotPathAllocatesNothing covers what a datapath worker calls per
// packet: Decode, DecodeEmbedded, the NAT setters and the verifiers.
func TestHotPathAllocatesNothing(t *testing.T) {
	tcp4 := frame(tcp4Frame())
	tcp6 := frame(&Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{{Type: ProtoIPv6Opts}}},
		TCP: &TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPSyn}})
	sctp := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, SCTP: &SCTPFields{SrcPort: 1, DstPort: 2,
		Chunks: []SCTPChunk{{Type: SCTPData, Value: make([]byte, 100)}}}})
	icmpErr := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: client4}, ICMP: &ICMPFields{Type: 3, Code: 4},
		Payload: AppendPacket(nil, tcp4Frame())[:28]})
	var p, e Parsed
	real := real4.As4()
	vip := vip4.As4()
	checks := []struct {
		name string
		fn   func()
	}{
		{"Decode tcp4", func() { Decode(tcp4, &p) }},
		{"Decode tcp6", func() { Decode(tcp6, &p) }},
		{"Decode sctp", func() { Decode(sctp, &p) }},
		{"DecodeEmbedded", func() { Decode(icmpErr, &p); DecodeEmbedded(icmpErr, int(p.PayOff), &e) }},
		{"NAT tcp4", func() {
			Decode(tcp4, &p)
			ip := IPv4(tcp4[p.L3Off:])
			ip.SetDestinationWithChecksum(real)
			ip.DecrementTTL()
			seg := TCP(tcp4[p.L4Off:p.Len])
			seg.UpdateChecksumForAddress(vip[:], real[:])
			seg.SetDestinationPortWithChecksum(8080)
			ip.SetDestinationWithChecksum(vip)
			seg.UpdateChecksumForAddress(real[:], vip[:])
		}},
		{"Verify", func() {
			Decode(tcp6, &p)
			VerifyL4Checksum(tcp6, &p)
			Decode(tcp4, &p)
			VerifyIPv4HeaderChecksum(tcp4, &p)
		}},
		{"SCTP checksum", func() { Decode(sctp, &p); SCTP(sctp[p.L4Off:p.Len]).UpdateChecksum() }},
	}
	for _, c := range checks {
		if n := testing.AllocsPerRun(200, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", c.name, n)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name  string
		frame []byte
	}{
		{"TCPv4", frame(tcp4Frame())},
		{"TCPv6ExtHeader", frame(&Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: client6, Dst: vip6,
			ExtHeaders: []IPv6ExtHeader{{Type: ProtoIPv6Opts}}}, TCP: &TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPAck}, Payload: make([]byte, 64)})},
		{"UDPv4VLAN", frame(&Frame{Ethernet: EthernetFields{HasVLAN: true, VLAN: 10}, IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
			UDP: &UDPFields{SrcPort: 1, DstPort: 53}, Payload: make([]byte, 64)})},
		{"SCTPv4", frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, SCTP: &SCTPFields{SrcPort: 1, DstPort: 2,
			Chunks: []SCTPChunk{{Type: SCTPData, Value: make([]byte, 12)}, {Type: SCTPSack, Value: make([]byte, 12)}}}})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var p Parsed
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				if Decode(c.frame, &p) != OK {
					b.Fatal("decode")
				}
			}
		})
	}
}

func BenchmarkDecodeEmbedded(b *testing.B) {
	f := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: client4}, ICMP: &ICMPFields{Type: 3, Code: 4},
		Payload: AppendPacket(nil, tcp4Frame())[:28]})
	var p, e Parsed
	Decode(f, &p)
	off := int(p.PayOff)
	b.ReportAllocs()
	for b.Loop() {
		if DecodeEmbedded(f, off, &e) != OK {
			b.Fatal("decode")
		}
	}
}

// BenchmarkNATv4 is a DNAT of a TCP/IPv4 frame: decode, address and port
// rewrite with incremental checksums, TTL decrement.
func BenchmarkNATv4(b *testing.B) {
	fr := frame(tcp4Frame())
	var p Parsed
	addrs := [2][4]byte{vip4.As4(), real4.As4()}
	ports := [2]uint16{80, 8080}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Decode(fr, &p)
		ip := IPv4(fr[p.L3Off:])
		old, nw := addrs[i&1], addrs[(i+1)&1]
		ip.SetDestinationWithChecksum(nw)
		ip.SetTTLWithChecksum(64)
		seg := TCP(fr[p.L4Off:p.Len])
		seg.UpdateChecksumForAddress(old[:], nw[:])
		seg.SetDestinationPortWithChecksum(ports[(i+1)&1])
		i++
	}
}

func BenchmarkSCTPChecksum(b *testing.B) {
	pkt := (&SCTPFields{SrcPort: 1, DstPort: 2, Chunks: []SCTPChunk{{Type: SCTPData, Value: make([]byte, 1400)}}}).AppendTo(nil)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		SCTP(pkt).UpdateChecksum()
	}
}
