package sim

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// fastParams keep think times short so sessions end within seconds.
var fastParams = SessionParams{LineThink: 2 * time.Second, RequestThink: 500 * time.Millisecond, Lines: 3, ResponseBytes: 3000}

// TestExchanges runs every session kind through every forwarding mode in
// both families and checks the outcome end to end.
func TestExchanges(t *testing.T) {
	modes := []string{"nat", "dr", "tun-ipip", "tun-gue", "tun-ipip6", "tun-gue6"}
	kinds := []struct {
		kind  Kind
		port  uint16
		conns int
	}{
		{HTTP10, 80, 1}, {HTTP11, 80, 1}, {Telnet, 23, 1}, {FTP, 21, 2}, {UDP, 53, 1},
	}
	for _, mode := range modes {
		for _, v6 := range []bool{false, true} {
			for _, k := range kinds {
				vip, fam := vip4, "v4"
				if v6 {
					vip, fam = vip6, "v6"
				}
				t.Run(mode+"/"+fam+"/"+k.kind.String(), func(t *testing.T) {
					l := newLab(t, mode, 3, Config{Seed: 7})
					l.fake.persist = k.kind == FTP // FTP needs persistence
					svc := netip.AddrPortFrom(vip, k.port)
					id := l.start(t, k.kind, svc, &fastParams)
					l.n.RunFor(5 * time.Minute)
					r := l.n.Report()
					noProblems(t, &r)
					s := l.n.Session(id)
					if !s.Completed || s.PersistenceBreak {
						t.Fatalf("session not completed: %+v\n%s", s, &r)
					}
					if len(s.Conns) != k.conns {
						t.Fatalf("session used %d connections, want %d", len(s.Conns), k.conns)
					}
					local := l.client.Addr4()
					if v6 {
						local = l.client.Addr6()
					}
					for _, id := range s.Conns {
						c := l.n.Conn(id)
						if !c.Completed || c.Server == "" || c.Switches != 0 || c.AddrMismatch || c.Client.Addr() != local {
							t.Errorf("conn %+v", c)
						}
						srv := l.n.Server(c.Server)
						if !slices.Contains(srv.Seen(), c.Client) {
							t.Errorf("server %s did not log client %v: %v", c.Server, c.Client, srv.Seen())
						}
					}
					c := l.n.Conn(s.Conns[0])
					wantResp := map[Kind]int{HTTP10: 1, HTTP11: 3, Telnet: 4, FTP: 5, UDP: 3}[k.kind]
					if c.Responses != wantResp {
						t.Errorf("responses = %d, want %d", c.Responses, wantResp)
					}
					if k.kind == HTTP10 && c.BytesRecv < 3000 {
						t.Errorf("received %d bytes, want the 3000-byte body and headers", c.BytesRecv)
					}
					// Every server's log holds only the client's address.
					for _, srv := range l.servers {
						for _, a := range srv.Seen() {
							if a.Addr() != local {
								t.Errorf("server %s saw %v", srv.Name(), a)
							}
						}
					}
					if mode != "nat" && mode != "dr" {
						dec := uint64(0)
						for _, srv := range l.servers {
							dec += srv.Counters().Decapsulated
						}
						if dec == 0 {
							t.Error("TUN server decapsulated nothing")
						}
					}
				})
			}
		}
	}
}

