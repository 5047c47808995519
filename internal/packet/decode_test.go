package packet

import (
	"bytes"
	"testing"
)

func TestDecodeOK(t *testing.T) {
	c4, v4, r4, d4 := a16(client4), a16(vip4), a16(real4), a16(dir4)
	c6, v6, r6, d6 := a16(client6), a16(vip6), a16(real6), a16(dir6)
	_ = r6
	tests := []struct {
		name  string
		frame []byte
		want  Parsed
	}{
		{
			name:  "ipv4 tcp",
			frame: frame(tcp4Frame()),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 54, Len: 59,
				Proto: ProtoTCP, TTL: 64, Src: c4, Dst: v4, FragID: 0x1234, Flags: FlagDF | FlagL4,
				SrcPort: 40000, DstPort: 80, TCPFlags: TCPSyn},
		},
		{
			name: "ipv4 tcp with options, ip options and vlan",
			frame: frame(&Frame{
				Ethernet: EthernetFields{HasVLAN: true, VLAN: 0xa000 | 42},
				IPv4:     &IPv4Fields{TTL: 3, TOS: 0xb8, ID: 7, Options: []byte{0x94, 0x04, 0, 0, 1}, Src: client4, Dst: vip4},
				TCP:      &TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPSyn | TCPEce | TCPCwr, Options: []byte{2, 4, 5, 0xb4, 1, 3, 3, 7}},
			}),
			want: Parsed{EtherType: EtherTypeIPv4, VLAN: 42, L3Off: 18, L4Off: 18 + 28, PayOff: 18 + 28 + 28, Len: 18 + 28 + 28,
				Proto: ProtoTCP, TTL: 3, TOS: 0xb8, Src: c4, Dst: v4, FragID: 7, Flags: FlagVLAN | FlagIPOptions | FlagL4,
				SrcPort: 1, DstPort: 2, TCPFlags: TCPSyn | TCPEce | TCPCwr},
		},
		{
			name:  "ethernet padding is excluded from Len",
			frame: append(frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 53, DstPort: 5353}}), make([]byte, 18)...),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 42,
				Proto: ProtoUDP, TTL: 1, Src: c4, Dst: v4, Flags: FlagL4, SrcPort: 53, DstPort: 5353},
		},
		{
			name: "ipv4 first fragment has L4",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 9, ID: 99, MF: true, Src: client4, Dst: vip4},
				UDP: &UDPFields{SrcPort: 5, DstPort: 6}, Payload: make([]byte, 16)}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 58,
				Proto: ProtoUDP, TTL: 9, Src: c4, Dst: v4, FragID: 99, Flags: FlagFragment | FlagMoreFrags | FlagL4,
				SrcPort: 5, DstPort: 6},
		},
		{
			name: "ipv4 non-first fragment has no L4",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 9, ID: 99, FragOffset: 1480, Protocol: ProtoUDP, Src: client4, Dst: vip4},
				Payload: make([]byte, 3)}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 34, Len: 37,
				Proto: ProtoUDP, TTL: 9, Src: c4, Dst: v4, FragID: 99, FragOff: 1480, Flags: FlagFragment | FlagNonFirstFrag},
		},
		{
			name: "sctp one chunk",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
				SCTP: &SCTPFields{SrcPort: 3868, DstPort: 3868, Chunks: []SCTPChunk{{Type: SCTPInit, Value: make([]byte, 16)}}}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 46, Len: 34 + 12 + 20,
				Proto: ProtoSCTP, TTL: 64, Src: c4, Dst: v4, Flags: FlagL4, SrcPort: 3868, DstPort: 3868, SCTPChunk: SCTPInit},
		},
		{
			name: "sctp second chunk after padding",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
				SCTP: &SCTPFields{SrcPort: 1, DstPort: 2, Chunks: []SCTPChunk{{Type: SCTPCookieEcho, Value: []byte{1, 2, 3, 4, 5}}, {Type: SCTPData, Value: []byte{9}}}}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 46, Len: 34 + 12 + 12 + 8,
				Proto: ProtoSCTP, TTL: 64, Src: c4, Dst: v4, Flags: FlagL4 | FlagSCTPChunk2, SrcPort: 1, DstPort: 2,
				SCTPChunk: SCTPCookieEcho, SCTPChunk2: SCTPData},
		},
		{
			name: "sctp bytes after the first chunk too short for a chunk header",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
				SCTP: &SCTPFields{SrcPort: 1, DstPort: 2, Chunks: []SCTPChunk{{Type: SCTPShutdownComp}}}, Payload: []byte{0, 0, 4}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 46, Len: 34 + 12 + 4 + 3,
				Proto: ProtoSCTP, TTL: 64, Src: c4, Dst: v4, Flags: FlagL4, SrcPort: 1, DstPort: 2, SCTPChunk: SCTPShutdownComp},
		},
		{
			name: "icmp echo",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
				ICMP: &ICMPFields{Type: ICMPv4Echo, Rest: 0x00010002}, Payload: []byte("ping")}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 46,
				Proto: ProtoICMP, TTL: 64, Src: c4, Dst: v4, Flags: FlagL4, ICMPType: ICMPv4Echo},
		},
		{
			name: "icmp frag needed",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: client4},
				ICMP: &ICMPFields{Type: ICMPv4DestUnreach, Code: ICMPv4FragNeeded, Rest: 1400}, Payload: AppendPacket(nil, tcp4Frame())[:28]}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 42 + 28,
				Proto: ProtoICMP, TTL: 64, Src: d4, Dst: c4, Flags: FlagL4, ICMPType: 3, ICMPCode: 4},
		},
		{
			name: "ipip tunnel",
			frame: frame(&Frame{OuterIPv4: &IPv4Fields{TTL: 63, Src: dir4, Dst: real4},
				IPv4: &IPv4Fields{TTL: 63, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 34, Len: 34 + 28,
				Proto: ProtoIPIP, TTL: 63, Src: d4, Dst: r4},
		},
		{
			name: "ipv6 in ipv4",
			frame: frame(&Frame{OuterIPv4: &IPv4Fields{TTL: 63, Src: dir4, Dst: real4},
				IPv6: &IPv6Fields{HopLimit: 63, Src: client6, Dst: vip6}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 34, Len: 34 + 48,
				Proto: ProtoIPv6, TTL: 63, Src: d4, Dst: r4},
		},
		{
			name: "gue outer udp",
			frame: frame(&Frame{OuterIPv4: &IPv4Fields{TTL: 63, Src: dir4, Dst: real4}, OuterUDP: &UDPFields{SrcPort: 45000, DstPort: 6080},
				GUE:  &GUEFields{},
				IPv4: &IPv4Fields{TTL: 63, Src: client4, Dst: vip4}, TCP: &TCPFields{SrcPort: 1, DstPort: 2}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 34 + 8 + 4 + 40,
				Proto: ProtoUDP, TTL: 63, Src: d4, Dst: r4, Flags: FlagL4, SrcPort: 45000, DstPort: 6080},
		},
		{
			name: "gre is passed without L4",
			frame: frame(&Frame{IPv4: &IPv4Fields{TTL: 5, Protocol: ProtoGRE, Src: dir4, Dst: real4},
				Payload: []byte{0, 0, 0x08, 0}}),
			want: Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 34, Len: 38,
				Proto: ProtoGRE, TTL: 5, Src: d4, Dst: r4},
		},
		{
			name:  "ipv6 tcp",
			frame: frame(tcp6Frame()),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54, PayOff: 74, Len: 74 + 12,
				V6: true, Proto: ProtoTCP, TTL: 64, TOS: 0x28, Src: c6, Dst: v6, Flags: FlagL4,
				SrcPort: 40000, DstPort: 443, TCPFlags: TCPAck | TCPPsh},
		},
		{
			name: "ipv6 hop-by-hop, routing, destination options, AH before udp",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{
				{Type: ProtoHopByHop, Body: []byte{5, 2, 0, 0}},
				{Type: ProtoIPv6Route, Body: make([]byte, 22)},
				{Type: ProtoIPv6Opts},
				{Type: ProtoAH, Body: make([]byte, 14)},
			}}, UDP: &UDPFields{SrcPort: 500, DstPort: 4500}}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54 + 8 + 24 + 8 + 16, PayOff: 54 + 56 + 8, Len: 54 + 56 + 8,
				V6: true, Proto: ProtoUDP, TTL: 2, Src: c6, Dst: v6, Flags: FlagExtHeaders | FlagL4, SrcPort: 500, DstPort: 4500},
		},
		{
			name: "ipv6 first fragment",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{
				IPv6FragmentHeader(0, true, 0xdeadbeef)}}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}, Payload: make([]byte, 8)}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 62, PayOff: 70, Len: 78,
				V6: true, Proto: ProtoUDP, TTL: 2, Src: c6, Dst: v6, FragID: 0xdeadbeef,
				Flags: FlagFragment | FlagMoreFrags | FlagExtHeaders | FlagL4, SrcPort: 1, DstPort: 2},
		},
		{
			name: "ipv6 non-first fragment stops the walk",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, NextHeader: ProtoTCP, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{
				{Type: ProtoIPv6Opts}, IPv6FragmentHeader(2048, false, 77)}}, Payload: []byte{1, 2, 3}}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 70, PayOff: 70, Len: 73,
				V6: true, Proto: ProtoTCP, TTL: 2, Src: c6, Dst: v6, FragID: 77, FragOff: 2048,
				Flags: FlagFragment | FlagNonFirstFrag | FlagExtHeaders},
		},
		{
			name: "ipv6 eight extension headers",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, Src: client6, Dst: vip6, ExtHeaders: make8(ProtoIPv6Opts, 8)},
				TCP: &TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPRst}}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54 + 64, PayOff: 54 + 64 + 20, Len: 54 + 64 + 20,
				V6: true, Proto: ProtoTCP, TTL: 2, Src: c6, Dst: v6, Flags: FlagExtHeaders | FlagL4, SrcPort: 1, DstPort: 2, TCPFlags: TCPRst},
		},
		{
			name: "ipv6 esp stops the walk",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, NextHeader: ProtoESP, Src: client6, Dst: vip6,
				ExtHeaders: []IPv6ExtHeader{{Type: ProtoHopByHop}}}, Payload: make([]byte, 24)}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 62, PayOff: 62, Len: 86,
				V6: true, Proto: ProtoESP, TTL: 2, Src: c6, Dst: v6, Flags: FlagExtHeaders},
		},
		{
			name:  "ipv6 no next header",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 2, NextHeader: ProtoIPv6NoNext, Src: client6, Dst: vip6}}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54, PayOff: 54, Len: 54,
				V6: true, Proto: ProtoIPv6NoNext, TTL: 2, Src: c6, Dst: v6},
		},
		{
			name: "icmpv6 packet too big",
			frame: frame(&Frame{IPv6: &IPv6Fields{HopLimit: 255, Src: dir6, Dst: client6},
				ICMP: &ICMPFields{Type: ICMPv6PacketTooBig, Rest: 1280}, Payload: AppendPacket(nil, tcp6Frame())}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54, PayOff: 62, Len: 62 + 40 + 20 + 12,
				V6: true, Proto: ProtoICMPv6, TTL: 255, Src: d6, Dst: c6, Flags: FlagL4, ICMPType: ICMPv6PacketTooBig},
		},
		{
			name: "ipv6 outer with gue and inner ipv6",
			frame: frame(&Frame{OuterIPv6: &IPv6Fields{HopLimit: 9, Src: dir6, Dst: real6}, OuterUDP: &UDPFields{SrcPort: 1, DstPort: 6080},
				GUE: &GUEFields{Options: make([]byte, 8)}, IPv6: &IPv6Fields{HopLimit: 9, Src: client6, Dst: vip6}}),
			want: Parsed{EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54, PayOff: 62, Len: 62 + 12 + 40,
				V6: true, Proto: ProtoUDP, TTL: 9, Src: d6, Dst: r6, Flags: FlagL4, SrcPort: 1, DstPort: 6080},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			if r := Decode(tt.frame, &p); r != OK {
				t.Fatalf("Decode = %v, want OK", r)
			}
			if p != tt.want {
				t.Errorf("Decode:\n got  %+v\n want %+v", p, tt.want)
			}
			if p.Flags.Has(FlagL4) && p.Flags&FlagFragment == 0 && !VerifyL4Checksum(tt.frame, &p) {
				t.Errorf("VerifyL4Checksum = false on a built frame")
			}
			if !p.V6 && !VerifyIPv4HeaderChecksum(tt.frame, &p) {
				t.Errorf("VerifyIPv4HeaderChecksum = false on a built frame")
			}
		})
	}
}

