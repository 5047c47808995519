package director

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/frag"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
)

// bigUDP builds a whole UDP datagram (with a correct checksum) of n bytes
// of payload, IPv4 id 'id', DF clear.
func bigUDP(srcMAC, dstMAC [6]byte, src, dst netip.AddrPort, n int, id uint16) []byte {
	pay := make([]byte, n)
	for i := range pay {
		pay[i] = byte(i*31 + i>>8)
	}
	f := packet.Frame{
		Ethernet: packet.EthernetFields{Src: srcMAC, Dst: dstMAC},
		UDP:      &packet.UDPFields{SrcPort: src.Port(), DstPort: dst.Port()},
		Payload:  pay,
	}
	if src.Addr().Is4() {
		f.IPv4 = &packet.IPv4Fields{TTL: 64, Src: src.Addr(), Dst: dst.Addr(), ID: id}
	} else {
		f.IPv6 = &packet.IPv6Fields{HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()}
	}
	return packet.AppendFrame(nil, &f)
}

// split cuts a whole frame (Ethernet + IPv4 or IPv6 without extension
// headers) into fragments of at most data bytes (a multiple of 8) of
// payload each; IPv6 fragments get a fragment header with id.
func split(frame []byte, data int, id uint32) [][]byte {
	var out [][]byte
	if binary.BigEndian.Uint16(frame[12:14]) == packet.EtherTypeIPv4 {
		ihl := int(frame[14]&15) * 4
		pay := frame[14+ihl:]
		for off := 0; off < len(pay); off += data {
			n := min(data, len(pay)-off)
			f := slices.Concat(frame[:14+ihl], pay[off:off+n])
			h := packet.IPv4(f[14 : 14+ihl])
			h.SetTotalLength(uint16(ihl + n))
			fo := uint16(off / 8)
			if off+n < len(pay) {
				fo |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:8], fo)
			h.UpdateChecksum()
			out = append(out, f)
		}
		return out
	}
	hdr := frame[14:54]
	pay := frame[54:]
	for off := 0; off < len(pay); off += data {
		n := min(data, len(pay)-off)
		fh := make([]byte, 8)
		fh[0] = hdr[6]
		fo := uint16(off)
		if off+n < len(pay) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:4], fo)
		binary.BigEndian.PutUint32(fh[4:8], id)
		f := slices.Concat(frame[:54], fh, pay[off:off+n])
		f[14+6] = byte(packet.ProtoIPv6Frag)
		binary.BigEndian.PutUint16(f[14+4:], uint16(8+n))
		out = append(out, f)
	}
	return out
}

// run sends frames through the worker in one batch and returns every frame
// it sent (the batch's Tx frames, then the outbox's), copied.
func (te *testEngine) run(frames ...[]byte) (sent [][]byte, r Result) {
	te.t.Helper()
	fr := make([]link.Frame, len(frames))
	for i, f := range frames {
		buf := make([]byte, link.Headroom+len(f)+64)
		copy(buf[link.Headroom:], f)
		fr[i] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(f)}
	}
	r = te.w.Process(fr, te.now)
	for _, f := range fr {
		if f.Action == link.Tx {
			sent = append(sent, slices.Clone(f.Bytes()))
		}
	}
	for _, f := range te.w.Outbox() {
		if f.Action == link.Tx {
			sent = append(sent, slices.Clone(f.Bytes()))
		}
	}
	return sent, r
}

