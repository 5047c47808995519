package director

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

type family struct {
	name     string
	vip, cip netip.Addr
	rip      func(i int) netip.Addr
}

var families = []family{
	{"ipv4", vip4, cip4, func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}) }},
	{"ipv6", vip6, cip6, func(i int) netip.Addr { return netip.MustParseAddr("2001:db8:1::" + string(rune('0'+i))) }},
}

func counts(d *service.Dest) [3]int32 {
	return [3]int32{d.Active.Load(), d.Inactive.Load(), d.Persist.Load()}
}

// TestNATConnectionLifecycle follows one TCP connection through NAT: the
// rewrite of every packet in both directions, byte for byte where it
// matters and with checksums checked by gopacket, and ActiveConn/InActConn
// as the state machine moves.
func TestNATConnectionLifecycle(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 12)
			k := service.Key{Proto: packet.ProtoTCP, Addr: fam.vip, Port: 80}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
			rip := fam.rip(1)
			te.addDest(k, 1, service.DestParams{Addr: rip, Port: 8080, Weight: 1, Method: service.Masq})
			d := te.dest(k, rip, 8080)
			client := ap(fam.cip, 40000)

			in := tcpFrame(clientMAC, dirMAC, client, ap(fam.vip, 80), packet.TCPSyn, "")
			out := te.send(in)
			if out.Action != link.Tx {
				t.Fatalf("SYN: action %v, want tx (counters %+v)", out.Action, te.e.Counters())
			}
			pk := gp(t, out.Bytes())
			eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.DstMAC, macSlice(rsMAC(1))) || !bytes.Equal(eth.SrcMAC, macSlice(dirMAC)) {
				t.Fatalf("SYN MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
			}
			src, dst, ttl := ipOf(t, pk)
			if src != fam.cip || dst != rip || ttl != 63 {
				t.Fatalf("SYN rewritten to %v -> %v ttl %d; want %v -> %v ttl 63", src, dst, ttl, fam.cip, rip)
			}
			tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp.SrcPort != 40000 || tcp.DstPort != 8080 {
				t.Fatalf("SYN ports %d -> %d", tcp.SrcPort, tcp.DstPort)
			}
			if got := counts(d); got != [3]int32{1, 0, 0} {
				t.Fatalf("after SYN counters %v, want active 1 (SYN_RECV)", got)
			}

			// Server's SYN+ACK comes back through the director.
			out = te.send(tcpFrame(rsMAC(1), dirMAC, ap(rip, 8080), client, packet.TCPSyn|packet.TCPAck, ""))
			if out.Action != link.Tx {
				t.Fatalf("SYN+ACK: action %v", out.Action)
			}
			pk = gp(t, out.Bytes())
			src, dst, _ = ipOf(t, pk)
			tcp = pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if src != fam.vip || dst != fam.cip || tcp.SrcPort != 80 || tcp.DstPort != 40000 {
				t.Fatalf("reply rewritten to %v:%d -> %v:%d", src, tcp.SrcPort, dst, tcp.DstPort)
			}
			if eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(eth.DstMAC, macSlice(clientMAC)) {
				t.Fatalf("reply to MAC %v", eth.DstMAC)
			}

			te.send(tcpFrame(clientMAC, dirMAC, client, ap(fam.vip, 80), packet.TCPAck, "GET / HTTP/1.0\r\n\r\n"))
			if got := counts(d); got != [3]int32{1, 0, 0} {
				t.Fatalf("established: counters %v", got)
			}
			// Client closes: INPUT fin in ESTABLISHED → CLOSE_WAIT (inactive).
			te.send(tcpFrame(clientMAC, dirMAC, client, ap(fam.vip, 80), packet.TCPFin|packet.TCPAck, ""))
			if got := counts(d); got != [3]int32{0, 1, 0} {
				t.Fatalf("after client FIN counters %v, want inactive 1", got)
			}
			te.send(tcpFrame(rsMAC(1), dirMAC, ap(rip, 8080), client, packet.TCPFin|packet.TCPAck, ""))
			// TIME_WAIT lasts 120 s; after that the reaper frees the entry.
			te.now = te.now.Add(119 * time.Second)
			te.e.Maintain(te.now, time.Hour)
			if te.e.Table().Len() != 1 {
				t.Fatalf("entry gone before its TIME_WAIT timeout")
			}
			te.now = te.now.Add(2 * time.Second)
			te.e.Maintain(te.now, time.Hour)
			if n := te.e.Table().Len(); n != 0 {
				t.Fatalf("table has %d entries after expiry", n)
			}
			if got := counts(d); got != [3]int32{0, 0, 0} {
				t.Fatalf("after expiry counters %v", got)
			}
		})
	}
}

// ipOf returns the outermost IP header's addresses and TTL.
func ipOf(t testing.TB, pk gopacket.Packet) (src, dst netip.Addr, ttl uint8) {
	t.Helper()
	for _, l := range pk.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			s, _ := netip.AddrFromSlice(l.SrcIP.To4())
			d, _ := netip.AddrFromSlice(l.DstIP.To4())
			return s, d, l.TTL
		case *layers.IPv6:
			s, _ := netip.AddrFromSlice(l.SrcIP)
			d, _ := netip.AddrFromSlice(l.DstIP)
			return s, d, l.HopLimit
		}
	}
	t.Fatal("no IP layer")
	return
}
