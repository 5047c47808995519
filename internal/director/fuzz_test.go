package director

import (
	"testing"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// FuzzProcess feeds arbitrary frames to an engine with NAT, DR and TUN
// services: nothing panics, every frame gets exactly one verdict, every
// drop is counted under a reason, and a Tx frame stays inside its buffer.
func FuzzProcess(f *testing.F) {
	for _, fam := range families {
		f.Add(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1000), ap(fam.vip, 80), packet.TCPSyn, ""))
		f.Add(tcpFrame(clientMAC, dirMAC, ap(fam.cip, 1000), ap(fam.vip, 81), packet.TCPSyn|packet.TCPAck, "x"))
		f.Add(udpFrame(clientMAC, dirMAC, ap(fam.cip, 1000), ap(fam.vip, 82), "q"))
		f.Add(tcpFrame(rsMAC(1), dirMAC, ap(fam.rip(1), 80), ap(fam.cip, 1000), packet.TCPAck, ""))
	}
	te := newTestEngine(f, 8)
	for _, fam := range families {
		for i, m := range []service.Method{service.Masq, service.Route, service.Tunnel} {
			proto := packet.ProtoTCP
			if m == service.Tunnel {
				proto = packet.ProtoUDP
			}
			k := service.Key{Proto: proto, Addr: fam.vip, Port: uint16(80 + i)}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr", Flags: service.Flags(i&1) * service.FlagPersistent, Timeout: 60})
			te.addDest(k, i+1, service.DestParams{Addr: fam.rip(i + 1), Port: 80, Weight: 1, Method: m, TunType: service.TunType(i & 1), TunPort: 6080})
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 1900 {
			return
		}
		buf := make([]byte, link.Headroom+len(frame)+64)
		copy(buf[link.Headroom:], frame)
		fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(frame)}}
		before := te.e.Counters()
		r := te.w.Process(fr, te.now)
		after := te.e.Counters()
		// One frame in; the outbox may add fragments (released or made).
		if r.Tx+r.Pass+r.Drop+r.Held != 1+len(te.w.Outbox()) || after.Frames-before.Frames != 1 {
			t.Fatalf("result %+v for one frame and %d extra", r, len(te.w.Outbox()))
		}
		var reasons uint64
		for i := range after.Drops {
			reasons += after.Drops[i] - before.Drops[i]
		}
		if reasons != after.Drop-before.Drop {
			t.Fatalf("%d drops, %d counted by reason", after.Drop-before.Drop, reasons)
		}
		if fr[0].Action == link.Tx && (fr[0].Off < 0 || fr[0].Off+fr[0].Len > len(buf) || fr[0].Len < 14) {
			t.Fatalf("tx frame out of its buffer: off %d len %d cap %d", fr[0].Off, fr[0].Len, len(buf))
		}
		te.now = te.now.Add(1e6)
	})
}