// decap strips an IPIP / IPv6-in-IP outer header, checking that it goes
// to rip.
func decap(t *testing.T, f []byte, rip netip.Addr) []byte {
	t.Helper()
	var p packet.Parsed
	if packet.Decode(f, &p) != packet.OK {
		t.Fatal("outer header does not decode")
	}
	if netip.AddrFrom16(p.Dst).Unmap() != rip || (p.Proto != packet.ProtoIPIP && p.Proto != packet.ProtoIPv6) {
		t.Fatalf("outer header to %v proto %d", netip.AddrFrom16(p.Dst).Unmap(), p.Proto)
	}
	if !p.V6 && !packet.IPv4(f[14:]).IsChecksumValid() {
		t.Fatal("outer IPv4 header checksum")
	}
	in := slices.Concat(f[:14], f[p.L4Off:p.Len])
	et := packet.EtherTypeIPv4
	if p.Proto == packet.ProtoIPv6 {
		et = packet.EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(in[12:], et)
	return in
}

// reassemble puts the fragments back together as the receiver does and
// checks each IPv4 header checksum and that every fragment has the same
// addresses; it returns the first fragment's decode and the datagram's
// transport bytes.
func reassemble(t *testing.T, frames [][]byte) (packet.Parsed, []byte) {
	t.Helper()
	type piece struct {
		off  int
		data []byte
		more bool
	}
	var first packet.Parsed
	var pieces []piece
	var src, dst [16]byte
	for i, f := range frames {
		var p packet.Parsed
		if r := packet.Decode(f, &p); r != packet.OK {
			t.Fatalf("fragment %d does not decode: %v", i, r)
		}
		if !p.Flags.Has(packet.FlagFragment) {
			t.Fatalf("fragment %d is not a fragment", i)
		}
		if !p.V6 && !packet.IPv4(f[p.L3Off:]).IsChecksumValid() {
			t.Fatalf("fragment %d: bad IPv4 header checksum", i)
		}
		if i == 0 {
			src, dst = p.Src, p.Dst
		} else if p.Src != src || p.Dst != dst {
			t.Fatalf("fragment %d: %v → %v, fragment 0: %v → %v", i, netip.AddrFrom16(p.Src), netip.AddrFrom16(p.Dst), netip.AddrFrom16(src), netip.AddrFrom16(dst))
		}
		l4 := int(p.L4Off)
		if p.Flags&packet.FlagNonFirstFrag == 0 {
			first = p
		}
		pieces = append(pieces, piece{int(p.FragOff), f[l4:p.Len], p.Flags.Has(packet.FlagMoreFrags)})
	}
	slices.SortFunc(pieces, func(a, b piece) int { return a.off - b.off })
	var dg []byte
	for i, pc := range pieces {
		if pc.off != len(dg) {
			t.Fatalf("fragment at %d, want %d", pc.off, len(dg))
		}
		if pc.more != (i < len(pieces)-1) {
			t.Fatalf("fragment at %d: MF %v", pc.off, pc.more)
		}
		if pc.more && len(pc.data)%8 != 0 {
			t.Fatalf("fragment at %d: %d bytes, not a multiple of 8", pc.off, len(pc.data))
		}
		dg = append(dg, pc.data...)
	}
	if first.Len == 0 {
		t.Fatal("no first fragment")
	}
	return first, dg
}

// udpOK checks a reassembled UDP datagram's length and checksum.
func udpOK(t *testing.T, p *packet.Parsed, dg []byte) {
	t.Helper()
	if int(binary.BigEndian.Uint16(dg[4:6])) != len(dg) {
		t.Fatalf("UDP length %d, datagram %d", binary.BigEndian.Uint16(dg[4:6]), len(dg))
	}
	if packet.Fold(packet.Sum(packet.PseudoSum(p.V6, &p.Src, &p.Dst, packet.ProtoUDP, len(dg)), dg)) != 0xffff {
		t.Fatal("reassembled UDP checksum does not verify")
	}
}

// TestFragmentsEveryMethod: a 4000-byte UDP datagram in 3 fragments, in
// order, reversed (non-first ones held, then released by the first) in
// one batch, and reversed over three batches, through NAT, DR and TUN: all
// fragments reach the same real server, and the datagram reassembled there
// is the client's (NAT: with the real server's address and port, its
// checksum verifies).
func TestFragmentsEveryMethod(t *testing.T) {
	for _, fam := range families {
		for _, m := range []service.Method{service.Masq, service.Route, service.Tunnel} {
			for _, order := range []string{"in_order", "reversed", "reversed_batches"} {
				t.Run(fam.name+"/"+m.String()+"/"+order, func(t *testing.T) {
					te := newTestEngine(t, 12)
					k := service.Key{Proto: packet.ProtoUDP, Addr: fam.vip, Port: 53}
					te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
					for i := 1; i <= 3; i++ {
						te.addDest(k, i, service.DestParams{Addr: fam.rip(i), Port: 5353, Weight: 1, Method: m})
					}
					// Some other datagrams first, so the scheduler has moved.
					te.send(udpFrame(clientMAC, dirMAC, ap(fam.cip, 999), ap(fam.vip, 53), "x"))
					whole := bigUDP(clientMAC, dirMAC, ap(fam.cip, 4444), ap(fam.vip, 53), 4000, 0x1234)
					frags := split(whole, 1480, 0xabcdef)
					if len(frags) != 3 {
						t.Fatalf("%d fragments", len(frags))
					}
					var sent [][]byte
					switch order {
					case "in_order":
						sent, _ = te.run(frags...)
					case "reversed":
						var r Result
						sent, r = te.run(frags[2], frags[1], frags[0])
						if r.Held != 2 || r.Tx != 3 {
							t.Fatalf("result %+v", r)
						}
					case "reversed_batches":
						for i := 2; i >= 0; i-- {
							s, r := te.run(frags[i])
							if i > 0 && (r.Held != 1 || len(s) != 0) {
								t.Fatalf("fragment %d: result %+v, %d sent", i, r, len(s))
							}
							sent = append(sent, s...)
						}
					}
					if len(sent) != 3 {
						t.Fatalf("%d fragments sent (counters %+v)", len(sent), te.e.Counters())
					}
					// The one server that got the connection.
					var rs int
					for i := 1; i <= 3; i++ {
						if bytes.Equal(sent[0][0:6], macSlice(rsMAC(i))) {
							rs = i
						}
					}
					if rs == 0 {
						t.Fatalf("first frame to MAC %x", sent[0][0:6])
					}
					for i, f := range sent {
						if !bytes.Equal(f[0:6], macSlice(rsMAC(rs))) || !bytes.Equal(f[6:12], macSlice(dirMAC)) {
							t.Fatalf("fragment %d: MACs %x → %x, want → %x", i, f[6:12], f[0:6], rsMAC(rs))
						}
						if m == service.Tunnel {
							sent[i] = decap(t, f, fam.rip(rs))
						}
					}
					p, dg := reassemble(t, sent)
					wantDst, wantPort := fam.vip, uint16(53)
					if m == service.Masq {
						wantDst, wantPort = fam.rip(rs), 5353
					}
					if got := netip.AddrFrom16(p.Dst).Unmap(); got != wantDst || netip.AddrFrom16(p.Src).Unmap() != fam.cip {
						t.Fatalf("datagram %v → %v, want → %v", netip.AddrFrom16(p.Src).Unmap(), got, wantDst)
					}
					if p.TTL != 63 {
						t.Fatalf("TTL %d", p.TTL)
					}
					if binary.BigEndian.Uint16(dg[2:4]) != wantPort || binary.BigEndian.Uint16(dg[0:2]) != 4444 {
						t.Fatalf("ports %d → %d", binary.BigEndian.Uint16(dg[0:2]), binary.BigEndian.Uint16(dg[2:4]))
					}
					udpOK(t, &p, dg)
					// The payload is the client's, byte for byte.
					_, orig := reassemble(t, frags)
					if !bytes.Equal(dg[8:], orig[8:]) {
						t.Fatal("payload changed")
					}
					c := te.e.Counters()
					if c.Frag.Tracked != 1 || c.Frag.Matched+c.Frag.Released != 2 {
						t.Fatalf("tracker %+v", c.Frag)
					}
					if want := map[string]uint64{"in_order": 0, "reversed": 2, "reversed_batches": 2}[order]; c.Events[EventFragHeld] != want || c.Events[EventFragReleased] != want {
						t.Fatalf("held %d released %d, want %d", c.Events[EventFragHeld], c.Events[EventFragReleased], want)
					}
					d := te.dest(k, fam.rip(rs), 5353)
					if st := d.Stats.Sum(); st.InPkts != 3 {
						t.Fatalf("destination counted %d packets", st.InPkts)
					}
				})
			}
		}
	}
}

// TestFragmentsNATReply: a fragmented reply from a real server goes back
// to the client from the VIP; the reassembled datagram verifies.
func TestFragmentsNATReply(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			te := newTestEngine(t, 12)
			k := service.Key{Proto: packet.ProtoUDP, Addr: fam.vip, Port: 53}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
			te.addDest(k, 1, service.DestParams{Addr: fam.rip(1), Port: 5353, Weight: 1, Method: service.Masq})
			if out := te.send(udpFrame(clientMAC, dirMAC, ap(fam.cip, 4444), ap(fam.vip, 53), "q")); out.Action != link.Tx {
				t.Fatal("query not forwarded")
			}
			reply := bigUDP(rsMAC(1), dirMAC, ap(fam.rip(1), 5353), ap(fam.cip, 4444), 4000, 77)
			frags := split(reply, 1232, 0x55)
			sent, _ := te.run(append(slices.Clone(frags[1:]), frags[0])...) // first last: the others held
			if len(sent) != len(frags) {
				t.Fatalf("%d of %d fragments sent (counters %+v)", len(sent), len(frags), te.e.Counters())
			}
			for i, f := range sent {
				if !bytes.Equal(f[0:6], macSlice(clientMAC)) {
					t.Fatalf("fragment %d to %x", i, f[0:6])
				}
			}
			p, dg := reassemble(t, sent)
			if netip.AddrFrom16(p.Src).Unmap() != fam.vip || netip.AddrFrom16(p.Dst).Unmap() != fam.cip || binary.BigEndian.Uint16(dg[0:2]) != 53 {
				t.Fatalf("reply %v:%d → %v", netip.AddrFrom16(p.Src).Unmap(), binary.BigEndian.Uint16(dg[0:2]), netip.AddrFrom16(p.Dst).Unmap())
			}
			udpOK(t, &p, dg)
		})
	}
}

