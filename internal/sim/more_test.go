package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// TestLargeResponse: a 1 MiB HTTP response crosses the window many times
// (segments of MSS, at most Window bytes in flight) and arrives whole.
func TestLargeResponse(t *testing.T) {
	for _, mode := range []string{"nat", "dr"} {
		l := newLab(t, mode, 2, Config{})
		id := l.start(t, HTTP10, netip.AddrPortFrom(vip6, 80), &SessionParams{ResponseBytes: 1 << 20})
		l.n.RunFor(time.Minute)
		r := l.n.Report()
		noProblems(t, &r)
		c := l.n.Conn(l.n.Session(id).Conns[0])
		if !c.Completed || c.BytesRecv < 1<<20 || c.BytesRecv > 1<<20+200 {
			t.Errorf("%s: conn %+v", mode, c)
		}
		segs := (1<<20)/1400 + 1
		if got := r.ServerSum.Sent; got < uint64(segs) || got > uint64(segs)+10 {
			t.Errorf("%s: server sent %d frames, want about %d", mode, got, segs)
		}
		if r.Clients.Duplicates != 0 || r.ServerSum.Duplicates != 0 {
			t.Errorf("%s: retransmissions on a lossless path: %+v %+v", mode, r.Clients, r.ServerSum)
		}
	}
}

// TestSteadyStateAllocs: once a long telnet session runs, moving its
// packets through the network, a fake director, the client and the server
// allocates nothing (frame buffers are pooled, scratch space reused).
func TestSteadyStateAllocs(t *testing.T) {
	for _, mode := range []string{"dr", "nat", "tun-gue"} {
		l := newLab(t, mode, 2, Config{})
		id := l.start(t, Telnet, netip.AddrPortFrom(vip4, 23), &SessionParams{Lines: 100000, LineThink: time.Second})
		l.n.RunFor(time.Minute) // warm up
		before := l.n.Report().Wire.Frames
		allocs := testing.AllocsPerRun(20, func() { l.n.RunFor(10 * time.Second) })
		frames := l.n.Report().Wire.Frames - before
		if frames < 400 {
			t.Fatalf("%s: only %d frames moved", mode, frames)
		}
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per 10 s of telnet (%d frames in 21 runs)", mode, allocs, frames)
		}
		if c := l.n.Conn(l.n.Session(id).Conns[0]); c.Failed || c.Responses < 60 {
			t.Errorf("%s: conn %+v", mode, c)
		}
	}
}

