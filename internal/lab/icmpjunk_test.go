package lab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/api"
)

// Raw frames for the junk test, written by hand: Ethernet, IPv4/IPv6,
// ICMP errors and fragments, with their checksums.

// inetSum is the one's-complement sum of b added to sum (not folded).
func inetSum(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// ip4Packet is an IPv4 header (no options, DF unless frag says otherwise)
// in front of payload; frag is the flags+offset field.
func ip4Packet(src, dst netip.Addr, proto byte, id, frag uint16, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], frag)
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	binary.BigEndian.PutUint16(h[10:], fold(inetSum(h, 0)))
	return append(h, payload...)
}

// ip6Packet is an IPv6 header in front of payload (next header next).
func ip6Packet(src, dst netip.Addr, next byte, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	h[0], h[6], h[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	s6, d6 := src.As16(), dst.As16()
	copy(h[8:], s6[:])
	copy(h[24:], d6[:])
	return append(h, payload...)
}

// tcpQuote is the first 8 bytes of a TCP header (ports and sequence
// number): what an ICMP error quotes at least.
func tcpQuote(sport, dport uint16) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 0x01020304)
	return b
}

// icmpError is an ICMP fragmentation needed (IPv4, next-hop MTU mtu) or
// ICMPv6 packet too big (MTU mtu) from src to dst quoting quote, its
// checksum right unless badSum.
func icmpError(src, dst netip.Addr, mtu int, quote []byte, badSum bool) []byte {
	m := make([]byte, 8, 8+len(quote))
	if dst.Is4() {
		m[0], m[1] = 3, 4
		binary.BigEndian.PutUint16(m[6:], uint16(mtu))
	} else {
		m[0] = 2
		binary.BigEndian.PutUint32(m[4:], uint32(mtu))
	}
	m = append(m, quote...)
	var sum uint32
	if dst.Is6() {
		s6, d6 := src.As16(), dst.As16()
		sum = inetSum(s6[:], sum)
		sum = inetSum(d6[:], sum)
		sum += uint32(len(m)) + 58
	}
	c := fold(inetSum(m, sum))
	if badSum {
		c ^= 0x5a5a
	}
	binary.BigEndian.PutUint16(m[2:], c)
	if dst.Is4() {
		return ip4Packet(src, dst, 1, 0, 0, m)
	}
	return ip6Packet(src, dst, 58, m)
}

// quotedReply is the start of a full-size packet VIP:vport → client:cport
// as the director sent it to the client (the packet an ICMP error from
// the client side quotes), cut to keep bytes (0: IP header and 8 bytes).
// Its length fields keep the full size (1500 bytes), as in a router's
// quote.
func quotedReply(vip, client netip.Addr, vport, cport uint16, keep int) []byte {
	var q []byte
	if vip.Is4() {
		q = ip4Packet(vip, client, 6, 1, 0x4000, tcpQuote(vport, cport))
		binary.BigEndian.PutUint16(q[2:], 1500)
		binary.BigEndian.PutUint16(q[10:], 0)
		binary.BigEndian.PutUint16(q[10:], fold(inetSum(q[:20], 0)))
	} else {
		q = ip6Packet(vip, client, 6, tcpQuote(vport, cport))
		binary.BigEndian.PutUint16(q[4:], 1460)
	}
	if keep > 0 {
		q = q[:keep]
	}
	return q
}

// udpNonFirst is a non-first fragment (offset 1480 bytes) of a UDP
// datagram from src to dst with identification id.
func udpNonFirst(src, dst netip.Addr, id uint32, payload []byte) []byte {
	if dst.Is4() {
		return ip4Packet(src, dst, 17, uint16(id), 185, payload)
	}
	fh := make([]byte, 8, 8+len(payload))
	fh[0] = 17
	binary.BigEndian.PutUint16(fh[2:], 1480) // offset 1480, M = 0
	binary.BigEndian.PutUint32(fh[4:], id)
	return ip6Packet(src, dst, 44, append(fh, payload...))
}

// rawSender writes whole Ethernet frames out of the client's eth0
// (AF_PACKET, opened inside the client namespace).
type rawSender struct {
	fd       int
	src, dst net.HardwareAddr
}

func openRawSender(t *testing.T, topo *Topo) *rawSender {
	t.Helper()
	return openRawOn(t, topo.Client.Do, "eth0", topo.Director.Do, "front")
}

