package packet

import (
	"testing"
)

// checkParsed checks the invariants of a successful decode: offsets ordered
// and inside b, and the views agreeing with what Decode accepted.
func checkParsed(t *testing.T, b []byte, p *Parsed) {
	t.Helper()
	if !(p.L3Off <= p.L4Off && p.L4Off <= p.PayOff && p.PayOff <= p.Len && int(p.Len) <= len(b)) {
		t.Fatalf("offsets out of order or outside the frame (len %d): %+v", len(b), p)
	}
	if p.Flags.Has(FlagNonFirstFrag) && p.Flags.Has(FlagL4) {
		t.Fatalf("non-first fragment with L4: %+v", p)
	}
	if p.V6 != (p.EtherType == EtherTypeIPv6) {
		t.Fatalf("V6 %v with EtherType %#x", p.V6, p.EtherType)
	}
	if !p.V6 {
		ip := IPv4(b[p.L3Off:p.Len])
		if p.Flags&FlagTruncated == 0 && !ip.IsValid() {
			t.Fatalf("IPv4 view rejects a decoded header: %+v", p)
		}
		if int(p.L3Off)+ip.HeaderLen() != int(p.L4Off) {
			t.Fatalf("L4Off %d is not after the IPv4 header", p.L4Off)
		}
	} else if p.Flags&FlagTruncated == 0 && !IPv6(b[p.L3Off:p.Len]).IsValid() {
		t.Fatalf("IPv6 view rejects a decoded header: %+v", p)
	}
	if !p.Flags.Has(FlagL4) || p.Flags.Has(FlagTruncated) {
		return
	}
	seg := b[p.L4Off:p.Len]
	ok := true
	switch p.Proto {
	case ProtoTCP:
		ok = TCP(seg).IsValid() && int(p.PayOff-p.L4Off) == TCP(seg).DataOffset()
	case ProtoUDP:
		if p.Flags.Has(FlagMoreFrags) {
			// A first fragment holds only part of the datagram its
			// UDP length describes, so the whole-datagram check does not
			// apply; the header itself must be there.
			ok = len(seg) >= 8 && UDP(seg).Length() >= 8 && p.PayOff-p.L4Off == 8
		} else {
			ok = UDP(seg).IsValid() && p.PayOff-p.L4Off == 8
		}
	case ProtoSCTP:
		ok = SCTP(seg).IsValid() && p.PayOff-p.L4Off == 12
	case ProtoICMP, ProtoICMPv6:
		ok = ICMP(seg).IsValid() && p.PayOff-p.L4Off == 8
	default:
		t.Fatalf("FlagL4 for protocol %v", p.Proto)
	}
	if !ok {
		t.Fatalf("the %v view rejects a decoded header: %+v", p.Proto, p)
	}
}

func FuzzDecode(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecode (see TestFuzzSeedCorpus).
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		r := Decode(b, &p)
		if r.String() == "" {
			t.Fatal("empty Result name")
		}
		switch r {
		case OK:
			checkParsed(t, b, &p)
			if p.Flags.Has(FlagTruncated) {
				t.Fatalf("Decode set FlagTruncated: %+v", p)
			}
			// DecodeIP from the IP header gives the same layer-3/4 summary.
			var q Parsed
			if r2 := DecodeIP(b, int(p.L3Off), &q); r2 != OK {
				t.Fatalf("DecodeIP = %v where Decode = OK", r2)
			}
			q.VLAN, q.Flags = p.VLAN, q.Flags|p.Flags&FlagVLAN
			if q != p {
				t.Fatalf("DecodeIP %+v\nDecode   %+v", q, p)
			}
			VerifyL4Checksum(b, &p)
			VerifyIPv4HeaderChecksum(b, &p)
		case NotIP:
			if int(p.L3Off) > len(b) || p.L3Off != p.L4Off || p.L4Off != p.PayOff || int(p.Len) > len(b) {
				t.Fatalf("NotIP offsets: %+v", p)
			}
		}
	})
}

func FuzzDecodeEmbedded(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecodeEmbedded.
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		var p, q Parsed
		r := DecodeEmbedded(b, off, &p)
		if r != OK {
			// Only a packet cut short gets more leeway than DecodeIP.
			if r2 := DecodeIP(b, off, &q); r2 == OK {
				t.Fatalf("DecodeEmbedded = %v but DecodeIP = OK: %+v", r, q)
			}
			return
		}
		if int(p.L3Off) != off {
			t.Fatalf("L3Off %d, want %d", p.L3Off, off)
		}
		checkParsed(t, b, &p)
		// A complete embedded packet decodes exactly as with DecodeIP.
		if p.Flags&FlagTruncated == 0 {
			if r2 := DecodeIP(b, off, &q); r2 != OK || q != p {
				t.Fatalf("DecodeIP %v %+v\nEmbedded %+v", r2, q, p)
			}
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzRoundTrip.
	f.Fuzz(func(t *testing.T, v6 bool, vlanTCI uint16, hasVLAN bool, l4 uint8, sport, dport uint16, seq, ack uint32,
		tcpFlags, ttl, tos uint8, id, fragOff uint16, more bool, addrs, ipOpts, ext, l4Opts, payload []byte) {
		s := frameSpec{v6: v6, vlanTCI: vlanTCI, hasVLAN: hasVLAN, l4: l4, sport: sport, dport: dport, seq: seq, ack: ack,
			tcpFlags: tcpFlags, ttl: ttl, tos: tos, id: id, fragOff: fragOff, more: more,
			addrs: addrs, ipOpts: ipOpts, ext: ext, l4Opts: l4Opts, payload: payload}
		fr, want := s.build()
		b := AppendFrame(nil, fr)
		var p Parsed
		if r := Decode(b, &p); r != OK {
			t.Fatalf("Decode = %v\n% x", r, b)
		}
		if p != want {
			t.Fatalf("round trip:\n got  %+v\n want %+v", p, want)
		}
		if !p.V6 && !VerifyIPv4HeaderChecksum(b, &p) {
			t.Fatal("IPv4 header checksum")
		}
		if p.Flags&(FlagMoreFrags|FlagNonFirstFrag) == 0 && !VerifyL4Checksum(b, &p) {
			t.Fatal("transport checksum")
		}
	})
}
