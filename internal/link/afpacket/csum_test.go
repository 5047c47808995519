package afpacket

import (
	"encoding/binary"
	"testing"
)

// l4Frame builds an Ethernet frame (optionally VLAN-tagged) with an IPv4
// or IPv6 header and a TCP or UDP segment of payload bytes. It returns
// the frame, the offset of the checksum field, the correct checksum and
// the partial one (pseudo-header sum only) a CHECKSUM_PARTIAL skb holds.
func l4Frame(v6, tcp, vlan bool, payload int) (f []byte, at int, full, partial uint16) {
	be := binary.BigEndian
	f = make([]byte, 12, 200)
	if vlan {
		f = be.AppendUint16(f, 0x8100)
		f = be.AppendUint16(f, 100)
	}
	proto := byte(17)
	l4len := 8 + payload
	if tcp {
		proto, l4len = 6, 20+payload
	}
	var pseudo uint64
	if v6 {
		f = be.AppendUint16(f, 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		be.PutUint16(ip[4:], uint16(l4len))
		ip[6], ip[7] = proto, 64
		for i := 8; i < 40; i++ {
			ip[i] = byte(i * 13)
		}
		f = append(f, ip...)
		pseudo = sum16(ip[8:40]) + uint64(l4len) + uint64(proto)
	} else {
		f = be.AppendUint16(f, 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		be.PutUint16(ip[2:], uint16(20+l4len))
		ip[8], ip[9] = 64, proto
		copy(ip[12:], []byte{10, 1, 2, 3, 192, 168, 7, 9})
		f = append(f, ip...)
		pseudo = sum16(ip[12:20]) + uint64(l4len) + uint64(proto)
	}
	l4 := len(f)
	seg := make([]byte, l4len)
	for i := range seg {
		seg[i] = byte(i*7 + 3)
	}
	at = 6
	if tcp {
		at = 16
		seg[12] = 5 << 4
	} else {
		be.PutUint16(seg[4:], uint16(l4len))
	}
	be.PutUint16(seg[at:], 0)
	full = ^fold(pseudo + sum16(seg))
	if !tcp && full == 0 {
		full = 0xffff
	}
	partial = fold(pseudo)
	be.PutUint16(seg[at:], partial)
	f = append(f, seg...)
	return f, l4 + at, full, partial
}

func TestCompleteChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				for _, n := range []int{0, 1, 33} {
					f, at, full, _ := l4Frame(v6, tcp, vlan, n)
					if !completeChecksum(f) {
						t.Fatalf("v6 %v tcp %v vlan %v payload %d: not completed", v6, tcp, vlan, n)
					}
					if got := binary.BigEndian.Uint16(f[at:]); got != full {
						t.Fatalf("v6 %v tcp %v vlan %v payload %d: checksum %#04x, want %#04x", v6, tcp, vlan, n, got, full)
					}
				}
			}
		}
	}
	// Frames it must leave alone.
	frag, _, _, _ := l4Frame(false, false, false, 10)
	frag[14+6] = 0x20 // more fragments
	icmp, _, _, _ := l4Frame(false, false, false, 10)
	icmp[14+9] = 1
	short, _, _, _ := l4Frame(false, true, false, 0)
	short = short[:len(short)-5]
	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	for name, f := range map[string][]byte{"fragment": frag, "icmp": icmp, "short tcp": short, "arp": arp, "runt": arp[:10]} {
		before := append([]byte(nil), f...)
		if completeChecksum(f) || string(before) != string(f) {
			t.Errorf("%s: completed or changed", name)
		}
	}
}

// The ring walker completes CHECKSUM_PARTIAL frames and counts them.
func TestRxCompletesPartialChecksum(t *testing.T) {
	r := newFakeRing(4096, 2)
	f, at, full, _ := l4Frame(false, false, false, 20)
	writeBlock(r.mem[:4096], tpStatusUser, []fakePkt{{data: f, csumPartial: true}, {data: arpFrame(), csumPartial: true}})
	frames := make([]linkFrame, 2)
	if n := r.drain(frames, testBufs(2, 256), 0); n != 2 {
		t.Fatalf("drained %d", n)
	}
	if got := binary.BigEndian.Uint16(frames[0].Bytes()[at:]); got != full || r.csumFixed != 1 || r.csumLeft != 1 {
		t.Fatalf("checksum %#04x want %#04x, fixed %d left %d", got, full, r.csumFixed, r.csumLeft)
	}
}

func arpFrame() []byte {
	a := make([]byte, 60)
	binary.BigEndian.PutUint16(a[12:], 0x0806)
	return a
}

// FuzzCompleteChecksum: any frame, no panic, and a completed frame stays
// the same length and changes only in the two checksum bytes.
func FuzzCompleteChecksum(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			fr, _, _, _ := l4Frame(v6, tcp, v6 == tcp, 9)
			f.Add(fr)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := append([]byte(nil), b...)
		ok := completeChecksum(b)
		diff := 0
		for i := range b {
			if b[i] != before[i] {
				diff++
			}
		}
		if (!ok && diff != 0) || diff > 2 {
			t.Fatalf("completed %v, %d bytes changed", ok, diff)
		}
	})
}