// TestFragmentsNATBytes: a NAT'ed non-first fragment differs from the
// client's only in the destination address, the TTL and (IPv4) the header
// checksum.
func TestFragmentsNATBytes(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	rip := families[0].rip(1)
	te.addDest(k, 1, service.DestParams{Addr: rip, Port: 5353, Weight: 1, Method: service.Masq})
	frags := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 9), 1480, 0)
	sent, _ := te.run(frags...)
	got, in := sent[1], frags[1]
	want := slices.Clone(in)
	copy(want[0:6], macSlice(rsMAC(1)))
	copy(want[6:12], macSlice(dirMAC))
	want[14+8] = 63
	r4 := rip.As4()
	copy(want[14+16:], r4[:])
	packet.IPv4(want[14:34]).UpdateChecksum()
	if !bytes.Equal(got, want) {
		t.Fatalf("non-first fragment:\n got %x\nwant %x", got[:40], want[:40])
	}
}

// TestFragmentsTimeout: held fragments whose first never comes are
// dropped and counted (frag_timeout); their late first fragment goes alone.
func TestFragmentsTimeout(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: service.Route})
	frags := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 9), 1480, 0)
	if _, r := te.run(frags[1], frags[2]); r.Held != 2 {
		t.Fatalf("result %+v", r)
	}
	te.now = te.now.Add(3 * time.Second)
	te.e.Maintain(te.now, 100*time.Millisecond)
	c := te.e.Counters()
	if c.Drops[ReasonFragTimeout] != 2 || c.Frag.DroppedTimeout != 2 || c.Frag.HeldNow != 0 {
		t.Fatalf("drops %v tracker %+v", c.Drops, c.Frag)
	}
	if sent, _ := te.run(frags[0]); len(sent) != 1 {
		t.Fatalf("late first fragment: %d frames sent", len(sent))
	}
	// A first fragment passed to the host (no service): the rest follow it.
	other := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 54), 3000, 10), 1480, 0)
	fr, r := te.run(other...)
	if r.Pass != 3 || len(fr) != 0 {
		t.Fatalf("not a service: result %+v", r)
	}
	// Sum of reasons = drops, still.
	c = te.e.Counters()
	var n uint64
	for _, d := range c.Drops {
		n += d
	}
	if n != c.Drop {
		t.Fatalf("%d drops, %d by reason", c.Drop, n)
	}
}

