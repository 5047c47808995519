package packet

import "testing"

// icmpError builds an ICMP (or ICMPv6) error from the director to the client
// carrying emb, and returns the frame and the offset of the embedded packet.
func icmpError(t *testing.T, emb []byte, v6 bool) ([]byte, int) {
	t.Helper()
	f := &Frame{ICMP: &ICMPFields{Type: ICMPv4DestUnreach, Code: ICMPv4FragNeeded, Rest: 1400}, Payload: emb}
	if v6 {
		f.IPv6 = &IPv6Fields{HopLimit: 64, Src: dir6, Dst: client6}
		f.ICMP = &ICMPFields{Type: ICMPv6PacketTooBig, Rest: 1280}
	} else {
		f.IPv4 = &IPv4Fields{TTL: 64, Src: dir4, Dst: client4}
	}
	b := frame(f)
	var p Parsed
	if r := Decode(b, &p); r != OK || !p.Flags.Has(FlagL4) || !VerifyL4Checksum(b, &p) {
		t.Fatalf("outer ICMP error: %v %+v", r, p)
	}
	return b, int(p.PayOff)
}

func TestDecodeEmbedded(t *testing.T) {
	// The packet the director sent to the client, as quoted back.
	reply4 := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 64, ID: 5, DF: true, Src: vip4, Dst: client4},
		TCP: &TCPFields{SrcPort: 80, DstPort: 40000, Flags: TCPAck | TCPPsh, Options: make([]byte, 12)}, Payload: make([]byte, 100)})
	reply4opt := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 64, Options: []byte{1, 1, 1, 1, 1, 1, 1, 0}, Src: vip4, Dst: client4},
		UDP: &UDPFields{SrcPort: 53, DstPort: 41000}, Payload: make([]byte, 100)})
	reply6 := AppendPacket(nil, &Frame{IPv6: &IPv6Fields{HopLimit: 64, Src: vip6, Dst: client6,
		ExtHeaders: []IPv6ExtHeader{{Type: ProtoIPv6Opts}}}, SCTP: &SCTPFields{SrcPort: 3868, DstPort: 5000,
		Chunks: []SCTPChunk{{Type: SCTPData, Value: make([]byte, 4)}, {Type: SCTPSack, Value: make([]byte, 12)}}}})
	echo4 := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 64, Src: vip4, Dst: client4}, ICMP: &ICMPFields{Type: ICMPv4Echo, Rest: 0x01020304}})
	frag4 := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 64, FragOffset: 8, Protocol: ProtoTCP, Src: vip4, Dst: client4}, Payload: make([]byte, 40)})
	ipip := AppendPacket(nil, &Frame{OuterIPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: real4}, IPv4: &IPv4Fields{TTL: 64, Src: client4, Dst: vip4},
		TCP: &TCPFields{SrcPort: 40000, DstPort: 80, Flags: TCPSyn}})

	type want struct {
		res            Result
		proto          Proto
		src, dst       uint16
		flags          Flags
		tcpFlags       TCPFlags
		l4Off, payOff  int // relative to the embedded packet
		len            int // relative to the embedded packet
		chunk, chunk2  uint8
		icmpType, code uint8
	}
	tests := []struct {
		name string
		emb  []byte
		v6   bool
		want want
	}{
		{"ipv4 tcp, 8 bytes of tcp", reply4[:28], false, want{res: OK, proto: ProtoTCP, src: 80, dst: 40000,
			flags: FlagDF | FlagL4 | FlagTruncated, l4Off: 20, payOff: 28, len: 28}},
		{"ipv4 tcp, 14 bytes: flags present", reply4[:34], false, want{res: OK, proto: ProtoTCP, src: 80, dst: 40000,
			flags: FlagDF | FlagL4 | FlagTruncated, tcpFlags: TCPAck | TCPPsh, l4Off: 20, payOff: 34, len: 34}},
		{"ipv4 tcp, header complete", reply4[:52], false, want{res: OK, proto: ProtoTCP, src: 80, dst: 40000,
			flags: FlagDF | FlagL4 | FlagTruncated, tcpFlags: TCPAck | TCPPsh, l4Off: 20, payOff: 52, len: 52}},
		{"ipv4 tcp, whole packet", reply4, false, want{res: OK, proto: ProtoTCP, src: 80, dst: 40000,
			flags: FlagDF | FlagL4, tcpFlags: TCPAck | TCPPsh, l4Off: 20, payOff: 52, len: len(reply4)}},
		{"ipv4 tcp, 7 bytes", reply4[:27], false, want{res: ErrL4Short}},
		{"ipv4 tcp, data offset 4", with(reply4[:34], 32, 0x40), false, want{res: ErrL4Short}},
		{"ipv4 header cut", reply4[:19], false, want{res: ErrIPHeader}},
		{"ipv4 ihl 4", with(reply4[:28], 0, 0x44), false, want{res: ErrIPHeader}},
		{"ipv4 total length below header", with(reply4[:28], 2, 0, 10), false, want{res: ErrIPLength}},
		{"version 5", with(reply4[:28], 0, 0x55), false, want{res: ErrIPVersion}},
		{"ipv4 options + udp", reply4opt[:36], false, want{res: OK, proto: ProtoUDP, src: 53, dst: 41000,
			flags: FlagIPOptions | FlagL4 | FlagTruncated, l4Off: 28, payOff: 36, len: 36}},
		{"ipv4 options cut", reply4opt[:24], false, want{res: ErrIPHeader}},
		{"ipv4 icmp echo", echo4[:28], false, want{res: OK, proto: ProtoICMP, flags: FlagL4, icmpType: ICMPv4Echo, l4Off: 20, payOff: 28, len: 28}},
		{"ipv4 non-first fragment", frag4[:28], false, want{res: OK, proto: ProtoTCP, flags: FlagFragment | FlagNonFirstFrag | FlagTruncated,
			l4Off: 20, payOff: 20, len: 28}},
		{"ipip tunnel error", ipip[:28], false, want{res: OK, proto: ProtoIPIP, flags: FlagTruncated, l4Off: 20, payOff: 20, len: 28}},
		{"ipv6 sctp, whole", reply6, true, want{res: OK, proto: ProtoSCTP, src: 3868, dst: 5000,
			flags: FlagExtHeaders | FlagL4 | FlagSCTPChunk2, chunk: SCTPData, chunk2: SCTPSack, l4Off: 48, payOff: 60, len: len(reply6)}},
		{"ipv6 sctp, 8 bytes", reply6[:56], true, want{res: OK, proto: ProtoSCTP, src: 3868, dst: 5000,
			flags: FlagExtHeaders | FlagL4 | FlagTruncated, l4Off: 48, payOff: 56, len: 56}},
		{"ipv6 sctp, first chunk type", reply6[:61], true, want{res: OK, proto: ProtoSCTP, src: 3868, dst: 5000,
			flags: FlagExtHeaders | FlagL4 | FlagTruncated, chunk: SCTPData, l4Off: 48, payOff: 60, len: 61}},
		{"ipv6 sctp, chunk length 2", with(reply6[:64], 62, 0, 2), true, want{res: ErrL4Short}},
		{"ipv6 sctp complete, chunk length beyond the packet", with(reply6, 62, 0x30, 0x30), true, want{res: ErrL4Short}},
		{"ipv4 complete, udp length beyond the packet", with(reply4opt, 28+4, 0xff), false, want{res: ErrL4Short}},
		{"ipv4 cut, udp length beyond the data is fine", with(reply4opt[:40], 28+4, 0xff), false, want{res: OK, proto: ProtoUDP, src: 53, dst: 41000,
			flags: FlagIPOptions | FlagL4 | FlagTruncated, l4Off: 28, payOff: 36, len: 40}},
		{"ipv6 extension header cut", reply6[:44], true, want{res: ErrExtHeader}},
		{"ipv6 header cut", reply6[:39], true, want{res: ErrIPHeader}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, off := icmpError(t, tt.emb, tt.v6)
			var p Parsed
			r := DecodeEmbedded(b, off, &p)
			if r != tt.want.res {
				t.Fatalf("DecodeEmbedded = %v, want %v (%+v)", r, tt.want.res, p)
			}
			if r != OK {
				return
			}
			w := tt.want
			got := want{res: r, proto: p.Proto, src: p.SrcPort, dst: p.DstPort, flags: p.Flags, tcpFlags: p.TCPFlags,
				l4Off: int(p.L4Off) - off, payOff: int(p.PayOff) - off, len: int(p.Len) - off,
				chunk: p.SCTPChunk, chunk2: p.SCTPChunk2, icmpType: p.ICMPType, code: p.ICMPCode}
			if got != w {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
			if int(p.L3Off) != off || p.V6 != tt.v6 {
				t.Errorf("L3Off %d V6 %v, want %d %v", p.L3Off, p.V6, off, tt.v6)
			}
			wantSrc, wantDst := a16(vip4), a16(client4)
			if tt.v6 {
				wantSrc, wantDst = a16(vip6), a16(client6)
			}
			if tt.name == "ipip tunnel error" {
				wantSrc, wantDst = a16(dir4), a16(real4)
			}
			if p.Src != wantSrc || p.Dst != wantDst {
				t.Errorf("addresses %v %v", p.Src, p.Dst)
			}
		})
	}
}

// TestDecodeEmbeddedIgnoresTrailer checks that bytes after a complete
// embedded packet (Ethernet padding of the ICMP error) are not counted.
func TestDecodeEmbeddedIgnoresTrailer(t *testing.T) {
	emb := AppendPacket(nil, &Frame{IPv4: &IPv4Fields{TTL: 1, Src: vip4, Dst: client4}, UDP: &UDPFields{SrcPort: 1, DstPort: 2}})
	b := append(append([]byte{}, emb...), 0, 0, 0, 0)
	var p Parsed
	if r := DecodeEmbedded(b, 0, &p); r != OK || p.Len != 28 || p.Flags&FlagTruncated != 0 || !VerifyL4Checksum(b, &p) {
		t.Errorf("got %v %+v", r, p)
	}
}
