package director

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
)

var (
	dirMAC    = [6]byte{0x02, 0, 0, 0, 0, 0xd1}
	clientMAC = [6]byte{0x02, 0, 0, 0, 0, 0xc1}
	vip4      = netip.MustParseAddr("10.0.0.100")
	vip6      = netip.MustParseAddr("2001:db8::100")
	cip4      = netip.MustParseAddr("192.0.2.7")
	cip6      = netip.MustParseAddr("2001:db8:c::7")
	dir4      = netip.MustParseAddr("10.0.0.1")
	dir6      = netip.MustParseAddr("2001:db8::1")
)

func rsMAC(i int) [6]byte { return [6]byte{0x02, 0, 0, 0, 1, byte(i)} }

// staticNeighbors resolves every address of a fixed map to port 0.
type staticNeighbors map[netip.Addr][6]byte

func (s staticNeighbors) Resolve(v6 bool, a [16]byte) ([6]byte, uint16, bool) {
	addr := netip.AddrFrom16(a)
	if !v6 {
		addr = addr.Unmap()
	}
	m, ok := s[addr]
	return m, 0, ok
}

// testEngine is an engine with one port and a service set.
type testEngine struct {
	t     testing.TB
	e     *Engine
	w     *Worker
	set   *service.Set
	neigh staticNeighbors
	now   clock.Time
}

func newTestEngine(t testing.TB, bits int) *testEngine {
	t.Helper()
	neigh := staticNeighbors{cip4: clientMAC, cip6: clientMAC}
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6}}, Neighbors: neigh, TableBits: bits})
	if err != nil {
		t.Fatal(err)
	}
	return &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: clock.Seconds(1000)}
}

// tune starts from the kernel defaults, applies set and installs the result.
func (te *testEngine) tune(set func(*Tunables)) {
	tu := DefaultTunables()
	set(&tu)
	te.e.SetTunables(tu)
}

func (te *testEngine) addService(c service.ServiceConfig) {
	te.t.Helper()
	if err := te.set.AddService(c); err != nil {
		te.t.Fatal(err)
	}
	te.e.Publish(te.set.Snapshot())
}

func (te *testEngine) addDest(k service.Key, i int, p service.DestParams) {
	te.t.Helper()
	if err := te.set.AddDest(k, p); err != nil {
		te.t.Fatal(err)
	}
	te.neigh[p.Addr] = rsMAC(i)
	te.e.NeighborsChanged()
	te.e.Publish(te.set.Snapshot())
}

func (te *testEngine) dest(k service.Key, addr netip.Addr, port uint16) *service.Dest {
	svc := te.e.Snapshot().Find(k)
	if svc == nil {
		te.t.Fatalf("no service %v", k)
	}
	for _, d := range svc.Dests {
		if d.Addr == addr && d.Port == port {
			return d
		}
	}
	te.t.Fatalf("no dest %v:%d", addr, port)
	return nil
}

// send runs one frame through the worker and returns it.
func (te *testEngine) send(frame []byte) link.Frame {
	te.t.Helper()
	buf := make([]byte, link.Headroom+len(frame)+64)
	copy(buf[link.Headroom:], frame)
	fr := []link.Frame{{Buf: buf, Off: link.Headroom, Len: len(frame)}}
	te.w.Process(fr, te.now)
	return fr[0]
}

// tcpFrame builds a client or server TCP frame.
func tcpFrame(srcMAC, dstMAC [6]byte, src, dst netip.AddrPort, flags packet.TCPFlags, payload string) []byte {
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: srcMAC, Dst: dstMAC},
		TCP:      &packet.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: 1000, Ack: 2000, Flags: flags, Window: 65535},
		Payload:  []byte(payload),
	}
	if src.Addr().Is4() {
		f.IPv4 = &packet.IPv4Fields{TTL: 64, Src: src.Addr(), Dst: dst.Addr(), ID: 7, DF: true}
	} else {
		f.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()}
	}
	return packet.AppendFrame(nil, &f)
}

func udpFrame(srcMAC, dstMAC [6]byte, src, dst netip.AddrPort, payload string) []byte {
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: srcMAC, Dst: dstMAC},
		UDP:      &packet.UDPFields{SrcPort: src.Port(), DstPort: dst.Port()},
		Payload:  []byte(payload),
	}
	if src.Addr().Is4() {
		f.IPv4 = &packet.IPv4Fields{TTL: 64, Src: src.Addr(), Dst: dst.Addr(), ID: 9}
	} else {
		f.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()}
	}
	return packet.AppendFrame(nil, &f)
}

// gp decodes a frame with gopacket (independent of our decoder) and checks
// every checksum by re-serialising with gopacket's own checksum code.
func gp(t testing.TB, b []byte) gopacket.Packet {
	t.Helper()
	pk := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode: %v", el.Error())
	}
	verifyChecksums(t, pk)
	return pk
}

func verifyChecksums(t testing.TB, pk gopacket.Packet) {
	t.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range pk.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			c := *l
			buf := gopacket.NewSerializeBuffer()
			if err := c.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
				t.Fatal(err)
			}
			want := c.Checksum
			if l.Checksum != want {
				t.Fatalf("IPv4 header checksum %#04x, want %#04x", l.Checksum, want)
			}
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			got := l.Checksum
			c := *l
			c.SetNetworkLayerForChecksum(nl)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &c, gopacket.Payload(l.Payload)); err != nil {
				t.Fatal(err)
			}
			if c.Checksum != got {
				t.Fatalf("TCP checksum %#04x, want %#04x", got, c.Checksum)
			}
		case *layers.UDP:
			got := l.Checksum
			if got == 0 {
				continue
			}
			c := *l
			c.SetNetworkLayerForChecksum(nl)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &c, gopacket.Payload(l.Payload)); err != nil {
				t.Fatal(err)
			}
			if c.Checksum != got {
				t.Fatalf("UDP checksum %#04x, want %#04x", got, c.Checksum)
			}
		}
	}
}

func macSlice(m [6]byte) []byte { return m[:] }