// TestDirectorPortsTickPass: frames to a second port's MAC arrive with
// Port 1; Tx on a port that does not exist is counted as bad; Tick runs
// every TickEvery; OnPass sees passed frames.
func TestDirectorPortsTickPass(t *testing.T) {
	n := New(Config{})
	mac1 := [6]byte{0x02, 0xd0, 0, 0, 0, 2}
	var ports []uint16
	var ticks []clock.Time
	passed := 0
	d := DirectorFunc(func(frames []link.Frame, now clock.Time) {
		for i := range frames {
			ports = append(ports, frames[i].Port)
			if frames[i].Port == 0 {
				frames[i].Action = link.Pass
			} else {
				frames[i].Action, frames[i].Port = link.Tx, 7
			}
		}
	})
	dh, err := n.AddDirector(d, DirectorConfig{
		Ports: []DirectorPort{{MAC: dirMAC, Addrs: []netip.Addr{dirAddr4}}, {MAC: mac1, Addrs: []netip.Addr{netip.MustParseAddr("10.0.2.1")}}},
		VIPs:  []netip.Addr{vip4}, TickEvery: time.Second,
		Tick:   func(now clock.Time) { ticks = append(ticks, now) },
		OnPass: func(frame []byte, port uint16, now clock.Time) { passed++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, mac := range [][6]byte{dirMAC, mac1} {
		f := packet.Frame{Ethernet: packet.EthernetFields{Dst: mac, Src: [6]byte{2, 9, 9, 9, 9, 9}},
			IPv4: &packet.IPv4Fields{TTL: 64, Src: netip.MustParseAddr("192.0.2.1"), Dst: vip4},
			UDP:  &packet.UDPFields{SrcPort: 1, DstPort: 2}}
		if err := n.Inject(packet.AppendFrame(nil, &f)); err != nil {
			t.Fatal(err)
		}
	}
	start := n.Now()
	n.RunFor(3500 * time.Millisecond)
	if len(ports) != 2 || ports[0] != 0 || ports[1] != 1 {
		t.Errorf("ingress ports %v", ports)
	}
	c := dh.Counters()
	if c.Pass != 1 || passed != 1 || c.BadTx != 1 || c.Tx != 0 || c.RecvByPort[0] != 1 || c.RecvByPort[1] != 1 {
		t.Errorf("counters %+v, passed %d", c, passed)
	}
	if len(ticks) != 3 || ticks[0] != start.Add(time.Second) || c.Ticks != 3 {
		t.Errorf("ticks %v", ticks)
	}
	r := n.Report()
	if len(r.Problems()) != 1 {
		t.Errorf("problems %v, want the bad Tx", r.Problems())
	}
	// A stopped director drops frames before Process.
	dh.Stop()
	f := packet.Frame{Ethernet: packet.EthernetFields{Dst: dirMAC}, IPv4: &packet.IPv4Fields{TTL: 1, Dst: vip4}}
	n.Inject(packet.AppendFrame(nil, &f))
	n.RunFor(time.Second)
	if c := dh.Counters(); c.Dropped != 1 || c.Frames != 2 {
		t.Errorf("stopped director counters %+v", c)
	}
}

// TestUnknownAndMisdirected: frames nobody owns are counted on the wire;
// a frame to a client that belongs to no connection is unexpected; a NAT
// server does not accept frames for a VIP.
func TestUnknownAndMisdirected(t *testing.T) {
	l := newLab(t, "nat", 1, Config{})
	build := func(dst [6]byte, src, dstIP netip.Addr) []byte {
		f := packet.Frame{Ethernet: packet.EthernetFields{Dst: dst, Src: dirMAC},
			IPv4: &packet.IPv4Fields{TTL: 64, Src: src, Dst: dstIP},
			TCP:  &packet.TCPFields{SrcPort: 80, DstPort: 40000, Flags: packet.TCPAck, Seq: 1, Ack: 1}}
		return packet.AppendFrame(nil, &f)
	}
	l.n.Inject(build([6]byte{2, 1, 2, 3, 4, 5}, vip4, l.client.Addr4()))
	l.n.Inject(build(l.client.MAC(), vip4, l.client.Addr4()))
	l.n.Inject(build(l.servers[0].MAC(), l.client.Addr4(), vip4))
	l.n.Inject([]byte("0123456789abcdef")[:14])
	l.n.RunFor(time.Millisecond)
	r := l.n.Report()
	if r.Wire.UnknownMAC != 2 || r.Clients.Unexpected != 1 || r.ServerSum.Unexpected != 1 {
		t.Errorf("wire %+v clients %+v servers %+v", r.Wire, r.Clients, r.ServerSum)
	}
	// The server does not answer a frame that is not for it.
	if r.ServerSum.Sent != 0 {
		t.Errorf("server answered: %+v", r.ServerSum)
	}
}

// TestTimeWaitReuse: a SYN for a pair the server holds in TIME_WAIT
// replaces the entry when its sequence number is above the old one
// (RFC 1122 4.2.2.13, as Linux does) and is answered with an ACK of the
// old connection otherwise.
func TestTimeWaitReuse(t *testing.T) {
	for _, higher := range []bool{true, false} {
		l := newLab(t, "dr", 1, Config{})
		id := l.start(t, HTTP10, netip.AddrPortFrom(vip4, 80), nil)
		l.n.RunFor(time.Second)
		conn := l.n.Conn(l.n.Session(id).Conns[0])
		s := l.servers[0]
		if got := s.StateCounts(); got["TIME_WAIT"] != 1 {
			t.Fatalf("server states %v", got)
		}
		tw := s.slots[s.conns[keyFor(packet.ProtoTCP, netip.AddrPortFrom(vip4, 80), conn.Client)]]
		seq := tw.rcvNxt + 100000
		if !higher {
			seq = tw.rcvNxt - 100000
		}
		f := packet.Frame{Ethernet: packet.EthernetFields{Dst: s.MAC(), Src: dirMAC},
			IPv4: &packet.IPv4Fields{TTL: 64, Src: conn.Client.Addr(), Dst: vip4},
			TCP:  &packet.TCPFields{SrcPort: conn.Client.Port(), DstPort: 80, Seq: seq, Flags: packet.TCPSyn, Window: 65535}}
		var answer packet.Parsed
		l.n.tap = func(h *host, b []byte) {
			if h.client != nil {
				packet.Decode(b, &answer)
			}
		}
		l.n.Inject(packet.AppendFrame(nil, &f))
		l.n.RunFor(time.Millisecond)
		st := s.Stats()
		if higher {
			if st.Reused != 1 || st.Accepted != 2 || answer.TCPFlags != packet.TCPSyn|packet.TCPAck {
				t.Errorf("higher seq: stats %+v, answer flags %v", st, answer.TCPFlags)
			}
			if ns := s.Netstat(); len(ns) != 1 || ns[0].State != "SYN_RECV" {
				t.Errorf("netstat %v", ns)
			}
		} else {
			if st.Reused != 0 || st.Accepted != 1 || answer.TCPFlags != packet.TCPAck || s.Counters().Duplicates != 1 {
				t.Errorf("lower seq: stats %+v counters %+v, answer flags %v", st, s.Counters(), answer.TCPFlags)
			}
		}
	}
}

func TestAddServers(t *testing.T) {
	n := New(Config{})
	ss, err := n.AddServers(3, ServerConfig{Name: "web", Mode: DR, VIPs: []netip.Addr{vip4}},
		netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("2001:db8:1::/64"))
	if err != nil || len(ss) != 3 {
		t.Fatal(ss, err)
	}
	if ss[2].Name() != "web3" || ss[2].Addrs()[0] != netip.MustParseAddr("10.1.0.3") || ss[2].Addrs()[1] != netip.MustParseAddr("2001:db8:1::3") {
		t.Errorf("server 3: %s %v", ss[2].Name(), ss[2].Addrs())
	}
	if mac, ok := n.Resolve(netip.MustParseAddr("2001:db8:1::2")); !ok || mac != ss[1].MAC() {
		t.Errorf("resolve: %v %v", mac, ok)
	}
	if _, err := n.AddServers(2, ServerConfig{Name: "x", Mode: NAT}, netip.MustParsePrefix("10.2.0.0/31"), netip.Prefix{}); err == nil {
		t.Error("tiny prefix accepted")
	}
}
