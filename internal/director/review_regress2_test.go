package director

import (
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// TestRegressTTLExpiredNAT: time exceeded quotes the packet as it arrived.
func TestRegressTTLExpiredNAT(t *testing.T) {
	te := newTestEngine(t, 8)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	r1 := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: r1, Port: 8080, Weight: 1, Method: service.Masq})
	c := ap(cip4, 7000)
	f := tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, "")
	f[14+8] = 1
	// fix ip checksum
	f[14+10], f[14+11] = 0, 0
	ip := packet.IPv4(f[14:34])
	ip.SetChecksum(ip.CalculateChecksum())
	out := te.send(f)
	b := out.Bytes()
	if out.Action != link.Tx {
		t.Fatalf("%v", out.Action)
	}
	// outer IP at 14; ICMP at 34; quoted IP at 42
	q := b[42:]
	if to, qdst, qport := netip.AddrFrom4([4]byte(b[30:34])), netip.AddrFrom4([4]byte(q[16:20])), uint16(q[22])<<8|uint16(q[23]); to != cip4 || qdst != vip4 || qport != 80 {
		t.Fatalf("inbound TTL=1: ICMP to %v quoting %v:%d; want to the client quoting its own packet to %v:80", to, qdst, qport, vip4)
	}

	// Establish, then a reply with TTL 1
	te.send(tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, ""))
	rf := tcpFrame(rsMAC(1), dirMAC, ap(r1, 8080), c, packet.TCPSyn|packet.TCPAck, "")
	rf[14+8] = 1
	rf[14+10], rf[14+11] = 0, 0
	ip = packet.IPv4(rf[14:34])
	ip.SetChecksum(ip.CalculateChecksum())
	out = te.send(rf)
	b = out.Bytes()
	q = b[42:]
	if to, qsrc := netip.AddrFrom4([4]byte(b[30:34])), netip.AddrFrom4([4]byte(q[12:16])); out.Action != link.Tx || to != r1 || qsrc != r1 {
		t.Fatalf("reply TTL=1: %v, ICMP to %v quoting source %v; want to the real server %v about its own packet", out.Action, to, qsrc, r1)
	}
}
