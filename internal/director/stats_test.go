package director

import (
	"testing"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// TestTrafficCounters checks the kernel's counting rules: a scheduled
// connection counts once on the destination, its service and the totals;
// every forwarded client packet counts in, every NAT reply out, with the
// IP length as bytes; a packet dropped for want of a service counts
// nowhere; Zero restarts a Stats from 0 without touching the others.
func TestTrafficCounters(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 8080, Weight: 1, Method: service.Masq})
	d := te.dest(k, rip, 8080)
	client := ap(cip4, 40000)

	syn := tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPSyn, "")
	if out := te.send(syn); out.Action != link.Tx {
		t.Fatalf("SYN: %v", out.Action)
	}
	synack := tcpFrame(rsMAC(1), dirMAC, ap(rip, 8080), client, packet.TCPSyn|packet.TCPAck, "")
	te.send(synack)
	data := tcpFrame(clientMAC, dirMAC, client, ap(vip4, 80), packet.TCPAck, "GET / HTTP/1.0\r\n\r\n")
	te.send(data)
	// Not for any service: passed, not counted.
	te.send(tcpFrame(clientMAC, dirMAC, client, ap(vip4, 81), packet.TCPSyn, ""))

	ipLen := func(f []byte) uint64 { return uint64(len(f) - 14) }
	want := service.Counters{Conns: 1, InPkts: 2, OutPkts: 1,
		InBytes: ipLen(syn) + ipLen(data), OutBytes: ipLen(synack)}
	svc := te.e.Snapshot().Find(k)
	for name, got := range map[string]service.Counters{
		"dest": d.Stats.Sum(), "service": svc.Stats.Sum(), "total": te.e.Stats().Sum(), "worker 0": te.e.Stats().Shard(0),
	} {
		if got != want {
			t.Errorf("%s counters %+v, want %+v", name, got, want)
		}
	}
	d.Stats.Zero()
	if got := d.Stats.Sum(); got != (service.Counters{}) {
		t.Errorf("after Zero: %+v", got)
	}
	if got := svc.Stats.Sum(); got != want {
		t.Errorf("zeroing the dest changed the service: %+v", got)
	}
	te.send(data)
	if got := d.Stats.Sum(); got.InPkts != 1 || got.InBytes != ipLen(data) || got.Conns != 0 {
		t.Errorf("after Zero and one packet: %+v", got)
	}
	if got := d.Stats.Raw(); got.InPkts != 3 {
		t.Errorf("Raw ignores zeroing: %+v, want 3 in packets", got)
	}
}
