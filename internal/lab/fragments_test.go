package lab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
)

// The fragments lab: UDP datagrams larger than the MTU, fragmented by the
// sender's kernel, through NAT, DR and TUN.
const (
	fragPort     = 9000
	fragSize     = 4000 // bytes of UDP payload: three fragments at MTU 1500
	fragDgrams   = 10   // datagrams per service
	fragWait     = time.Second
	fragMaxTries = 3 // sends of one datagram before it counts as lost
)

// udpReport is what a UDP sink saw: one datagram.
type udpReport struct {
	server int
	from   netip.AddrPort
	seq    uint32
	size   int
	sum    string
}

// udpSinks are UDP echo servers run by the test process in the real
// servers' namespaces, one socket per address a method delivers to: the
// real server's own address (NAT) and the DR and TUN VIPs on its loopback,
// in both families, each on fragPort (a socket bound to the address
// answers from it, as DR/TUN replies must). Every datagram is reported on
// the channel of its case and echoed back unchanged.
type udpSinks struct {
	reports map[pmtuCase]chan udpReport
}

func startUDPSinks(t *testing.T, topo *Topo) *udpSinks {
	t.Helper()
	us := &udpSinks{reports: map[pmtuCase]chan udpReport{}}
	for _, m := range topo.o.Methods {
		for _, v6 := range []bool{false, true} {
			us.reports[pmtuCase{m, v6}] = make(chan udpReport, 1024)
		}
	}
	for i, s := range topo.Servers {
		for c, ch := range us.reports {
			addr := VIP(c.m, c.v6)
			if c.m == NAT {
				addr = serverAddr(i, c.v6)
			}
			var pc *net.UDPConn
			if err := s.Do(func() error {
				var err error
				pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, fragPort)))
				return err
			}); err != nil {
				t.Fatalf("UDP sink in %s on %s: %v", topo.ServerNames[i], addr, err)
			}
			t.Cleanup(func() { pc.Close() })
			go func() {
				buf := make([]byte, 65536)
				for {
					n, from, err := pc.ReadFromUDPAddrPort(buf)
					if err != nil {
						return // closed
					}
					r := udpReport{server: i, from: from, size: n, sum: sha(buf[:n])}
					if n >= 4 {
						r.seq = binary.BigEndian.Uint32(buf)
					}
					select {
					case ch <- r:
					default:
					}
					pc.WriteToUDPAddrPort(buf[:n], from)
				}
			}()
		}
	}
	return us
}

// fragDatagram is datagram seq of a case: the sequence number, then bytes
// of a ChaCha8 stream seeded by both.
func fragDatagram(c pmtuCase, seq uint32) []byte {
	b := make([]byte, fragSize)
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%s %d", c, seq))
	rand.NewChaCha8(seed).Read(b)
	binary.BigEndian.PutUint32(b, seq)
	return b
}

// fragResult is how one case went.
type fragResult struct {
	local    netip.AddrPort // the client's socket
	servers  map[int]int    // real server → datagrams it got intact
	lost     []uint32       // datagrams that never arrived intact
	retried  []uint32       // datagrams that needed more than one send
	bad      []string       // datagrams that arrived changed, echoes that did not come back intact
	firstErr error
}

// runFragCase sends fragDgrams datagrams of fragSize bytes through case
// c's service from one client socket, one at a time: each must reach a
// real server intact (a sink report with its size and checksum) and come
// back intact (the echo). A datagram is sent up to fragMaxTries times.
func runFragCase(topo *Topo, us *udpSinks, c pmtuCase) fragResult {
	res := fragResult{servers: map[int]int{}}
	var conn *net.UDPConn
	vip := netip.AddrPortFrom(VIP(c.m, c.v6), fragPort)
	if err := topo.Client.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(vip))
		return err
	}); err != nil {
		res.firstErr = err
		return res
	}
	defer conn.Close()
	res.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	reports := us.reports[c]
	echo := make([]byte, 65536)
	for seq := uint32(0); seq < fragDgrams; seq++ {
		d := fragDatagram(c, seq)
		want := sha(d)
		arrived := false
		for try := 1; try <= fragMaxTries && !arrived; try++ {
			if _, err := conn.Write(d); err != nil {
				if errors.Is(err, syscall.EMSGSIZE) && try < fragMaxTries {
					// IPv6: the kernel reports a packet too big it got
					// for this socket on the next send; it fragments to
					// the new path MTU from then on.
					continue
				}
				res.firstErr = fmt.Errorf("send %d: %w", seq, err)
				return res
			}
			deadline := time.After(fragWait)
		wait:
			for {
				select {
				case r := <-reports:
					if r.from != res.local || r.seq != seq {
						continue // an earlier try's late copy
					}
					if r.size != fragSize || r.sum != want {
						res.bad = append(res.bad, fmt.Sprintf("datagram %d reached %s as %d bytes, checksum ok %v",
							seq, topo.ServerNames[r.server], r.size, r.sum == want))
						break wait
					}
					res.servers[r.server]++
					arrived = true
					if try > 1 {
						res.retried = append(res.retried, seq)
					}
					break wait
				case <-deadline:
					break wait
				}
			}
		}
		if !arrived {
			res.lost = append(res.lost, seq)
			if len(res.lost) == 3 && len(res.servers) == 0 {
				break // nothing gets through: no need to wait out the rest
			}
			continue
		}
		// The echo, fragmented by the real server's kernel: for DR and
		// TUN straight from the real server, for NAT back through vsd
		// (the steering program selects the non-first fragments by
		// their source, the real server).
		conn.SetReadDeadline(time.Now().Add(fragWait))
		for {
			n, err := conn.Read(echo)
			if err != nil {
				res.bad = append(res.bad, fmt.Sprintf("echo of datagram %d: %v", seq, err))
				break
			}
			if n >= 4 && binary.BigEndian.Uint32(echo) != seq {
				continue // the echo of an earlier try
			}
			if !bytes.Equal(echo[:n], d) {
				res.bad = append(res.bad, fmt.Sprintf("echo of datagram %d came back as %d bytes, checksum ok %v", seq, n, sha(echo[:n]) == want))
			}
			break
		}
	}
	return res
}