func make8(typ Proto, n int) []IPv6ExtHeader {
	h := make([]IPv6ExtHeader, n)
	for i := range h {
		h[i].Type = typ
	}
	return h
}

// TestDecodeRealBytes decodes hand-written frames in wire format.
func TestDecodeRealBytes(t *testing.T) {
	// An ARP request, padded to 60 bytes.
	arp := unhex(t, `ffffffffffff 001122334455 0806 |
		0001 0800 06 04 0001 001122334455 c0a80001 000000000000 c0a80002 |
		000000000000000000000000000000000000`)
	// The IPv4 header from the Wikipedia article on the IPv4 header checksum
	// (checksum b861), carrying UDP (checksum 0: none) with 87 bytes of data.
	wiki := unhex(t, `020000000001 020000000002 0800 |
		4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 |
		0035 e6a1 005f 0000`)
	wiki = append(wiki, bytes.Repeat([]byte{0xab}, 87)...)
	// A TCP SYN over IPv6 with the MSS option; its checksum is filled in below
	// (Checksum and PseudoSum are checked against gopacket elsewhere).
	syn6 := unhex(t, `020000000001 020000000002 86dd |
		6000 0000 0018 06 40 20010db8000000000000000000000001 20010db8000000000000000000000002 |
		c350 0050 00000001 00000000 6002 ffff 0000 0000 | 020405a0`)
	binaryPutChecksum(syn6, 14+40+16, Checksum(PseudoSum(true, (*[16]byte)(syn6[22:38]), (*[16]byte)(syn6[38:54]), ProtoTCP, 24), syn6[54:]))

	t.Run("arp", func(t *testing.T) {
		var p Parsed
		if r := Decode(arp, &p); r != NotIP {
			t.Fatalf("Decode = %v, want NotIP", r)
		}
		want := Parsed{EtherType: EtherTypeARP, L3Off: 14, L4Off: 14, PayOff: 14, Len: 60}
		if p != want {
			t.Errorf("got %+v, want %+v", p, want)
		}
	})
	t.Run("wikipedia ipv4 udp", func(t *testing.T) {
		var p Parsed
		if r := Decode(wiki, &p); r != OK {
			t.Fatalf("Decode = %v", r)
		}
		want := Parsed{EtherType: EtherTypeIPv4, L3Off: 14, L4Off: 34, PayOff: 42, Len: 14 + 0x73,
			Proto: ProtoUDP, TTL: 64, Src: [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 168, 15: 1},
			Dst: [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 168, 15: 0xc7}, Flags: FlagDF | FlagL4, SrcPort: 53, DstPort: 0xe6a1}
		if p != want {
			t.Errorf("got %+v, want %+v", p, want)
		}
		if !VerifyIPv4HeaderChecksum(wiki, &p) {
			t.Error("the Wikipedia header checksum b861 does not verify")
		}
		if !VerifyL4Checksum(wiki, &p) {
			t.Error("UDP checksum 0 over IPv4 must count as valid")
		}
		if got := IPv4(wiki[14:]).CalculateChecksum(); got != 0xb861 {
			t.Errorf("CalculateChecksum = %#x, want 0xb861", got)
		}
	})
	t.Run("ipv6 syn", func(t *testing.T) {
		var p Parsed
		if r := Decode(syn6, &p); r != OK {
			t.Fatalf("Decode = %v", r)
		}
		if p.SrcPort != 50000 || p.DstPort != 80 || p.TCPFlags != TCPSyn || p.PayOff != 14+40+24 || p.Len != 14+40+24 {
			t.Errorf("got %+v", p)
		}
		if !VerifyL4Checksum(syn6, &p) {
			t.Error("checksum does not verify")
		}
	})
}