// TestSeedListings reproduces the LVS-DR listings of the seed text:
// telnet (ESTABLISHED on both ends, then TIME_WAIT on the real server for a
// minute), HTTP/1.0 (TIME_WAIT on the real server) and FTP (the control
// connection stays ESTABLISHED while the client idles at the prompt).
func TestSeedListings(t *testing.T) {
	l := newLab(t, "dr", 2, Config{Seed: 1})
	l.fake.persist = true
	telnet := netip.AddrPortFrom(vip4, 23)
	id := l.start(t, Telnet, telnet, &SessionParams{Lines: 2, LineThink: 10 * time.Second})
	l.n.RunFor(5 * time.Second)
	cs := l.client.Netstat()
	if len(cs) != 1 || cs[0].State != "ESTABLISHED" || cs[0].Remote != telnet {
		t.Fatalf("client netstat during telnet: %v", cs)
	}
	var srv *Server
	for _, s := range l.servers {
		if len(s.Netstat()) > 0 {
			srv = s
		}
	}
	if srv == nil {
		t.Fatal("no server has the telnet connection")
	}
	ss := srv.Netstat()
	if len(ss) != 1 || ss[0].State != "ESTABLISHED" || ss[0].Local != telnet || ss[0].Remote != cs[0].Local {
		t.Fatalf("server netstat during telnet: %v", ss)
	}
	l.n.RunFor(2 * time.Minute)
	if !l.n.Session(id).Completed {
		t.Fatalf("telnet session: %+v", l.n.Session(id))
	}
	if cs := l.client.Netstat(); len(cs) != 0 {
		t.Errorf("client netstat after logout: %v", cs)
	}
	if got := srv.StateCounts(); got["TIME_WAIT"] != 1 || len(got) != 1 {
		t.Errorf("server states after logout: %v", got)
	}
	l.n.RunFor(61 * time.Second)
	if got := srv.StateCounts(); len(got) != 0 {
		t.Errorf("server states a minute later: %v", got)
	}

	// HTTP/1.0: the server closes and holds TIME_WAIT; the client nothing.
	id = l.start(t, HTTP10, netip.AddrPortFrom(vip4, 80), nil)
	l.n.RunFor(time.Second)
	if !l.n.Session(id).Completed {
		t.Fatal("http session did not complete")
	}
	srv = l.n.Server(l.n.Conn(l.n.Session(id).Conns[0]).Server)
	if got := srv.StateCounts(); got["TIME_WAIT"] != 1 {
		t.Errorf("server states after HTTP/1.0: %v", got)
	}
	if cs := l.client.Netstat(); len(cs) != 0 {
		t.Errorf("client netstat after HTTP/1.0: %v", cs)
	}

	// FTP: while the client idles at the prompt, only the control
	// connection is ESTABLISHED at the client; the data connection is gone.
	id = l.start(t, FTP, netip.AddrPortFrom(vip4, 21), &SessionParams{LineThink: time.Minute})
	l.n.RunFor(2 * time.Second)
	cs = l.client.Netstat()
	if len(cs) != 1 || cs[0].State != "ESTABLISHED" || cs[0].Remote.Port() != 21 {
		t.Errorf("client netstat at the ftp prompt: %v", cs)
	}
	l.n.RunFor(5 * time.Minute)
	if s := l.n.Session(id); !s.Completed || s.PersistenceBreak {
		t.Errorf("ftp session: %+v", s)
	}
	r := l.n.Report()
	noProblems(t, &r)
}