// openRawOn opens a rawSender on interface dev of the namespace that from
// runs in, towards the MAC of interface toDev of the namespace of to (both
// an NS.Do).
func openRawOn(t *testing.T, from func(func() error) error, dev string, to func(func() error) error, toDev string) *rawSender {
	t.Helper()
	s := &rawSender{fd: -1}
	err := from(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		s.src = ifc.HardwareAddr
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // send only
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("AF_PACKET bind %s: %w", dev, err)
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	if err := to(func() error {
		ifc, err := net.InterfaceByName(toDev)
		if err == nil {
			s.dst = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// send writes one IP packet in an Ethernet frame to the director.
func (s *rawSender) send(t *testing.T, ip []byte) {
	t.Helper()
	f := make([]byte, 14, 14+len(ip))
	copy(f, s.dst)
	copy(f[6:], s.src)
	et := uint16(0x0800)
	if ip[0]>>4 == 6 {
		et = 0x86dd
	}
	binary.BigEndian.PutUint16(f[12:], et)
	f = append(f, ip...)
	if _, err := unix.Write(s.fd, f); err != nil {
		t.Fatalf("AF_PACKET write: %v", err)
	}
}

// counts are the counters of a status by name (drops and events apart).
type counts struct{ drops, events map[string]uint64 }

func statusCounts(t *testing.T, topo *Topo) (*api.Status, counts) {
	t.Helper()
	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st, counts{st.Drops, st.Events}
}

// delta is how much the counters of names rose from a to b, drops and
// events together.
func (b counts) delta(a counts, names ...string) uint64 {
	var n uint64
	for _, name := range names {
		n += b.drops[name] - a.drops[name] + b.events[name] - a.events[name]
	}
	return n
}

// changed lists every counter that moved from a to b.
func (b counts) changed(a counts) string {
	var s []string
	for k, v := range b.drops {
		if d := v - a.drops[k]; d != 0 {
			s = append(s, fmt.Sprintf("drop %s +%d", k, d))
		}
	}
	for k, v := range b.events {
		if d := v - a.events[k]; d != 0 {
			s = append(s, fmt.Sprintf("event %s +%d", k, d))
		}
	}
	return strings.Join(s, ", ")
}

// fragReasons returns the drop reasons of fragments (the frag tracker's
// drops are named frag_*).
func fragReasons(st *api.Status) []string {
	var r []string
	for k := range st.Drops {
		if strings.HasPrefix(k, "frag") {
			r = append(r, k)
		}
	}
	return r
}

// TestICMPJunk: ICMP errors and fragments a director must not pass on are
// dropped and counted, and vsd's memory stays bounded (issue 6). Raw
// frames from the client namespace (AF_PACKET), IPv4 and IPv6, to the NAT
// VIP:
//
//   - fragmentation needed / packet too big about a live connection with
//     a wrong ICMP checksum: each counted as icmp_bad_checksum; the same
//     with the right checksum is forwarded (icmp_forward), so it is the
//     checksum that decides;
//   - errors whose quote is cut before the ports, or inside its IP
//     header: icmp_truncated;
//   - errors about no connection (a VIP port no client uses): counted
//     (icmp_no_conn if dropped, icmp_unrelated if the director leaves them
//     to its host, as the icmp branch does) and never forwarded;
//   - a flood of 20,000 IPv4 and 10,000 IPv6 non-first UDP fragments of
//     datagrams that never had a first fragment, from spoofed sources with
//     random identifications: every one dropped under a frag_* reason
//     within 10 s, none reaching a real server, vsd's RSS growing by less
//     than 32 MiB.
func TestICMPJunk(t *testing.T) {
	needRoot(t, "ethtool")
	topo := buildTopo(t, TopoOptions{Prefix: "vsdjunk", Server: "go", Servers: 2, Methods: []Method{NAT}})
	addServices(t, topo, api.UDP, fragPort)
	us := startUDPSinks(t, topo)
	raw := openRawSender(t, topo)
	const k = 50 // frames of each ICMP kind

	// settle waits until the named counters rose by want from before (or
	// 3 s passed) and returns the counts then.
	settle := func(before counts, want uint64, names ...string) counts {
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, now := statusCounts(t, topo)
			if now.delta(before, names...) >= want || time.Now().After(deadline) {
				time.Sleep(100 * time.Millisecond) // anything still coming
				_, now = statusCounts(t, topo)
				return now
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	burst := func(frame []byte) {
		for range k {
			raw.send(t, frame)
		}
	}

	for _, v6 := range []bool{false, true} {
		fam := famName(v6)
		vip, client := VIP(NAT, v6), ClientAddr(v6)
		conn := dialKeepAlive(t, topo, topo.URL(NAT, v6))
		conn.get(t) // the connection is established and live
		cport := uint16(conn.c.LocalAddr().(*net.TCPAddr).Port)
		mtu := 1400
		if v6 {
			mtu = 1280
		}
		quote := quotedReply(vip, client, topo.o.Port, cport, 0)

		_, c0 := statusCounts(t, topo)
		burst(icmpError(client, vip, mtu, quote, true))
		c1 := settle(c0, k, "icmp_bad_checksum")
		if n := c1.delta(c0, "icmp_bad_checksum"); n != k {
			t.Errorf("%s: %d errors with a bad checksum about a live connection: %d counted as icmp_bad_checksum (counters: %s)",
				fam, k, n, c1.changed(c0))
		}
		raw.send(t, icmpError(client, vip, mtu, quote, false))
		c2 := settle(c1, 1, "icmp_forward")
		if n := c2.delta(c1, "icmp_forward"); n != 1 {
			t.Errorf("%s: the same error with a right checksum: %d forwarded, want 1 (counters: %s)", fam, n, c2.changed(c1))
		}

		ipLen := 20
		if v6 {
			ipLen = 40
		}
		burst(icmpError(client, vip, mtu, quotedReply(vip, client, topo.o.Port, cport, ipLen+2), false))
		burst(icmpError(client, vip, mtu, quotedReply(vip, client, topo.o.Port, cport, 12), false))
		c3 := settle(c2, 2*k, "icmp_truncated")
		if n := c3.delta(c2, "icmp_truncated"); n != 2*k {
			t.Errorf("%s: %d errors with a quote cut before the ports or inside the IP header: %d counted as icmp_truncated (counters: %s)",
				fam, 2*k, n, c3.changed(c2))
		}

		burst(icmpError(client, vip, mtu, quotedReply(vip, client, topo.o.Port, 1, 0), false))
		c4 := settle(c3, k, "icmp_no_conn", "icmp_unrelated")
		if n := c4.delta(c3, "icmp_no_conn", "icmp_unrelated"); n != k {
			t.Errorf("%s: %d errors about no connection: %d counted as icmp_no_conn or icmp_unrelated (counters: %s)",
				fam, k, n, c4.changed(c3))
		}
		if n := c4.delta(c3, "icmp_forward"); n != 0 {
			t.Errorf("%s: %d errors about no connection were forwarded", fam, n)
		}
		t.Logf("%s: ICMP junk counted: %s / %s / %s", fam, c1.changed(c0), c3.changed(c2), c4.changed(c3))
	}

	// The fragment flood.
	st0, c0 := statusCounts(t, topo)
	rss0 := vsdRSS(t, topo)
	r := rand.New(rand.NewPCG(6, 6))
	payload := make([]byte, 1000)
	sent := map[bool]int{false: 20000, true: 10000}
	start := time.Now()
	for _, v6 := range []bool{false, true} {
		vip := VIP(NAT, v6)
		for i := range sent[v6] {
			var src netip.Addr
			if v6 {
				b := host(front6, 0).As16()
				binary.BigEndian.PutUint64(b[8:], r.Uint64()|1<<63)
				src = netip.AddrFrom16(b)
			} else {
				src = netip.AddrFrom4([4]byte{10, byte(128 + r.IntN(128)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			}
			raw.send(t, udpNonFirst(src, vip, r.Uint32(), payload))
			if i%200 == 199 {
				time.Sleep(5 * time.Millisecond) // ≈ 40,000 frames/s at most
			}
		}
	}
	t.Logf("fragment flood: %d IPv4 and %d IPv6 non-first fragments in %v", sent[false], sent[true], time.Since(start).Round(time.Millisecond))
	total := uint64(sent[false] + sent[true])
	rssPeak := vsdRSS(t, topo)
	var st1 *api.Status
	var c1 counts
	deadline := time.Now().Add(10 * time.Second)
	for {
		st1, c1 = statusCounts(t, topo)
		got, _ := dropsBy(st1, fragReasons(st1)...)
		got -= func() uint64 { n, _ := dropsBy(st0, fragReasons(st1)...); return n }()
		lost := st1.Link.RxDropped - st0.Link.RxDropped
		if got+lost >= total || time.Now().After(deadline) {
			t.Logf("fragment flood: %d dropped under %v, %d lost in the rings; counters: %s", got, fragReasons(st1), lost, c1.changed(c0))
			if got+lost != total {
				t.Errorf("%d non-first fragments sent, %d counted under frag_* drop reasons and %d lost in the rings within 10 s (counters: %s)",
					total, got, lost, c1.changed(c0))
			}
			if lost*100 > total {
				t.Errorf("%d of %d flood frames lost in the rings: the test sends too fast for this machine", lost, total)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for c, ch := range us.reports {
		if n := len(ch); n != 0 {
			t.Errorf("%s: %d datagrams reached a real server from fragments without a first fragment", c, n)
		}
	}
	rss1 := vsdRSS(t, topo)
	t.Logf("vsd RSS: %d MiB before the flood, %d MiB at its end, %d MiB after", rss0>>20, rssPeak>>20, rss1>>20)
	if grow := max(rssPeak, rss1) - rss0; grow > 32<<20 {
		t.Errorf("vsd's RSS grew by %d MiB under the fragment flood", grow>>20)
	}
	checkDropsCounted(t, st1)
}
