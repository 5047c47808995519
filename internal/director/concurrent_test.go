package director

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// TestWorkersConcurrently runs two workers on one engine at once — one
// handling the clients' packets, the other the real servers' replies —
// while the control side publishes new snapshots and runs Maintain. Under
// -race this checks the locking; at the end every counter must be back to
// zero once the connections have expired.
func TestWorkersConcurrently(t *testing.T) {
	te := newTestEngine(t, 10)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "wlc"})
	for i := 1; i <= 3; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 80, Weight: 1, Method: service.Masq})
	}
	clientW, serverW := te.w, te.e.NewWorker()
	const flows = 2000
	clients := make([]netip.AddrPort, flows)
	for i := range clients {
		clients[i] = ap(netip.AddrFrom4([4]byte{100, 1, byte(i >> 8), byte(i)}), uint16(2000+i))
		te.neigh[clients[i].Addr()] = clientMAC
	}
	now := te.now
	// Open every flow (SYN) first, single-threaded, to learn its server.
	server := make([]int, flows)
	buf := make([]byte, link.Headroom+128)
	for i, c := range clients {
		f := tcpFrame(clientMAC, dirMAC, c, ap(vip4, 80), packet.TCPSyn, "")
		copy(buf[link.Headroom:], f)
		fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(f)}}
		clientW.Process(fr, now)
		server[i] = int(fr[0].Bytes()[5])
	}
	var wg sync.WaitGroup
	run := func(w *Worker, frame func(i int) []byte) {
		defer wg.Done()
		b := make([]byte, link.Headroom+128)
		for round := 0; round < 3; round++ {
			for i := range clients {
				f := frame(i)
				copy(b[link.Headroom:], f)
				fr := []link.Frame{{Buf: b, Off: link.Headroom, Len: len(f)}}
				w.Process(fr, now)
				if fr[0].Action != link.Tx {
					t.Errorf("flow %d: %v (counters %+v)", i, fr[0].Action, te.e.Counters())
					return
				}
			}
		}
	}
	wg.Add(3)
	go run(clientW, func(i int) []byte {
		return tcpFrame(clientMAC, dirMAC, clients[i], ap(vip4, 80), packet.TCPAck, "data")
	})
	go run(serverW, func(i int) []byte {
		rip := families[0].rip(server[i])
		return tcpFrame(rsMAC(server[i]), dirMAC, ap(rip, 80), clients[i], packet.TCPAck, "reply")
	})
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			te.e.Publish(te.set.Snapshot())
			te.e.Maintain(now, 10*time.Millisecond)
			_ = te.e.Counters()
		}
	}()
	wg.Wait()
	later := now.Add(16 * time.Minute)
	te.e.Maintain(later, time.Hour)
	for i := 1; i <= 3; i++ {
		if got := counts(te.dest(k, families[0].rip(i), 80)); got != [3]int32{0, 0, 0} {
			t.Fatalf("server %d counters %v after everything expired", i, got)
		}
	}
	if n := te.e.Table().Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