// TestTunnelFramesFromBuilders feeds a TUN server frames built with
// packet.AppendFrame (IPIP both ways, GUE with and without options and
// UDP checksum) and checks that it accepts the inner SYN and answers it
// from the VIP straight to the client's MAC; and that it refuses what a TUN
// server must not accept.
func TestTunnelFramesFromBuilders(t *testing.T) {
	client4 := netip.MustParseAddr("192.0.2.10")
	client6 := netip.MustParseAddr("2001:db8:9::10")
	syn := func(v6 bool) (*packet.IPv4Fields, *packet.IPv6Fields, *packet.TCPFields) {
		tcp := &packet.TCPFields{SrcPort: 40001, DstPort: 80, Seq: 1000, Flags: packet.TCPSyn, Window: 65535}
		if v6 {
			return nil, &packet.IPv6Fields{HopLimit: 64, Src: client6, Dst: vip6}, tcp
		}
		return &packet.IPv4Fields{TTL: 64, Src: client4, Dst: vip4}, nil, tcp
	}
	outer4 := func() *packet.IPv4Fields { return &packet.IPv4Fields{TTL: 64, Src: dirAddr4, Dst: rip4(1)} }
	outer6 := func() *packet.IPv6Fields { return &packet.IPv6Fields{HopLimit: 64, Src: dirAddr6, Dst: rip6(1)} }
	tests := []struct {
		name     string
		build    func() packet.Frame
		mode     Mode
		accepted bool
		counter  func(HostCounters) uint64 // must become 1 when not accepted
	}{
		{"ipip v4 in v4", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), IPv4: i4, TCP: tcp}
		}, TUN, true, nil},
		{"ipip v6 in v4", func() packet.Frame {
			_, i6, tcp := syn(true)
			return packet.Frame{OuterIPv4: outer4(), IPv6: i6, TCP: tcp}
		}, TUN, true, nil},
		{"ipip v4 in v6", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv6: outer6(), IPv4: i4, TCP: tcp}
		}, TUN, true, nil},
		{"gue v4 in v4 with checksum", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), OuterUDP: &packet.UDPFields{SrcPort: 999, DstPort: 5555}, GUE: &packet.GUEFields{}, IPv4: i4, TCP: tcp}
		}, TUN, true, nil},
		{"gue v6 in v6 without checksum", func() packet.Frame {
			_, i6, tcp := syn(true)
			return packet.Frame{OuterIPv6: outer6(), OuterUDP: &packet.UDPFields{SrcPort: 999, DstPort: 5555, NoChecksum: true}, GUE: &packet.GUEFields{}, IPv6: i6, TCP: tcp}
		}, TUN, true, nil},
		{"gue with options", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), OuterUDP: &packet.UDPFields{SrcPort: 999, DstPort: 5555}, GUE: &packet.GUEFields{Options: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, IPv4: i4, TCP: tcp}
		}, TUN, true, nil},
		{"gue to another port", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), OuterUDP: &packet.UDPFields{SrcPort: 999, DstPort: 6080}, GUE: &packet.GUEFields{}, IPv4: i4, TCP: tcp}
		}, TUN, false, nil}, // an ordinary UDP datagram to the RIP: echoed, no TCP accepted
		{"gue control message", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), OuterUDP: &packet.UDPFields{SrcPort: 999, DstPort: 5555}, GUE: &packet.GUEFields{Control: true, Proto: 4}, IPv4: i4, TCP: tcp}
		}, TUN, false, func(c HostCounters) uint64 { return c.Malformed }},
		{"plain frame to the VIP", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{IPv4: i4, TCP: tcp}
		}, TUN, false, func(c HostCounters) uint64 { return c.Unexpected }},
		{"ipip to a DR server", func() packet.Frame {
			i4, _, tcp := syn(false)
			return packet.Frame{OuterIPv4: outer4(), IPv4: i4, TCP: tcp}
		}, DR, false, func(c HostCounters) uint64 { return c.Unexpected }},
		{"inner packet not for a VIP", func() packet.Frame {
			i4, _, tcp := syn(false)
			i4.Dst = netip.MustParseAddr("10.9.9.9")
			return packet.Frame{OuterIPv4: outer4(), IPv4: i4, TCP: tcp}
		}, TUN, false, func(c HostCounters) uint64 { return c.Unexpected }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := New(Config{})
			s, err := n.AddServer(ServerConfig{Name: "rs1", Addrs: []netip.Addr{rip4(1), rip6(1)}, Mode: tt.mode, VIPs: []netip.Addr{vip4, vip6}, GUEPort: 5555})
			if err != nil {
				t.Fatal(err)
			}
			c, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{client4, client6}})
			if err != nil {
				t.Fatal(err)
			}
			var replies []packet.Parsed
			n.tap = func(h *host, b []byte) {
				if h.client != nil {
					var p packet.Parsed
					if packet.Decode(b, &p) == packet.OK {
						replies = append(replies, p)
					}
				}
			}
			f := tt.build()
			f.Ethernet = packet.EthernetFields{Dst: s.MAC(), Src: dirMAC}
			if err := n.Inject(packet.AppendFrame(nil, &f)); err != nil {
				t.Fatal(err)
			}
			n.RunFor(time.Millisecond)
			if got := s.Stats().Accepted == 1; got != tt.accepted {
				t.Fatalf("accepted = %v, want %v; server counters %+v", got, tt.accepted, s.Counters())
			}
			if !tt.accepted {
				if tt.counter != nil && tt.counter(s.Counters()) != 1 {
					t.Errorf("server counters %+v", s.Counters())
				}
				return
			}
			if s.Counters().Decapsulated != 1 {
				t.Errorf("decapsulated = %d", s.Counters().Decapsulated)
			}
			if len(replies) != 1 {
				t.Fatalf("client got %d frames, want the SYN+ACK", len(replies))
			}
			p := replies[0]
			vip := vip4
			if p.V6 {
				vip = vip6
			}
			if p.TCPFlags != packet.TCPSyn|packet.TCPAck || addrOf(p.Src, p.V6) != vip || p.SrcPort != 80 || p.DstPort != 40001 {
				t.Errorf("reply %+v", p)
			}
			// The client has no such connection: it counts the SYN+ACK.
			if c.Counters().Unexpected != 1 {
				t.Errorf("client counters %+v", c.Counters())
			}
			want := netip.AddrPortFrom(addrOf(p.Dst, p.V6), 40001)
			if seen := s.Seen(); len(seen) != 1 || seen[0] != want {
				t.Errorf("seen %v, want %v", seen, want)
			}
		})
	}
}