// TestFragmentFlood: 100k non-first fragments with random ids and no
// first fragments: the tracker's memory does not move, at most its pool is
// held, and every fragment is counted (held, then timed out; or refused).
func TestFragmentFlood(t *testing.T) {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: service.Masq})
	mem := te.e.frags.MemoryBytes()
	tmpl := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 9), 1480, 0)[1]
	rng := rand.New(rand.NewPCG(1, 2))
	const total = 100_000
	batch := make([]link.Frame, 64)
	for i := range batch {
		batch[i].Buf = make([]byte, link.Headroom+len(tmpl))
	}
	for sent := 0; sent < total; {
		n := min(len(batch), total-sent)
		for i := range n {
			f := &batch[i]
			copy(f.Buf[link.Headroom:], tmpl)
			ip := packet.IPv4(f.Buf[link.Headroom+14:])
			ip.SetID(uint16(rng.Uint32()))
			copy(ip[12:16], []byte{byte(rng.Uint32()), 2, 3, 4}) // spoofed sources
			ip.UpdateChecksum()
			f.Off, f.Len, f.Action = link.Headroom, len(tmpl), link.Drop
		}
		te.w.Process(batch[:n], te.now)
		sent += n
		te.now = te.now.Add(5 * time.Millisecond) // 12.8k fragments/s: the hold time passes several times
		if sent%6400 == 0 {
			te.e.Maintain(te.now, 100*time.Millisecond)
			if st := te.e.FragStats(); st.HeldNow > frag.DefaultHoldFrags || st.HeldBytesNow > frag.DefaultHoldBytes {
				t.Fatalf("pool grew: %+v", st)
			}
		}
	}
	te.now = te.now.Add(5 * time.Second)
	te.e.Maintain(te.now, 100*time.Millisecond)
	c := te.e.Counters()
	if got := te.e.frags.MemoryBytes(); got != mem {
		t.Fatalf("tracker memory %d → %d", mem, got)
	}
	st := c.Frag
	if st.Held+st.DroppedFull != total || c.Events[EventFragHeld] != st.Held || c.Drops[ReasonFragFull] != st.DroppedFull {
		t.Fatalf("not every fragment counted: tracker %+v, events %v, drops %v", st, c.Events, c.Drops)
	}
	if st.HeldNow != 0 || st.DroppedTimeout != st.Held || c.Drops[ReasonFragTimeout] != st.Held {
		t.Fatalf("held fragments not all timed out: %+v", st)
	}
	if c.Drop != total || c.Tx != 0 {
		t.Fatalf("counters %+v", c)
	}
	t.Logf("tracker %d bytes; %d held (then timed out), %d refused", mem, st.Held, st.DroppedFull)
}