func binaryPutChecksum(b []byte, off int, c uint16) { b[off], b[off+1] = byte(c>>8), byte(c) }

func TestDecodeErrors(t *testing.T) {
	tcp4 := frame(tcp4Frame())
	tcp6 := frame(tcp6Frame())
	udp4 := frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}, Payload: []byte{1, 2}})
	sctp4 := frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, SCTP: &SCTPFields{SrcPort: 1, DstPort: 2, Chunks: []SCTPChunk{{Type: SCTPData, Value: []byte{1, 2, 3, 4}}}}})
	icmp4 := frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, ICMP: &ICMPFields{Type: ICMPv4Echo}})
	vlan := frame(&Frame{Ethernet: EthernetFields{HasVLAN: true, VLAN: 5}, IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}})
	ext := func(h ...IPv6ExtHeader) []byte {
		return frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: client6, Dst: vip6, ExtHeaders: h}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}})
	}
	big := frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, Payload: make([]byte, 65535-20)})

	tests := []struct {
		name  string
		frame []byte
		want  Result
	}{
		{"empty", nil, ErrShort},
		{"13 bytes", tcp4[:13], ErrShort},
		{"vlan tag cut", vlan[:17], ErrShort},
		{"unknown ethertype", with(tcp4, 12, 0x88, 0xb5), NotIP},
		{"second vlan tag", with(vlan, 16, 0x81, 0x00), NotIP},
		{"qinq outer tag", with(vlan, 12, 0x88, 0xa8), NotIP},
		{"arp header only", with(tcp4[:14], 12, 0x08, 0x06), NotIP},
		{"nothing after ethernet", tcp4[:14], ErrIPHeader},
		{"ipv4 ethertype, version 6", with(tcp4, 14, 0x65), ErrIPVersion},
		{"ipv6 ethertype, version 4", with(tcp6, 14, 0x40), ErrIPVersion},
		{"ipv4 version 5", with(tcp4, 14, 0x55), ErrIPVersion},
		{"ipv4 19 bytes", tcp4[:14+19], ErrIPHeader},
		{"ipv4 ihl 4", with(tcp4, 14, 0x44), ErrIPHeader},
		{"ipv4 ihl 15 beyond data", with(tcp4[:14+40], 14, 0x4f), ErrIPHeader},
		{"ipv6 39 bytes", tcp6[:14+39], ErrIPHeader},
		{"ipv4 total length beyond frame", tcp4[:len(tcp4)-1], ErrIPLength},
		{"ipv4 total length below header", with(tcp4, 16, 0, 19), ErrIPLength},
		{"ipv4 packet beyond 65535 bytes of frame", big, ErrIPLength},
		{"ipv6 payload length beyond frame", tcp6[:len(tcp6)-1], ErrIPLength},
		{"hop-by-hop not first", ext(IPv6ExtHeader{Type: ProtoIPv6Opts}, IPv6ExtHeader{Type: ProtoHopByHop}), ErrExtHeader},
		{"nine extension headers", ext(make8(ProtoIPv6Opts, 9)...), ErrExtHeader},
		{"nine headers ending in a fragment header", ext(append(make8(ProtoIPv6Route, 8), IPv6FragmentHeader(0, true, 1))...), ErrExtHeader},
		{"extension header length beyond payload", with(ext(IPv6ExtHeader{Type: ProtoIPv6Opts}), 14+40+1, 2), ErrExtHeader},
		{"AH length beyond payload", with(ext(IPv6ExtHeader{Type: ProtoAH, Body: make([]byte, 10)}), 14+40+1, 4), ErrExtHeader},
		{"extension header cut (payload length 4)", with(ext(IPv6ExtHeader{Type: ProtoIPv6Opts}), 14+4, 0, 4), ErrExtHeader},
		{"fragment header cut", with(ext(IPv6FragmentHeader(0, true, 1)), 14+4, 0, 6), ErrExtHeader},
		{"tcp 19 bytes", with(tcp4[:14+20+19], 16, 0, 39), ErrL4Short},
		{"tcp data offset 4", with(tcp4, 34+12, 0x40), ErrL4Short},
		{"tcp data offset beyond packet", with(tcp4, 34+12, 0x70), ErrL4Short},
		{"ipv6 tcp data offset beyond packet", with(tcp6, 54+12, 0xf0), ErrL4Short},
		{"udp 7 bytes", with(udp4[:14+20+7], 16, 0, 27), ErrL4Short},
		{"udp length 7", with(udp4, 34+4, 0, 7), ErrL4Short},
		{"udp length beyond packet", with(udp4, 34+4, 0, 11), ErrL4Short},
		{"sctp 15 bytes", with(sctp4[:14+20+15], 16, 0, 35), ErrL4Short},
		{"sctp chunk length 3", with(sctp4, 34+14, 0, 3), ErrL4Short},
		{"sctp chunk length beyond packet", with(sctp4, 34+14, 0, 9), ErrL4Short},
		{"icmp 7 bytes", with(icmp4[:14+20+7], 16, 0, 27), ErrL4Short},
		{"ipv4 header ok but transport cut by total length", with(tcp4, 16, 0, 39), ErrL4Short},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			if r := Decode(tt.frame, &p); r != tt.want {
				t.Errorf("Decode = %v, want %v (parsed %+v)", r, tt.want, p)
			}
		})
	}
}

