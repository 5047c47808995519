package packet

import "net/netip"

// frameSpec is a flat description of a single-packet frame, filled from
// random numbers (TestBuilderRandomRoundTrip) or fuzzed arguments
// (FuzzRoundTrip). build turns it into a Frame and the Parsed that Decode
// must produce for that frame.
type frameSpec struct {
	v6       bool
	hasVLAN  bool
	vlanTCI  uint16
	l4       uint8 // %4: TCP, UDP, SCTP, ICMP
	sport    uint16
	dport    uint16
	seq, ack uint32
	tcpFlags uint8
	ttl, tos uint8
	id       uint16
	fragOff  uint16 // rounded down to a multiple of 8; IPv6: adds a fragment header
	more     bool   // more fragments; IPv6: adds a fragment header
	addrs    []byte // source then destination, zero-padded
	ipOpts   []byte // IPv4 options (at most 40 bytes used)
	ext      []byte // IPv6 extension headers, one byte each: type selector and body length (at most 7 used)
	l4Opts   []byte // TCP options (at most 40), or SCTP chunk types (1 to 3)
	payload  []byte // at most 1000 bytes used
}

func (s *frameSpec) build() (*Frame, Parsed) {
	var addr [32]byte
	copy(addr[:], s.addrs)
	payload := s.payload[:min(len(s.payload), 1000)]
	f := &Frame{Payload: payload}
	var w Parsed
	w.L3Off = 14
	if s.hasVLAN {
		f.Ethernet = EthernetFields{HasVLAN: true, VLAN: s.vlanTCI}
		w.VLAN, w.Flags, w.L3Off = s.vlanTCI&0xfff, FlagVLAN, 18
	}
	fragOff := s.fragOff &^ 7
	hl := 0
	if !s.v6 {
		ip := &IPv4Fields{TOS: s.tos, TTL: s.ttl, ID: s.id, DF: s.seq&1 != 0, MF: s.more, FragOffset: fragOff,
			Src: netip.AddrFrom4([4]byte(addr[0:4])), Dst: netip.AddrFrom4([4]byte(addr[16:20])),
			Options: s.ipOpts[:min(len(s.ipOpts), 40)]}
		f.IPv4 = ip
		w.EtherType, w.TOS, w.TTL, w.FragID = EtherTypeIPv4, ip.TOS, ip.TTL, uint32(ip.ID)
		w.Src, w.Dst = a16(ip.Src), a16(ip.Dst)
		if ip.DF {
			w.Flags |= FlagDF
		}
		if len(ip.Options) > 0 {
			w.Flags |= FlagIPOptions
		}
		hl = ip.HeaderLen()
	} else {
		ip := &IPv6Fields{TrafficClass: s.tos, FlowLabel: s.seq, HopLimit: s.ttl,
			Src: netip.AddrFrom16([16]byte(addr[0:16])), Dst: netip.AddrFrom16([16]byte(addr[16:32]))}
		types := [...]Proto{ProtoIPv6Opts, ProtoIPv6Route, ProtoIPv6Opts, ProtoAH}
		for i, x := range s.ext[:min(len(s.ext), 7)] {
			typ := types[x&3]
			if x&3 == 0 && i == 0 {
				typ = ProtoHopByHop
			}
			ip.ExtHeaders = append(ip.ExtHeaders, IPv6ExtHeader{Type: typ, Body: make([]byte, x>>2)})
		}
		if fragOff != 0 || s.more {
			ip.ExtHeaders = append(ip.ExtHeaders, IPv6FragmentHeader(fragOff, s.more, s.ack))
			w.FragID = s.ack
		}
		if len(ip.ExtHeaders) > 0 {
			w.Flags |= FlagExtHeaders
		}
		f.IPv6 = ip
		w.EtherType, w.V6, w.TOS, w.TTL = EtherTypeIPv6, true, ip.TrafficClass, ip.HopLimit
		w.Src, w.Dst = a16(ip.Src), a16(ip.Dst)
		hl = ip.HeaderLen()
	}
	if fragOff != 0 || s.more {
		w.Flags |= FlagFragment
		if s.more {
			w.Flags |= FlagMoreFrags
		}
		if fragOff != 0 {
			w.Flags |= FlagNonFirstFrag
			w.FragOff = fragOff
		}
	}
	w.L4Off = w.L3Off + uint16(hl)
	switch s.l4 % 4 {
	case 0:
		f.TCP = &TCPFields{SrcPort: s.sport, DstPort: s.dport, Seq: s.seq, Ack: s.ack, Flags: TCPFlags(s.tcpFlags),
			Window: s.id, Options: s.l4Opts[:min(len(s.l4Opts), 40)]}
		w.Proto, w.SrcPort, w.DstPort, w.TCPFlags = ProtoTCP, s.sport, s.dport, f.TCP.Flags
	case 1:
		f.UDP = &UDPFields{SrcPort: s.sport, DstPort: s.dport}
		w.Proto, w.SrcPort, w.DstPort = ProtoUDP, s.sport, s.dport
	case 2:
		sc := &SCTPFields{SrcPort: s.sport, DstPort: s.dport, VerificationTag: s.seq}
		for _, t := range s.l4Opts[:min(len(s.l4Opts), 3)] {
			sc.Chunks = append(sc.Chunks, SCTPChunk{Type: t, Flags: s.tcpFlags, Value: make([]byte, t%9)})
		}
		if len(sc.Chunks) == 0 {
			sc.Chunks = []SCTPChunk{{Type: SCTPData, Value: []byte{1}}}
		}
		f.SCTP = sc
		w.Proto, w.SrcPort, w.DstPort, w.SCTPChunk = ProtoSCTP, s.sport, s.dport, sc.Chunks[0].Type
		if len(sc.Chunks) > 1 {
			w.SCTPChunk2 = sc.Chunks[1].Type
			w.Flags |= FlagSCTPChunk2
		} else if len(payload) >= 4 {
			w.SCTPChunk2 = payload[0] // the payload follows the chunks and is read as one
			w.Flags |= FlagSCTPChunk2
		}
	case 3:
		f.ICMP = &ICMPFields{Type: uint8(s.sport >> 8), Code: uint8(s.sport), Rest: s.seq}
		w.Proto, w.ICMPType, w.ICMPCode = ProtoICMP, f.ICMP.Type, f.ICMP.Code
		if s.v6 {
			w.Proto = ProtoICMPv6
		}
	}
	l4 := f.l4Len()
	w.Len = w.L3Off + uint16(hl+l4+len(payload))
	if w.Flags.Has(FlagNonFirstFrag) {
		// No transport header is decoded in a non-first fragment.
		w.SrcPort, w.DstPort, w.TCPFlags, w.SCTPChunk, w.SCTPChunk2, w.ICMPType, w.ICMPCode = 0, 0, 0, 0, 0, 0, 0
		w.Flags &^= FlagSCTPChunk2
		w.PayOff = w.L4Off
		return f, w
	}
	w.Flags |= FlagL4
	switch w.Proto {
	case ProtoSCTP:
		w.PayOff = w.L4Off + 12
	default:
		w.PayOff = w.L4Off + uint16(l4)
	}
	return f, w
}