// TestFragmentOut: with an egress MTU, a DF-clear IPv4 packet longer than
// it leaves as fragments: offsets multiples of 8, MF on all but the last,
// valid checksums, only copied options in the later fragments, and the
// reassembled datagram is the original; with DF set it is left alone.
func TestFragmentOut(t *testing.T) {
	neigh := staticNeighbors{cip4: clientMAC, cip6: clientMAC}
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6, MTU: 1000}}, Neighbors: neigh})
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: 1e12}
	kDR := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	kTUN := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 54}
	te.addService(service.ServiceConfig{Key: kDR, Sched: "rr"})
	te.addService(service.ServiceConfig{Key: kTUN, Sched: "rr"})
	te.addDest(kDR, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: service.Route})
	te.addDest(kTUN, 2, service.DestParams{Addr: families[0].rip(2), Port: 54, Weight: 1, Method: service.Tunnel})
	tu := DefaultTunables()
	tu.PMTUDisc = false // tunnels never set DF on the outer header
	e.SetTunables(tu)

	// Router alert (copied) and a timestamp option (not copied), 12 bytes.
	opts := []byte{0x94, 4, 0, 0, 0x44, 8, 5, 0, 0, 0, 0, 0}
	pay := make([]byte, 2500)
	for i := range pay {
		pay[i] = byte(i)
	}
	build := func(port uint16) []byte {
		return packet.AppendFrame(nil, &packet.Frame{
			Ethernet: packet.EthernetFields{Src: clientMAC, Dst: dirMAC},
			IPv4:     &packet.IPv4Fields{TTL: 64, Src: cip4, Dst: vip4, ID: 321, Options: opts},
			UDP:      &packet.UDPFields{SrcPort: 4000, DstPort: port},
			Payload:  pay,
		})
	}
	in := build(53)
	for _, via := range []string{"DR", "TUN"} {
		if via == "TUN" {
			in = build(54)
		}
		sent, _ := te.run(in)
		if len(sent) != 3 {
			t.Fatalf("%s: %d frames sent (counters %+v)", via, len(sent), te.e.Counters())
		}
		for i, f := range sent {
			if len(f)-14 > 1000 {
				t.Fatalf("%s: fragment %d is %d bytes of IP", via, i, len(f)-14)
			}
		}
		if via == "TUN" {
			// The inner packet was fragmented before encapsulation:
			// every frame is a whole IPIP packet to the real server
			// (so the decapsulator needs no reassembly), and the inner
			// fragments reassemble to the original datagram.
			inner := make([][]byte, len(sent))
			for i, f := range sent {
				outer := packet.IPv4(f[14:34])
				if outer.Protocol() != packet.ProtoIPIP || netip.AddrFrom4(outer.Destination()) != families[0].rip(2) ||
					outer.MF() || outer.FragmentOffset() != 0 || !outer.IsChecksumValid() {
					t.Fatalf("TUN: frame %d: outer %x", i, f[14:34])
				}
				inner[i] = append(append([]byte(nil), f[:14]...), f[34:]...)
			}
			p, dg := reassemble(t, inner)
			if p.Proto != packet.ProtoUDP || !bytes.Equal(dg, in[14+32:]) {
				t.Fatal("TUN: the inner fragments do not reassemble to the datagram")
			}
			continue
		}
		// The first keeps every option; the others only the router alert.
		if hl := int(sent[0][14]&15) * 4; hl != 32 {
			t.Fatalf("first fragment header %d bytes", hl)
		}
		for _, f := range sent[1:] {
			if hl := int(f[14]&15) * 4; hl != 24 || !bytes.Equal(f[34:38], opts[:4]) {
				t.Fatalf("later fragment header %d bytes: %x", hl, f[14:14+hl])
			}
		}
		// Data bytes per fragment: (1000-32)&^7 = 968, (1000-24)&^7 = 976.
		p, dg := reassemble(t, sent)
		if len(dg) != 2508 || int(p.FragOff) != 0 {
			t.Fatalf("datagram %d bytes", len(dg))
		}
		if n := int(binary.BigEndian.Uint16(sent[0][16:18])) - 32; n != 968 {
			t.Fatalf("first fragment carries %d bytes", n)
		}
		if !bytes.Equal(dg, in[14+32:]) {
			t.Fatal("reassembled datagram differs")
		}
		udpOK(t, &p, dg)
		if te.e.Counters().Events[EventFragOut] != 2 {
			t.Fatalf("frag_out %d", te.e.Counters().Events[EventFragOut])
		}
	}
	// DF set: not fragmented; the MTU check answers it with one
	// fragmentation needed instead.
	df := build(53)
	df[14+6] |= 0x40
	packet.IPv4(df[14:46]).UpdateChecksum()
	before := te.e.Counters().Events[EventFragNeededICMP]
	if sent, _ := te.run(df); len(sent) != 1 || len(sent[0]) >= len(df) || te.e.Counters().Events[EventFragNeededICMP] != before+1 {
		t.Fatalf("DF packet: %d frames, frag needed %d → %d", len(sent), before, te.e.Counters().Events[EventFragNeededICMP])
	}
}

