package synproxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/siphash"
)

var (
	client = netip.MustParseAddr("198.51.100.7")
	vip    = netip.MustParseAddr("10.0.0.100")
	rs     = netip.MustParseAddr("172.16.0.11")
)

// synFrame builds a client SYN (IPv4 or IPv6) with an MSS option and
// returns the frame in a buffer with room to grow, and its decode.
func synFrame(t *testing.T, v6 bool, flags packet.TCPFlags, seq, ack uint32, payload []byte) ([]byte, *packet.Parsed) {
	t.Helper()
	src, dst := client, vip
	if v6 {
		src, dst = netip.MustParseAddr("2001:db8:c::7"), netip.MustParseAddr("2001:db8::100")
	}
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: [6]byte{2, 0, 0, 0, 0, 0xc1}, Dst: [6]byte{2, 0, 0, 0, 0, 0xd1}},
		TCP:      &packet.TCPFields{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Flags: flags, Window: 29200, Options: []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}},
		Payload:  payload,
	}
	if v6 {
		f.IPv6 = &packet.IPv6Fields{Src: src, Dst: dst, HopLimit: 64}
	} else {
		f.IPv4 = &packet.IPv4Fields{Src: src, Dst: dst, TTL: 64, DF: true}
	}
	b := packet.AppendFrame(make([]byte, 0, 2048), &f)
	var p packet.Parsed
	if r := packet.Decode(b, &p); r != packet.OK {
		t.Fatalf("decode: %v", r)
	}
	return b[:cap(b)], &p
}

func checkTCP(t *testing.T, frame []byte) (*packet.Parsed, packet.TCP) {
	t.Helper()
	var p packet.Parsed
	if r := packet.Decode(frame, &p); r != packet.OK || p.Proto != packet.ProtoTCP {
		t.Fatalf("decode %v proto %d", r, p.Proto)
	}
	seg := packet.TCP(frame[p.L4Off:p.Len])
	if !seg.IsChecksumValid(packet.PseudoSum(p.V6, &p.Src, &p.Dst, packet.ProtoTCP, len(seg))) {
		t.Error("TCP checksum wrong")
	}
	if !p.V6 && packet.Checksum(0, frame[p.L3Off:p.L4Off]) != 0 {
		t.Error("IPv4 header checksum wrong")
	}
	return &p, seg
}

func TestCookieRoundTrip(t *testing.T) {
	c := New(siphash.Key{K0: 1, K1: 2})
	_, p := synFrame(t, false, packet.TCPSyn, 1000, 0, nil)
	now := clock.Seconds(1 << 20)
	ck := c.Make(p, 1000, 1460, now)
	if mss, ok := c.Check(p, 1000, ck, now.Add(time.Minute)); !ok || mss != 1460 {
		t.Fatalf("check a minute later: mss %d ok %v", mss, ok)
	}
	if _, ok := c.Check(p, 1000, ck, now.Add(140*time.Second)); ok {
		t.Error("a cookie older than two periods was accepted")
	}
	if _, ok := c.Check(p, 1001, ck, now); ok {
		t.Error("accepted with another client ISN")
	}
	if _, ok := c.Check(p, 1000, ck^1, now); ok {
		t.Error("accepted a changed cookie")
	}
	q := *p
	q.SrcPort++
	if _, ok := c.Check(&q, 1000, ck, now); ok {
		t.Error("accepted for another client port")
	}
	q = *p
	q.Src[15]++
	if _, ok := c.Check(&q, 1000, ck, now); ok {
		t.Error("accepted for another client address")
	}
	if _, ok := New(siphash.Key{K0: 1, K1: 3}).Check(p, 1000, ck, now); ok {
		t.Error("accepted under another key")
	}
	// Forgery by guessing: of 100,000 random cookies for one tuple, about
	// 100000/2^24·2 pass; more than a handful means the hash is weak.
	passed := 0
	for i := uint32(0); i < 100000; i++ {
		if _, ok := c.Check(p, 1000, i*2654435761, now); ok {
			passed++
		}
	}
	if passed > 3 {
		t.Errorf("%d of 100000 guessed cookies passed", passed)
	}
}