// TestUDPFragments: UDP datagrams of 4000 bytes — three fragments each,
// made by the client's kernel — from the client through NAT, DR and TUN,
// IPv4 and IPv6, reach the real server the connection table names, every
// byte intact; the real server's echo (fragmented by its kernel) comes
// back intact, for NAT through vsd. Full-size IPv4 fragments grow past the
// director→server MTU once the tunnel header is added: the director
// fragments them further before encapsulating; IPv6 ones get packet too
// big, and the client's next send fragments smaller. Small datagrams
// through the
// same services come first, so a failure of the large ones is the
// fragments'. Only the first datagram of a service may need a second
// send: the one that may teach the client a smaller path MTU (TUN's
// tunnel header makes full-size IPv6 fragments too big for the
// director→server link; the director answers packet too big).
func TestUDPFragments(t *testing.T) {
	needRoot(t, "ethtool")
	topo := buildTopo(t, TopoOptions{Prefix: "vsdfrag", Server: "go", Servers: 2})
	addServices(t, topo, api.UDP, fragPort)
	us := startUDPSinks(t, topo)

	var cases []pmtuCase
	for _, m := range []Method{NAT, DR, TUN} {
		for _, v6 := range []bool{false, true} {
			cases = append(cases, pmtuCase{m, v6})
		}
	}
	// The lab itself: one small datagram through every service.
	for _, c := range cases {
		var conn *net.UDPConn
		if err := topo.Client.Do(func() error {
			var err error
			conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(VIP(c.m, c.v6), fragPort)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Up to three sends: vsd drops (no_neighbor) a first packet that
		// comes before it has resolved the real server's MAC.
		b := make([]byte, 64)
		var n int
		var err error
		for try := 1; try <= 3; try++ {
			conn.Write([]byte{0xff, 0xff, 0xff, 0xff, 's', 'm', 'a', 'l', 'l'})
			conn.SetReadDeadline(time.Now().Add(time.Second))
			if n, err = conn.Read(b); err == nil && n == 9 {
				if try > 1 {
					t.Logf("%s: the small datagram came back on send %d", c, try)
				}
				break
			}
		}
		conn.Close()
		if err != nil || n != 9 {
			t.Fatalf("%s: the lab is broken: a 9-byte datagram did not come back (3 sends): %d bytes, %v", c, n, err)
		}
		for len(us.reports[c]) > 0 {
			<-us.reports[c]
		}
	}

	start := time.Now()
	res := make([]fragResult, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() { res[i] = runFragCase(topo, us, c) })
	}
	wg.Wait()
	t.Logf("%d × %d datagrams of %d bytes through %d services in %v", fragDgrams, len(cases), fragSize, len(cases),
		time.Since(start).Round(time.Millisecond))

	c, ctx, done := topo.client()
	conns, err := c.Conns(ctx)
	done()
	if err != nil {
		t.Fatal(err)
	}
	for i, cs := range cases {
		r := res[i]
		if r.firstErr != nil {
			t.Errorf("%s: %v", cs, r.firstErr)
			continue
		}
		for _, b := range r.bad {
			t.Errorf("%s: %s", cs, b)
		}
		if len(r.lost) > 0 {
			t.Errorf("%s: datagrams %v of %d never arrived intact (after %d sends each; the test stops after 3 when none did)",
				cs, r.lost, fragDgrams, fragMaxTries)
		}
		if len(r.retried) > 1 || len(r.retried) == 1 && r.retried[0] != 0 {
			t.Errorf("%s: datagrams %v needed more than one send (only the first may)", cs, r.retried)
		}
		if len(r.servers) > 1 {
			t.Errorf("%s: the datagrams of one client socket reached several real servers: %v", cs, r.servers)
		}
		// The right real server: the one of the connection entry.
		var dest netip.Addr
		for _, cn := range conns {
			if cn.Protocol == "UDP" && cn.Client == r.local && cn.Virtual == netip.AddrPortFrom(VIP(cs.m, cs.v6), fragPort) {
				dest = cn.Dest.Addr()
			}
		}
		for si, n := range r.servers {
			if serverAddr(si, cs.v6) != dest {
				t.Errorf("%s: %d datagrams reached %s (%s), the connection entry of %s names %v",
					cs, n, topo.ServerNames[si], serverAddr(si, cs.v6), r.local, dest)
			}
		}
		t.Logf("%s: from %s: %v intact datagrams by server, lost %v, resent %v", cs, r.local, r.servers, r.lost, r.retried)
	}
	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vsd: %d frames, %d sent, %d passed, %d dropped %v; events %v", st.Frames, st.Tx, st.Pass, st.Drop, st.Drops, st.Events)
	checkDropsCounted(t, st)
}