// TestFragmentAllocs: a forwarded non-first fragment allocates nothing.
func TestFragmentAllocs(t *testing.T) {
	for _, m := range []service.Method{service.Masq, service.Route, service.Tunnel} {
		te := newTestEngine(t, 12)
		k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
		te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
		te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: m})
		frags := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 9), 1480, 0)
		te.run(frags[0])
		buf := make([]byte, link.Headroom+len(frags[1]))
		fr := []link.Frame{{}}
		n := testing.AllocsPerRun(1000, func() {
			copy(buf[link.Headroom:], frags[1])
			fr[0] = link.Frame{Buf: buf, Off: link.Headroom, Len: len(frags[1])}
			te.w.Process(fr, te.now)
		})
		if n != 0 || fr[0].Action != link.Tx {
			t.Fatalf("%v: %v allocations, action %v", m, n, fr[0].Action)
		}
		// Held and released (a new datagram id each run): no allocation
		// either.
		id := uint16(100)
		fr3 := make([]link.Frame, 3)
		bufs := [3][]byte{}
		for i := range bufs {
			bufs[i] = make([]byte, link.Headroom+1600)
		}
		all := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 500), 1480, 0)
		n = testing.AllocsPerRun(200, func() {
			id++
			for i, j := range []int{2, 1, 0} {
				copy(bufs[i][link.Headroom:], all[j])
				ip := packet.IPv4(bufs[i][link.Headroom+14:])
				ip.SetIDWithChecksum(id)
				fr3[i] = link.Frame{Buf: bufs[i], Off: link.Headroom, Len: len(all[j])}
			}
			te.w.Process(fr3, te.now)
		})
		if n != 0 || len(te.w.Outbox()) != 2 {
			t.Fatalf("%v: held and released: %v allocations, %d released", m, n, len(te.w.Outbox()))
		}
	}
}