func TestMSSRounding(t *testing.T) {
	c := New(siphash.Key{})
	_, p := synFrame(t, false, packet.TCPSyn, 1, 0, nil)
	for _, tt := range []struct{ in, want uint16 }{{0, 536}, {100, 536}, {536, 536}, {1300, 1280}, {1440, 1440}, {1460, 1460}, {9000, 1460}} {
		if got := MSSOf(c.Make(p, 1, tt.in, 0)); got != tt.want {
			t.Errorf("mss %d → %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestClientMSS(t *testing.T) {
	b, p := synFrame(t, false, packet.TCPSyn, 1, 0, nil)
	if got := ClientMSS(b[p.L4Off:p.Len]); got != 1460 {
		t.Errorf("mss %d", got)
	}
	for _, opts := range [][]byte{{}, {1, 1, 1, 1}, {0, 2, 4, 5}, {2, 9, 5, 180}, {3, 0, 2, 4}} {
		seg := make([]byte, 20+len(opts))
		seg[12] = byte(len(seg)/4) << 4
		copy(seg[20:], opts)
		if got := ClientMSS(seg); got != 0 {
			t.Errorf("options %v: mss %d", opts, got)
		}
	}
}

func TestRewrites(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		buf, p := synFrame(t, v6, packet.TCPSyn, 5000, 0, nil)
		n, ok := SynAck(buf, 0, p, 0xabcdef01, 1460)
		if !ok {
			t.Fatal("SynAck")
		}
		q, seg := checkTCP(t, buf[:n])
		if q.Src != p.Dst || q.Dst != p.Src || seg.SourcePort() != 80 || seg.DestinationPort() != 40000 ||
			seg.Seq() != 0xabcdef01 || seg.Ack() != 5001 || seg.Flags() != packet.TCPSyn|packet.TCPAck ||
			ClientMSS(seg) != 1460 || len(seg.Payload()) != 0 {
			t.Errorf("v6=%v SYN+ACK: %+v seq %d ack %d flags %v", v6, q, seg.Seq(), seg.Ack(), seg.Flags())
		}
		if buf[0] != 2 || buf[5] != 0xc1 || buf[11] != 0xd1 {
			t.Errorf("MACs not swapped: % x", buf[:12])
		}

		// The client's ACK (with data) becomes the SYN to the server.
		buf, p = synFrame(t, v6, packet.TCPAck|packet.TCPPsh, 5001, 0xabcdef02, []byte("GET / HTTP/1.0\r\n\r\n"))
		d := netip.MustParseAddr("172.16.0.11").As16()
		if v6 {
			d = netip.MustParseAddr("2001:db8:b::11").As16()
		}
		n, ok = Syn(buf, 0, p, 5000, 1440, &d, 8080)
		if !ok {
			t.Fatal("Syn")
		}
		q, seg = checkTCP(t, buf[:n])
		if q.Src != p.Src || q.Dst != d || seg.SourcePort() != 40000 || seg.DestinationPort() != 8080 ||
			seg.Seq() != 5000 || seg.Ack() != 0 || seg.Flags() != packet.TCPSyn || ClientMSS(seg) != 1440 || len(seg.Payload()) != 0 {
			t.Errorf("v6=%v SYN: %+v seq %d flags %v", v6, q, seg.Seq(), seg.Flags())
		}

		// The server's SYN+ACK becomes the ACK back to it.
		buf, p = synFrame(t, v6, packet.TCPSyn|packet.TCPAck, 777000, 5001, nil)
		n, ok = AckServer(buf, 0, p)
		if !ok {
			t.Fatal("AckServer")
		}
		q, seg = checkTCP(t, buf[:n])
		if q.Src != p.Dst || q.Dst != p.Src || seg.Seq() != 5001 || seg.Ack() != 777001 || seg.Flags() != packet.TCPAck || seg.DataOffset() != 20 {
			t.Errorf("v6=%v ACK: seq %d ack %d flags %v", v6, seg.Seq(), seg.Ack(), seg.Flags())
		}

		// Shifts keep the checksum right.
		buf, p = synFrame(t, v6, packet.TCPAck, 9, 100, []byte("x"))
		ShiftAck(buf, p, 1<<31+5)
		if _, seg = checkTCP(t, buf[:p.Len]); seg.Ack() != 100+1<<31+5 {
			t.Errorf("shifted ack %d", seg.Ack())
		}
		ShiftSeq(buf, p, 10)
		if _, seg = checkTCP(t, buf[:p.Len]); seg.Seq() != 0xffffffff {
			t.Errorf("shifted seq %d", seg.Seq())
		}
	}
	// Too small a buffer: nothing written.
	buf, p := synFrame(t, false, packet.TCPSyn, 1, 0, nil)
	short := buf[:int(p.Len)-20]
	before := append([]byte(nil), short...)
	if _, ok := SynAck(short, 0, p, 1, 1460); ok || string(before) != string(short) {
		t.Error("SynAck wrote past a short buffer or changed it")
	}
}

func TestNoAllocs(t *testing.T) {
	c := New(siphash.Key{K0: 9})
	buf, p := synFrame(t, false, packet.TCPSyn, 1, 0, nil)
	n := testing.AllocsPerRun(100, func() {
		ck := c.Make(p, 1, 1460, 0)
		c.Check(p, 1, ck, 0)
		SynAck(buf, 0, p, ck, 1460)
		ClientMSS(buf[p.L4Off:])
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzClientMSS(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 2, 0, 0, 0, 0, 0, 0, 2, 4, 5, 0xb4})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 2, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7, 2})
	f.Fuzz(func(t *testing.T, seg []byte) {
		mss := ClientMSS(seg)
		if mss != 0 && len(seg) < 24 {
			t.Fatalf("mss %d from %d bytes", mss, len(seg))
		}
	})
}