// TestBadChecksumsCounted: frames damaged on the way are detected by
// checksum verification at the receiver, counted, and reported as problems.
func TestBadChecksumsCounted(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		inbound bool // damage frames towards the server (else towards the client)
		damage  func(b []byte, p *packet.Parsed) bool
	}{
		{"tcp payload to client", HTTP10, false, func(b []byte, p *packet.Parsed) bool {
			if p.PayOff < p.Len {
				b[p.PayOff] ^= 0x20
				return true
			}
			return false
		}},
		{"tcp checksum to server", HTTP10, true, func(b []byte, p *packet.Parsed) bool { b[p.L4Off+16] ^= 1; return true }},
		{"ipv4 header to client", HTTP10, false, func(b []byte, p *packet.Parsed) bool { b[p.L3Off+8] ^= 1; return true }}, // TTL without checksum update
		{"udp payload to client", UDP, false, func(b []byte, p *packet.Parsed) bool { b[p.Len-1] ^= 1; return true }},
		{"udp payload to server", UDP, true, func(b []byte, p *packet.Parsed) bool { b[p.Len-1] ^= 1; return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, "nat", 1, Config{})
			damaged := 0
			l.fake.corrupt = func(b []byte, p *packet.Parsed, inbound bool) {
				if inbound == tt.inbound && damaged < 2 && tt.damage(b, p) {
					damaged++
				}
			}
			l.start(t, tt.kind, netip.AddrPortFrom(vip4, 80), nil)
			l.n.RunFor(time.Minute)
			r := l.n.Report()
			host := r.Clients
			if tt.inbound {
				host = r.ServerSum
			}
			if host.BadChecksum != uint64(damaged) || damaged == 0 {
				t.Errorf("bad checksums = %d, damaged %d", host.BadChecksum, damaged)
			}
			if p := r.Problems(); len(p) == 0 || !strings.Contains(strings.Join(p, ";"), "bad checksums") {
				t.Errorf("problems %v", p)
			}
			// The damaged frames were dropped and retransmitted: the
			// session still completes.
			if r.SessionsCompleted != 1 {
				t.Errorf("report:\n%s", &r)
			}
		})
	}
}

// TestSYNRetransmissionGivesUp: with a director that drops everything, the
// client sends the SYN 1+SYNRetries times with doubling timeouts, then fails.
func TestSYNRetransmissionGivesUp(t *testing.T) {
	tests := []struct {
		retries int
		after   time.Duration
	}{
		{0, 127 * time.Second}, // default: 6 retries, 1+2+4+...+64
		{2, 7 * time.Second},
	}
	for _, tt := range tests {
		n := New(Config{TCP: TCPConfig{SYNRetries: tt.retries}})
		var syns []clock.Time
		drop := DirectorFunc(func(frames []link.Frame, now clock.Time) {
			for range frames {
				syns = append(syns, now)
			}
		})
		if _, err := n.AddDirector(drop, DirectorConfig{Ports: []DirectorPort{{MAC: dirMAC}}, VIPs: []netip.Addr{vip4}}); err != nil {
			t.Fatal(err)
		}
		c, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
		if err != nil {
			t.Fatal(err)
		}
		start := n.Now()
		id, err := c.StartSession(HTTP10, netip.AddrPortFrom(vip4, 80), nil)
		if err != nil {
			t.Fatal(err)
		}
		n.RunFor(10 * time.Minute)
		want := tt.retries + 1
		if tt.retries == 0 {
			want = 7
		}
		if len(syns) != want {
			t.Errorf("retries %d: director saw %d SYNs, want %d", tt.retries, len(syns), want)
		}
		for i := 1; i < len(syns); i++ {
			if gap, wantGap := syns[i].Sub(syns[i-1]), time.Second<<(i-1); gap != wantGap {
				t.Errorf("retries %d: gap %d = %v, want %v", tt.retries, i, gap, wantGap)
			}
		}
		conn := n.Conn(n.Session(id).Conns[0])
		if !conn.Failed || conn.Reason != SYNTimeout || conn.End.Sub(start) != tt.after {
			t.Errorf("retries %d: conn %+v, want syn-timeout after %v (took %v)", tt.retries, conn, tt.after, conn.End.Sub(start))
		}
		if dc := n.Directors()[0].Counters(); dc.Drop != uint64(want) {
			t.Errorf("director counters %+v", dc)
		}
		if ns := c.Netstat(); len(ns) != 0 {
			t.Errorf("client still has sockets: %v", ns)
		}
	}
}