// TestTunnelRefragments: full-size IPv4 fragments of a client's datagram
// (DF clear) do not fit a 1500-byte link to a tunnel real server once the
// IPIP header is added: the director fragments each one further before it
// encapsulates, so every frame is a whole IPIP packet that fits, in order
// and out of order, and the inner pieces reassemble to the datagram.
func TestTunnelRefragments(t *testing.T) {
	for _, order := range []string{"in_order", "reversed"} {
		t.Run(order, func(t *testing.T) {
			neigh := staticNeighbors{cip4: clientMAC}
			e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6, MTU: 1500}}, Neighbors: neigh})
			if err != nil {
				t.Fatal(err)
			}
			te := &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: 1e12}
			k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
			te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
			rip := families[0].rip(1)
			te.addDest(k, 1, service.DestParams{Addr: rip, Port: 53, Weight: 1, Method: service.Tunnel})
			whole := bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 0x1234)
			frags := split(whole, 1480, 0)
			if order == "reversed" {
				frags[0], frags[2] = frags[2], frags[0]
			}
			sent, _ := te.run(frags...)
			if len(sent) != 5 {
				t.Fatalf("%d frames sent, want 5 (counters %+v)", len(sent), te.e.Counters())
			}
			inner := make([][]byte, len(sent))
			for i, f := range sent {
				outer := packet.IPv4(f[14:34])
				if len(f)-14 > 1500 || outer.Protocol() != packet.ProtoIPIP || outer.MF() || outer.FragmentOffset() != 0 ||
					netip.AddrFrom4(outer.Destination()) != rip || !outer.IsChecksumValid() {
					t.Fatalf("frame %d: %d bytes, outer %x", i, len(f), f[14:34])
				}
				inner[i] = append(append([]byte(nil), f[:14]...), f[34:]...)
			}
			p, dg := reassemble(t, inner)
			udpOK(t, &p, dg)
			if !bytes.Equal(dg[8:], whole[14+20+8:]) {
				t.Fatal("the datagram differs")
			}
		})
	}
}

// Re-fragmenting before encapsulation allocates nothing.
func TestTunnelRefragmentAllocs(t *testing.T) {
	neigh := staticNeighbors{cip4: clientMAC}
	e, err := New(Config{Ports: []Port{{MAC: dirMAC, Addr4: dir4, Addr6: dir6, MTU: 1500}}, Neighbors: neigh})
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{t: t, e: e, w: e.NewWorker(), set: service.NewSet(sched.New), neigh: neigh, now: 1e12}
	k := service.Key{Proto: packet.ProtoUDP, Addr: vip4, Port: 53}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	te.addDest(k, 1, service.DestParams{Addr: families[0].rip(1), Port: 53, Weight: 1, Method: service.Tunnel})
	frags := split(bigUDP(clientMAC, dirMAC, ap(cip4, 4444), ap(vip4, 53), 4000, 0x1234), 1480, 0)
	bufs := make([][]byte, len(frags))
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+2048)
	}
	fr := make([]link.Frame, len(frags))
	id := uint16(0)
	n := testing.AllocsPerRun(100, func() {
		id++
		for i, f := range frags {
			copy(bufs[i][link.Headroom:], f)
			h := packet.IPv4(bufs[i][link.Headroom+14 : link.Headroom+34])
			h.SetID(id) // a new datagram each time
			h.UpdateChecksum()
			fr[i] = link.Frame{Buf: bufs[i], Off: link.Headroom, Len: len(f)}
		}
		if r := te.w.Process(fr, te.now); r.Tx != 5 {
			t.Fatalf("result %+v", r)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
}
