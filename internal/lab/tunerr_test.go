package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tunnel errors end to end (docs/ICMP.md, "Errors about the director's own
// tunnel packets"): a router between the director and a TUN real server
// reports "fragmentation needed" about the director's IPIP packet; the
// client must hear of it from the VIP, about its own packet, with the
// MTU less the 20 bytes of the tunnel.

// tunErrRouter is the "router" on the back segment that reports the
// error (an address nothing else in the lab uses); tunErrNoServer is an
// address of the back segment that is no real server.
var (
	tunErrRouter   = host(back4, 99)
	tunErrNoServer = host(back4, 50)
)

const (
	tunErrReported = 1400 // next-hop MTU in the router's frag needed
	tunErrWantMTU  = 1380 // what the client must be told (− 20 for IPIP)
	// tunErrQuote is how much of the tunnel packet the router quotes: a
	// Linux router's 576-byte error (20 IP + 8 ICMP + 548).
	tunErrQuote = 548
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// segCapture reads the frames that leave one interface (AF_PACKET,
// opened inside its namespace; ETH_P_ALL, as only such taps see outgoing
// frames).
type segCapture struct{ fd int }

func openSegCapture(t *testing.T, topo *Topo, dev string) *segCapture {
	t.Helper()
	c := &segCapture{fd: -1}
	err := topo.Client.Do(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("AF_PACKET bind %s: %w", dev, err)
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return fmt.Errorf("AF_PACKET SO_RCVTIMEO: %w", err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// lastSegment returns the last TCP segment (its IP packet) that left from
// src to dst within d.
func (c *segCapture) lastSegment(t *testing.T, src, dst netip.AddrPort, d time.Duration) []byte {
	t.Helper()
	var last []byte
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			t.Fatalf("AF_PACKET read: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING || n < 14+40 || binary.BigEndian.Uint16(buf[12:]) != unix.ETH_P_IP {
			continue
		}
		ip := buf[14:n]
		hl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || ip[9] != 6 || hl < 20 || len(ip) < hl+20 {
			continue
		}
		s, _ := netip.AddrFromSlice(ip[12:16])
		dd, _ := netip.AddrFromSlice(ip[16:20])
		sp, dp := binary.BigEndian.Uint16(ip[hl:]), binary.BigEndian.Uint16(ip[hl+2:])
		if netip.AddrPortFrom(s, sp) == src && netip.AddrPortFrom(dd, dp) == dst {
			last = bytes.Clone(ip)
		}
	}
	if last == nil {
		t.Fatalf("no TCP segment %s → %s seen leaving the client", src, dst)
	}
	return last
}

// nextSegmentQuote is the start of the full-size segment the client would
// send next after seg, as the director tunnels it (TTL − 1): seg's IP and
// TCP headers with the sequence number after seg's, its IP length 1480
// (1500 with the tunnel header), followed by zeros up to keep bytes. The
// sequence number is the client's snd_nxt, so its kernel accepts an error
// about it (tcp_v4_err ignores one outside snd_una..snd_nxt).
func nextSegmentQuote(seg []byte, keep int) []byte {
	hl := int(seg[0]&0x0f) * 4
	thl := int(seg[hl+12]>>4) * 4
	tl := int(binary.BigEndian.Uint16(seg[2:]))
	next := binary.BigEndian.Uint32(seg[hl+4:]) + uint32(tl-hl-thl)
	if fl := seg[hl+13]; fl&0x03 != 0 { // SYN or FIN
		next++
	}
	q := make([]byte, keep)
	copy(q, seg[:hl+thl])
	binary.BigEndian.PutUint32(q[hl+4:], next)
	binary.BigEndian.PutUint16(q[2:], 1480)
	q[8]--
	binary.BigEndian.PutUint16(q[10:], 0)
	binary.BigEndian.PutUint16(q[10:], fold(inetSum(q[:hl], 0)))
	return q
}

// ipipQuote is the start (the first keep bytes) of a 1500-byte IPIP packet
// from the director (src) to dst carrying inner, as a router quotes it.
func ipipQuote(src, dst netip.Addr, inner []byte, keep int) []byte {
	p := ip4Packet(src, dst, 4, 0x7e57, 0x4000, inner[:keep-20])
	binary.BigEndian.PutUint16(p[2:], 1500)
	binary.BigEndian.PutUint16(p[10:], 0)
	binary.BigEndian.PutUint16(p[10:], fold(inetSum(p[:20], 0)))
	return p
}

// icmpMsg is one ICMP message a raw socket received.
type icmpMsg struct {
	from netip.Addr
	b    []byte // from the ICMP header on
}

// icmpListener is a raw ICMP socket in the client namespace: it gets a
// copy of every ICMP packet the client receives, before the kernel's ICMP
// code looks at it.
type icmpListener struct{ c net.PacketConn }

func openICMPListener(t *testing.T, topo *Topo) *icmpListener {
	t.Helper()
	l := &icmpListener{}
	if err := topo.Client.Do(func() error {
		var err error
		l.c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("raw ICMP socket in the client: %v", err)
	}
	t.Cleanup(func() { l.c.Close() })
	return l
}

// read returns the messages received within d (stopping at the first one
// for which stop reports true, if stop is set).
func (l *icmpListener) read(d time.Duration, stop func(icmpMsg) bool) []icmpMsg {
	var ms []icmpMsg
	buf := make([]byte, 2048)
	l.c.SetReadDeadline(time.Now().Add(d))
	for {
		n, a, err := l.c.ReadFrom(buf)
		if err != nil {
			return ms // the deadline
		}
		ip, _ := netip.AddrFromSlice(a.(*net.IPAddr).IP.To4())
		m := icmpMsg{from: ip, b: bytes.Clone(buf[:n])}
		ms = append(ms, m)
		if stop != nil && stop(m) {
			return ms
		}
	}
}

func (m icmpMsg) String() string {
	if len(m.b) < 8 {
		return fmt.Sprintf("%d bytes from %s", len(m.b), m.from)
	}
	return fmt.Sprintf("type %d code %d word %#x from %s, %d bytes quoted", m.b[0], m.b[1],
		binary.BigEndian.Uint32(m.b[4:]), m.from, len(m.b)-8)
}

// snmpICMP reads counter name of the Icmp lines of ns's /proc/net/snmp.
func snmpICMP(t *testing.T, ctx context.Context, topo *Topo, name string) uint64 {
	t.Helper()
	out, err := topo.Director.Run(ctx, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatalf("reading the director's /proc/net/snmp: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "Icmp: ") || !strings.HasPrefix(lines[i+1], "Icmp: ") {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range names {
			if names[j] == name && j < len(vals) {
				v, err := strconv.ParseUint(vals[j], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	t.Fatalf("no Icmp %s in the director's /proc/net/snmp", name)
	return 0
}

// TestTunnelError, on both datapaths: a real TCP connection from the client
// through the TUN VIP (IPIP) to a real server; then, injected on that real
// server's back port (the segment between the director and it) as a
// router there would send it, an ICMP fragmentation needed (next-hop MTU
// 1400) to the director's back address quoting the director's IPIP packet
// to that real server, which carries the client's next full-size segment
// of the connection (DF, the sequence number the client's kernel expects).
//
//   - Negative first: the same error quoting an IPIP packet to an address
//     that is no real server is not answered: no icmp_tunnel_error, no
//     ICMP reaches the client, the client's kernel keeps no path MTU, and
//     the director's kernel receives the error (Icmp InDestUnreachs + 1).
//   - Then the real one: vsd counts icmp_tunnel_error + 1 and the client
//     receives, from the VIP, a frag needed with MTU 1380 (1400 − 20)
//     quoting exactly the client's packet as the router quoted it, with a
//     right ICMP checksum; the client's kernel accepts it (ip route get
//     VIP shows mtu 1380), and the connection still serves a request. The
//     director's kernel never sees the error (consumed: on AF_XDP vsd has
//     it alone; on AF_PACKET the tc guard drops the kernel's copy).
//   - Last, an error about the IPIP packet to the real server carrying a
//     client packet of no connection (another port): icmp_unrelated,
//     nothing reaches the client. Whether the host gets it is only
//     logged: docs/ICMP.md says that Pass verdict is lost on both
//     datapaths (the steering selects it, the guard drops the kernel's
//     copy).
//
// On AF_XDP the steering program must select such errors (they are
// addressed to the director's port address, not a VIP, quoting a packet
// to a TUN real server); without that the AF_XDP case fails (it did
// before branch steer2).
func TestTunnelError(t *testing.T) {
	for _, dp := range []string{"afpacket", "afxdp"} {
		t.Run(dp, func(t *testing.T) { runTunnelError(t, dp) })
	}
}

func runTunnelError(t *testing.T, datapath string) {
	needRoot(t, "ethtool")
	topo := buildTopo(t, TopoOptions{Prefix: "vsdtunerr_" + datapath, Server: "go", Servers: 2,
		Methods: []Method{TUN}, Datapath: datapath})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"afpacket": "AF_PACKET", "afxdp": "AF_XDP"}[datapath]
	if !strings.Contains(st.Datapath, want) {
		t.Fatalf("datapath %q, want %s", st.Datapath, want)
	}

	vip := netip.AddrPortFrom(VIP(TUN, false), topo.o.Port)
	dirBack := host(back4, hostDirector)
	capt := openSegCapture(t, topo, "eth0")
	icmp := openICMPListener(t, topo)

	// The connection, and the real server it goes to.
	conn := dialKeepAlive(t, topo, topo.URL(TUN, false))
	conn.get(t)
	client := netip.AddrPortFrom(ClientAddr(false), uint16(conn.c.LocalAddr().(*net.TCPAddr).Port))
	seg := capt.lastSegment(t, client, vip, 500*time.Millisecond) // the delayed ACK included
	if seg[6]&0x40 == 0 {
		t.Fatalf("the client's TCP segment %s → %s has no DF", client, vip)
	}
	c, cctx, done := topo.client()
	conns, err := c.Conns(cctx)
	done()
	if err != nil {
		t.Fatal(err)
	}
	si := -1
	for _, cn := range conns {
		if cn.Protocol == "TCP" && cn.Client == client && cn.Virtual == vip {
			for i := range topo.Servers {
				if cn.Dest.Addr() == serverAddr(i, false) {
					si = i
				}
			}
		}
	}
	if si < 0 {
		t.Fatalf("no TCP connection entry %s → %s through a real server of the lab: %+v", client, vip, conns)
	}
	rip := serverAddr(si, false)
	t.Logf("%s: connection %s → %s through %s (%s)", st.Datapath, client, vip, topo.ServerNames[si], rip)

	inner := nextSegmentQuote(seg, tunErrQuote-20)
	srv := topo.Servers[si]
	raw := openRawOn(t, srv.Do, "back", topo.Director.Do, "back")
	wantTunErr := func(m icmpMsg) bool {
		return m.from == vip.Addr() && len(m.b) >= 8+28 && m.b[0] == 3 && m.b[1] == 4
	}
	settle := func(before counts, names ...string) counts {
		deadline := time.Now().Add(2 * time.Second)
		for {
			_, now := statusCounts(t, topo)
			if now.delta(before, names...) > 0 || time.Now().After(deadline) {
				time.Sleep(100 * time.Millisecond)
				_, now = statusCounts(t, topo)
				return now
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 1. About a tunnel packet to no real server: not vsd's to answer.
	_, c0 := statusCounts(t, topo)
	h0 := snmpICMP(t, ctx, topo, "InDestUnreachs")
	raw.send(t, icmpError(tunErrRouter, dirBack, tunErrReported, ipipQuote(dirBack, tunErrNoServer, inner, tunErrQuote), false))
	got := icmp.read(time.Second, wantTunErr)
	c1 := settle(c0, "icmp_unrelated", "icmp_tunnel_error")
	h1 := snmpICMP(t, ctx, topo, "InDestUnreachs")
	t.Logf("IPIP to %s (no real server): vsd counters %s; the director's kernel got %d destination unreachable",
		tunErrNoServer, c1.changed(c0), h1-h0)
	if n := c1.delta(c0, "icmp_tunnel_error"); n != 0 {
		t.Errorf("an error about an IPIP packet to %s (no real server) counted %d icmp_tunnel_error", tunErrNoServer, n)
	}
	if datapath == "afpacket" {
		if n := c1.delta(c0, "icmp_unrelated"); n != 1 {
			t.Errorf("an error about an IPIP packet to %s (no real server): %d icmp_unrelated, want 1 (counters: %s)",
				tunErrNoServer, n, c1.changed(c0))
		}
	}
	if h1-h0 != 1 {
		t.Errorf("an error about an IPIP packet to %s (no real server): the director's kernel received %d, want 1 (passed to the host)",
			tunErrNoServer, h1-h0)
	}
	for _, m := range got {
		if wantTunErr(m) {
			t.Errorf("an error about an IPIP packet to %s (no real server) reached the client: %s", tunErrNoServer, m)
		}
	}
	if mtu, route := routeMTU(ctx, topo.Client, vip.Addr(), client.Addr()); mtu != 0 {
		t.Errorf("the client holds path MTU %d towards the VIP before any tunnel error (%s)", mtu, route)
	}

	// 2. About the director's own IPIP packet of the connection.
	_, c0 = statusCounts(t, topo)
	h0 = snmpICMP(t, ctx, topo, "InDestUnreachs")
	start := time.Now()
	raw.send(t, icmpError(tunErrRouter, dirBack, tunErrReported, ipipQuote(dirBack, rip, inner, tunErrQuote), false))
	got = icmp.read(2*time.Second, wantTunErr)
	lat := time.Since(start)
	c1 = settle(c0, "icmp_tunnel_error")
	h1 = snmpICMP(t, ctx, topo, "InDestUnreachs")
	t.Logf("IPIP to %s: vsd counters %s; the director's kernel got %d destination unreachable; the client got %v",
		rip, c1.changed(c0), h1-h0, got)
	if n := c1.delta(c0, "icmp_tunnel_error"); n != 1 {
		t.Errorf("a frag needed about the director's IPIP packet to %s: %d icmp_tunnel_error, want 1 (counters: %s)",
			rip, n, c1.changed(c0))
	}
	var m *icmpMsg
	for i := range got {
		if wantTunErr(got[i]) {
			m = &got[i]
		}
	}
	if m == nil {
		t.Errorf("the client received no frag needed from %s within 2 s (ICMP received: %v)", vip.Addr(), got)
	} else {
		t.Logf("the client got %s after %v", m, lat.Round(time.Microsecond))
		if mtu := binary.BigEndian.Uint16(m.b[6:]); mtu != tunErrWantMTU {
			t.Errorf("the client was told MTU %d, want %d (%d − 20)", mtu, tunErrWantMTU, tunErrReported)
		}
		if s := fold(inetSum(m.b, 0)); s != 0 {
			t.Errorf("the client's frag needed has a wrong ICMP checksum (sum %#04x)", s)
		}
		if q := m.b[8:]; !bytes.Equal(q, inner) {
			n := min(len(q), 40)
			t.Errorf("the client's frag needed quotes %d bytes (% x …), want its own packet as the router quoted it, %d bytes (% x …)",
				len(q), q[:n], len(inner), inner[:40])
		}
	}
	// The client's kernel took it: its path MTU towards the VIP.
	mtu, route := routeMTU(ctx, topo.Client, vip.Addr(), client.Addr())
	for deadline := time.Now().Add(time.Second); mtu != tunErrWantMTU && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		mtu, route = routeMTU(ctx, topo.Client, vip.Addr(), client.Addr())
	}
	if mtu != tunErrWantMTU {
		t.Errorf("the client's kernel holds path MTU %d towards the VIP, want %d (ip route get: %s)", mtu, tunErrWantMTU, route)
	} else {
		t.Logf("client: %s", route)
	}
	if h1 != h0 {
		t.Errorf("the director's kernel received %d destination unreachable: the tunnel error was not consumed", h1-h0)
	}

	// 3. About the director's IPIP to the real server, but carrying a
	// client packet of no connection (another client port): vsd finds no
	// tunnel error of its own and leaves it (icmp_unrelated); the client
	// hears nothing.
	stray := bytes.Clone(inner)
	binary.BigEndian.PutUint16(stray[20:], client.Port()+1)
	_, c0 = statusCounts(t, topo)
	h0 = snmpICMP(t, ctx, topo, "InDestUnreachs")
	raw.send(t, icmpError(tunErrRouter, dirBack, tunErrReported, ipipQuote(dirBack, rip, stray, tunErrQuote), false))
	got = icmp.read(time.Second, wantTunErr)
	c1 = settle(c0, "icmp_unrelated", "icmp_tunnel_error")
	h1 = snmpICMP(t, ctx, topo, "InDestUnreachs")
	t.Logf("IPIP to %s about port %d (no connection): vsd counters %s; the director's kernel got %d destination unreachable",
		rip, client.Port()+1, c1.changed(c0), h1-h0)
	if n := c1.delta(c0, "icmp_unrelated"); n != 1 {
		t.Errorf("an error about the IPIP packet to %s of no connection: %d icmp_unrelated, want 1 (counters: %s)", rip, n, c1.changed(c0))
	}
	if n := c1.delta(c0, "icmp_tunnel_error"); n != 0 {
		t.Errorf("an error about the IPIP packet to %s of no connection counted %d icmp_tunnel_error", rip, n)
	}
	for _, m := range got {
		if wantTunErr(m) {
			t.Errorf("an error about the IPIP packet to %s of no connection reached the client: %s", rip, m)
		}
	}
	conn.get(t) // the connection still works
	st, _ = statusCounts(t, topo)
	checkDropsCounted(t, st)
	t.Logf("vsd at the end: events %v; drops %v", st.Events, st.Drops)
}