// TestDeterministic: the same seed gives the same run, event for event; a
// different seed a different one.
func TestDeterministic(t *testing.T) {
	run := func(seed uint64) ([]ConnResult, Report) {
		l := newLab(t, "nat", 3, Config{Seed: seed})
		r, err := l.n.RunScenario(Scenario{Clients: 300, ClientHosts: 50, Duration: time.Minute, Seed: seed,
			Params: fastParams, Traffic: mixTraffic()})
		if err != nil {
			t.Fatal(err)
		}
		return l.n.Conns(), r
	}
	c1, r1 := run(42)
	c2, r2 := run(42)
	c3, r3 := run(43)
	if !slices.Equal(c1, c2) || r1.String() != r2.String() || r1.Events != r2.Events {
		t.Errorf("same seed, different runs:\n%s\n%s", &r1, &r2)
	}
	if slices.Equal(c1, c3) || r1.Events == r3.Events {
		t.Error("different seeds gave the same run")
	}
	noProblems(t, &r1)
	if r1.SessionsCompleted != 300 {
		t.Errorf("report:\n%s", &r1)
	}
}

func mixTraffic() []Traffic {
	return []Traffic{
		{Kind: HTTP10, Service: netip.AddrPortFrom(vip4, 80), Weight: 50},
		{Kind: HTTP10, Service: netip.AddrPortFrom(vip6, 80), Weight: 10},
		{Kind: HTTP11, Service: netip.AddrPortFrom(vip4, 80), Weight: 10},
		{Kind: Telnet, Service: netip.AddrPortFrom(vip4, 23), Weight: 10},
		{Kind: Telnet, Service: netip.AddrPortFrom(vip6, 23), Weight: 5},
		{Kind: UDP, Service: netip.AddrPortFrom(vip4, 53), Weight: 10},
		{Kind: UDP, Service: netip.AddrPortFrom(vip6, 53), Weight: 5},
	}
}

// TestServerStopResumeRestart: a stopped server makes the client's
// retransmissions run out; a resumed one carries on; a restarted one
// answers old connections with RST naming itself.
func TestServerStopResumeRestart(t *testing.T) {
	tests := []struct {
		name        string
		act         func(s *Server)
		readTimeout time.Duration
		reason      FailReason
	}{
		// The client's read timeout (30 s) ends it before TCP gives up...
		{"stop", (*Server).Stop, 0, NoResponse},
		// ... unless it is longer than the retransmissions (51 s).
		{"stop-long-read", (*Server).Stop, 10 * time.Minute, Timeout},
		// Resume 2 s after the first frame was dropped: retransmission
		// carries the connection on.
		{"stop-resume", func(s *Server) {
			s.Stop()
			var wait func()
			wait = func() {
				if s.Counters().Dropped > 0 {
					s.net.After(2*time.Second, s.Resume)
					return
				}
				s.net.After(100*time.Millisecond, wait)
			}
			wait()
		}, 0, NoFailure},
		{"restart", (*Server).Restart, 0, Reset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, "dr", 1, Config{TCP: TCPConfig{ResponseTimeout: tt.readTimeout}})
			id := l.start(t, Telnet, netip.AddrPortFrom(vip4, 23), &SessionParams{Lines: 3, LineThink: 10 * time.Second})
			l.n.RunFor(time.Second) // established, thinking
			tt.act(l.servers[0])
			l.n.RunFor(10 * time.Minute)
			c := l.n.Conn(l.n.Session(id).Conns[0])
			if c.Reason != tt.reason || c.Completed != (tt.reason == NoFailure) {
				t.Errorf("conn %+v, want reason %v", c, tt.reason)
			}
			if c.Switches != 0 {
				t.Errorf("switches %d", c.Switches)
			}
			sc := l.servers[0].Counters()
			if strings.HasPrefix(tt.name, "stop") && sc.Dropped == 0 {
				t.Errorf("server counters %+v", sc)
			}
			if tt.name == "restart" && (sc.ResetsSent != 1 || sc.Unexpected != 1) {
				t.Errorf("server counters %+v", sc)
			}
		})
	}
}