// TestDecodeResetsParsed checks that a reused Parsed carries nothing over.
func TestDecodeResetsParsed(t *testing.T) {
	var p Parsed
	Decode(frame(tcp6Frame()), &p)
	udp := frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}})
	Decode(udp, &p)
	var fresh Parsed
	Decode(udp, &fresh)
	if p != fresh {
		t.Errorf("reused Parsed %+v differs from fresh %+v", p, fresh)
	}
}

func TestDecodeIP(t *testing.T) {
	f := tcp6Frame()
	pkt := AppendPacket([]byte{0xee, 0xee, 0xee}, f)
	var p Parsed
	if r := DecodeIP(pkt, 3, &p); r != OK {
		t.Fatalf("DecodeIP = %v", r)
	}
	if p.EtherType != EtherTypeIPv6 || p.L3Off != 3 || p.L4Off != 43 || p.PayOff != 63 || p.Len != uint16(len(pkt)) || p.DstPort != 443 {
		t.Errorf("got %+v", p)
	}
	if !VerifyL4Checksum(pkt, &p) {
		t.Error("checksum")
	}
	for _, tc := range []struct {
		b    []byte
		off  int
		want Result
	}{
		{pkt, len(pkt), ErrIPHeader},
		{pkt, -1, ErrIPHeader},
		{pkt, 0, ErrIPVersion},
		{pkt[:len(pkt)-1], 3, ErrIPLength},
	} {
		if r := DecodeIP(tc.b, tc.off, &p); r != tc.want {
			t.Errorf("DecodeIP(len %d, %d) = %v, want %v", len(tc.b), tc.off, r, tc.want)
		}
	}
}