// TestSwitchDetected: a director that forgets its choice (new server for
// every packet) is caught: RSTs and answers from another server count as
// switches and are listed as problems.
func TestSwitchDetected(t *testing.T) {
	for _, kind := range []Kind{Telnet, UDP} {
		l := newLab(t, "dr", 3, Config{})
		l.fake.flaky = true
		id := l.start(t, kind, netip.AddrPortFrom(vip4, 23), &fastParams)
		l.n.RunFor(5 * time.Minute)
		r := l.n.Report()
		if r.Switches == 0 || len(r.Problems()) == 0 {
			t.Errorf("%v: switch not detected:\n%s", kind, &r)
		}
		if c := l.n.Conn(l.n.Session(id).Conns[0]); c.Switches == 0 {
			t.Errorf("%v: conn %+v", kind, c)
		}
	}
}

// TestICMPUnreachable: a director that answers a SYN with an ICMP port
// unreachable (built in a buffer of its own) makes the connection fail at
// once.
func TestICMPUnreachable(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		n := New(Config{})
		var p packet.Parsed
		var out []byte
		d := DirectorFunc(func(frames []link.Frame, now clock.Time) {
			for i := range frames {
				f := &frames[i]
				b := f.Bytes()
				if packet.Decode(b, &p) != packet.OK {
					continue
				}
				src, dst := addrOf(p.Src, p.V6), addrOf(p.Dst, p.V6)
				icmp := packet.Frame{Ethernet: packet.EthernetFields{Dst: packet.Ethernet(b).Source(), Src: dirMAC},
					Payload: b[p.L3Off:p.Len]}
				if p.V6 {
					icmp.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: dst, Dst: src}
					icmp.ICMP = &packet.ICMPFields{Type: packet.ICMPv6DestUnreach, Code: packet.ICMPv6PortUnreach}
				} else {
					icmp.IPv4 = &packet.IPv4Fields{TTL: 64, Src: dst, Dst: src}
					icmp.ICMP = &packet.ICMPFields{Type: packet.ICMPv4DestUnreach, Code: packet.ICMPv4PortUnreach}
				}
				out = packet.AppendFrame(out[:0], &icmp)
				f.Buf, f.Off, f.Len, f.Action = out, 0, len(out), link.Tx
			}
		})
		if _, err := n.AddDirector(d, DirectorConfig{Ports: []DirectorPort{{MAC: dirMAC}}, VIPs: []netip.Addr{vip4, vip6}}); err != nil {
			t.Fatal(err)
		}
		c, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8:9::1")}})
		if err != nil {
			t.Fatal(err)
		}
		vip := vip4
		if v6 {
			vip = vip6
		}
		id, _ := c.StartSession(HTTP10, netip.AddrPortFrom(vip, 80), nil)
		n.RunFor(time.Second)
		conn := n.Conn(n.Session(id).Conns[0])
		if conn.Reason != Unreachable || conn.End.Sub(conn.Start) != 2*n.Latency() {
			t.Errorf("v6=%v: conn %+v", v6, conn)
		}
		if c.Counters().ICMP != 1 || c.Counters().BadChecksum != 0 {
			t.Errorf("v6=%v: client counters %+v", v6, c.Counters())
		}
	}
}

// TestBatching: frames reaching the director at the same instant come in
// one Process call, at most MaxBatch at a time.
func TestBatching(t *testing.T) {
	n := New(Config{})
	var batches []int
	d := DirectorFunc(func(frames []link.Frame, now clock.Time) {
		batches = append(batches, len(frames))
		for i := range frames {
			if frames[i].Off != link.Headroom || frames[i].Port != 0 || frames[i].Action != link.Drop {
				t.Errorf("frame %d: off %d port %d action %v", i, frames[i].Off, frames[i].Port, frames[i].Action)
			}
		}
	})
	if _, err := n.AddDirector(d, DirectorConfig{Ports: []DirectorPort{{MAC: dirMAC}}, VIPs: []netip.Addr{vip4}, MaxBatch: 8}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		c, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}})
		if err != nil {
			t.Fatal(err)
		}
		c.StartSession(UDP, netip.AddrPortFrom(vip4, 53), nil)
	}
	n.RunFor(time.Millisecond)
	if !slices.Equal(batches, []int{8, 8, 4}) {
		t.Errorf("batches %v, want [8 8 4]", batches)
	}
}

func TestNeighbors(t *testing.T) {
	l := newLab(t, "dr", 2, Config{})
	nb := l.n.Neighbors()
	tests := []struct {
		addr netip.Addr
		mac  [6]byte
		ok   bool
	}{
		{vip4, dirMAC, true},
		{vip6, dirMAC, true},
		{dirAddr4, dirMAC, true},
		{rip4(2), l.servers[1].MAC(), true},
		{rip6(1), l.servers[0].MAC(), true},
		{l.client.Addr6(), l.client.MAC(), true},
		{netip.MustParseAddr("10.99.0.1"), [6]byte{}, false},
	}
	for _, tt := range tests {
		mac, port, ok := nb.Resolve(tt.addr.Is6(), tt.addr.As16())
		if mac != tt.mac || ok != tt.ok || port != 0 {
			t.Errorf("Resolve(%v) = %v %d %v", tt.addr, mac, port, ok)
		}
	}
	// DR servers hold the VIP but do not answer for it.
	if mac, _ := l.n.Resolve(vip4); mac != dirMAC {
		t.Errorf("VIP resolves to %v", mac)
	}
	// Moving the VIP (gratuitous ARP).
	l.n.SetNeighbor(vip4, l.servers[0].MAC())
	if mac, _ := l.n.Resolve(vip4); mac != l.servers[0].MAC() {
		t.Errorf("moved VIP resolves to %v", mac)
	}
}

func TestConfigErrors(t *testing.T) {
	n := New(Config{})
	bad := []ServerConfig{
		{Name: "", Addrs: []netip.Addr{rip4(1)}, Mode: NAT},
		{Name: "a b", Addrs: []netip.Addr{rip4(1)}, Mode: NAT},
		{Name: "x", Addrs: []netip.Addr{rip4(1)}, Mode: NAT, VIPs: []netip.Addr{vip4}},
		{Name: "x", Addrs: []netip.Addr{rip4(1)}, Mode: DR},
		{Name: "x", Mode: NAT},
		{Name: "x", Addrs: []netip.Addr{rip4(1)}, Mode: 9},
	}
	for _, sc := range bad {
		if _, err := n.AddServer(sc); err == nil {
			t.Errorf("AddServer(%+v) succeeded", sc)
		}
	}
	if _, err := n.AddServer(ServerConfig{Name: "x", Addrs: []netip.Addr{rip4(1)}, Mode: NAT}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddServer(ServerConfig{Name: "y", Addrs: []netip.Addr{rip4(1)}, Mode: NAT}); err == nil {
		t.Error("two servers with one address")
	}
	if _, err := n.AddClient(ClientConfig{Addrs: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("1.1.1.2")}}); err == nil {
		t.Error("client with two IPv4 addresses")
	}
	if _, err := n.AddDirector(DirectorFunc(func([]link.Frame, clock.Time) {}), DirectorConfig{}); err == nil {
		t.Error("director without ports")
	}
	if err := n.StartScenario(Scenario{Clients: 1, Duration: time.Second}); err == nil {
		t.Error("scenario without traffic")
	}
	if _, err := ParseKind("gopher"); err == nil {
		t.Error("ParseKind(gopher)")
	}
	for _, k := range Kinds() {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%v) = %v, %v", k, got, err)
		}
	}
	for _, m := range []Mode{NAT, DR, TUN} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%v) = %v, %v", m, got, err)
		}
	}
}

func TestNthAddr(t *testing.T) {
	tests := []struct {
		prefix string
		i      int
		want   string
	}{
		{"198.18.0.0/15", 1, "198.18.0.1"},
		{"198.18.0.0/15", 256, "198.18.1.0"},
		{"198.18.0.0/15", 131070, "198.19.255.254"},
		{"198.18.0.0/15", 131071, ""}, // broadcast
		{"2001:db8:c::/64", 65536, "2001:db8:c::1:0"},
		{"10.0.0.0/30", 4, ""},
	}
	for _, tt := range tests {
		a, ok := nthAddr(netip.MustParsePrefix(tt.prefix), tt.i)
		if (tt.want == "") == ok || (ok && a.String() != tt.want) {
			t.Errorf("nthAddr(%s, %d) = %v %v, want %q", tt.prefix, tt.i, a, ok, tt.want)
		}
	}
}
