package director

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/forward"
	"github.com/vsd/vsd/internal/frag"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// Fragments (issue #6 item 3). A first fragment carries the ports, so it
// goes through the normal path; what it was decided (forward to a real
// server by a method, un-NAT a reply to a VIP, pass to the host, drop) is
// recorded in the engine's frag.Tracker under (family, protocol, source,
// destination, id). A non-first fragment looks that decision up and is
// forwarded the same way (NAT: only the IP address changes — the first
// fragment's transport checksum update covers the whole datagram; DR: the
// MACs; TUN: encapsulated). A non-first fragment that arrives before its
// first is copied into the tracker's pool and released, through the
// worker's outbox, when the first one is decided. Nothing is reassembled.
//
// The outbox also takes the extra fragments when an IPv4 packet with DF
// clear is longer than the egress port's MTU (fragmentOut).

// Decision kinds, in the low byte of frag.Value.Word.
const (
	fragFwd   = 1 // forward: method, dest id, dport
	fragReply = 2 // NAT reply: source becomes Value.Addr (the VIP); dest id for the counters
	fragPass  = 3 // the host's business
	fragDrop  = 4 // the first fragment was dropped (or answered): so are the others
)

// Outbox bounds: frames and bytes of extra frames one Process call can
// produce (released fragments and fragments made by fragmentOut).
const (
	outboxFrames = 128
	outboxBytes  = 256 << 10
)

// fragState is a worker's part of fragment handling.
type fragState struct {
	first    bool // the frame being handled is a first fragment
	recorded bool // and its decision is recorded
	key      frag.Key
	val      frag.Value    // the recorded decision
	from     int           // outbox index of the first fragment released by it
	p        packet.Parsed // decode of an outbox frame
	piece    packet.Parsed // decode of a piece a tunnel packet was cut into (tunnel)
	out      outbox
}

// outbox holds the extra frames of one Process call in a fixed arena.
type outbox struct {
	frames [outboxFrames]link.Frame
	n      int
	used   int
	arena  [outboxBytes]byte
}

func (o *outbox) reset() {
	for i := range o.frames[:o.n] {
		o.frames[i] = link.Frame{}
	}
	o.n, o.used = 0, 0
}

// room reports whether k more frames of n bytes in all fit.
func (o *outbox) room(k, n int) bool {
	return o.n+k <= len(o.frames) && o.used+k*link.Headroom+n <= len(o.arena)
}

// Take adds a frame of n bytes (with headroom for a tunnel header) that
// arrived on port and returns its bytes to fill; nil when full. It is the
// frag.Sink of released fragments.
func (o *outbox) Take(n int, port uint16) []byte {
	if !o.room(1, n) {
		return nil
	}
	buf := o.arena[o.used : o.used+link.Headroom+n : o.used+link.Headroom+n]
	o.used += link.Headroom + n
	o.frames[o.n] = link.Frame{Buf: buf, Off: link.Headroom, Len: n, Port: port, Action: link.Drop}
	o.n++
	return buf[link.Headroom:]
}

// Outbox returns the extra frames the last Process call made: fragments
// that were held until their first fragment came, and the further
// fragments of packets fragmented for the egress MTU. The caller sends
// every one whose Action is Tx out of its Port (as Buf[Off:Off+Len]) after
// it has sent the batch (the daemon: link.Queue.Send; the sim: Inject);
// the others were counted and must be ignored. Valid until the next
// Process call.
func (w *Worker) Outbox() []link.Frame { return w.frag.out.frames[:w.frag.out.n] }

func fragKey(p *packet.Parsed) frag.Key {
	k := frag.Key{V6: p.V6, ID: p.FragID, Src: p.Src, Dst: p.Dst}
	if !p.V6 {
		// IPv6 identifies a datagram by (source, destination, id)
		// alone; the protocol after the fragment header of a non-first
		// fragment may be an extension header the first one walked.
		k.Proto = uint8(p.Proto)
	}
	return k
}

// fragment handles the fragment w.p before the normal path: a non-first
// fragment of TCP, UDP or SCTP entirely (true); for a first fragment it
// notes the key so the normal path records its decision (false).
func (w *Worker) fragment(f *link.Frame, b *batch) bool {
	p := w.p
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
	default:
		return false
	}
	if p.Flags&packet.FlagNonFirstFrag == 0 {
		if p.Flags&(packet.FlagMoreFrags|packet.FlagL4) == packet.FlagMoreFrags|packet.FlagL4 {
			w.frag.first, w.frag.recorded = true, false
			w.frag.key = fragKey(p)
		}
		return false // an IPv6 atomic fragment is a whole packet
	}
	k := fragKey(p)
	v, o := w.e.frags.NonFirst(&k, f.Bytes(), f.Port, b.now)
	switch o {
	case frag.Matched:
		w.fragApply(f, b, v)
	case frag.Held:
		f.Action = link.Drop // the buffer goes back; the tracker has a copy
		b.res.Held++
		w.event(EventFragHeld)
	default:
		w.drop(f, b, ReasonFragFull)
	}
	return true
}

// fragRecord records the decision for the first fragment being handled
// (once) and collects its held fragments into the outbox.
func (w *Worker) fragRecord(b *batch, v frag.Value) {
	fs := &w.frag
	if !fs.first || fs.recorded {
		return
	}
	fs.recorded = true
	fs.val = v
	fs.from = fs.out.n
	w.e.frags.First(&fs.key, v, b.now, &fs.out)
	if n := fs.out.n - fs.from; n > 0 {
		inc(&w.cnt.events[EventFragReleased], uint64(n))
	}
}

func fwdValue(info *fwdInfo) frag.Value {
	return frag.Value{Word: fragFwd | uint64(info.method)<<8 | uint64(info.dport)<<16 | uint64(info.dest.ID)<<32}
}

// fragRecordReply records a NAT reply's first fragment: the source of the
// others becomes vaddr.
func (w *Worker) fragRecordReply(b *batch, vaddr *[16]byte, d *service.Dest) {
	v := frag.Value{Word: fragReply, Addr: *vaddr}
	if d != nil {
		v.Word |= uint64(d.ID) << 32
	}
	w.fragRecord(b, v)
}

// fragDone finishes a first fragment: a decision the normal path did not
// record (passed, dropped, answered) is recorded now; then the fragments
// it released are handled.
func (w *Worker) fragDone(f *link.Frame, b *batch) {
	fs := &w.frag
	if !fs.recorded {
		kind := uint64(fragDrop)
		if f.Action == link.Pass {
			kind = fragPass
		}
		w.fragRecord(b, frag.Value{Word: kind})
	}
	fs.first = false
	from, to := fs.from, fs.out.n
	if from >= to {
		return
	}
	saved := w.p
	for i := from; i < to; i++ {
		of := &fs.out.frames[i]
		if of.Action == link.Tx {
			// Not a released fragment: a further piece the first
			// fragment itself was cut into (tunnel re-fragmenting).
			continue
		}
		w.p = &fs.p
		if packet.Decode(of.Bytes(), w.p) != packet.OK || w.p.Flags&packet.FlagNonFirstFrag == 0 {
			w.drop(of, b, ReasonMalformed) // cannot happen: it was decoded when held
			continue
		}
		w.fragApply(of, b, fs.val)
	}
	w.p = saved
}

// fragApply forwards non-first fragment w.p (in f) by its first fragment's
// decision v.
func (w *Worker) fragApply(f *link.Frame, b *batch, v frag.Value) {
	p := w.p
	id := service.DestID(v.Word >> 32)
	switch v.Word & 0xff {
	case fragFwd:
		d := w.destByID(b, id)
		if d == nil {
			w.drop(f, b, ReasonNoDestConn)
			return
		}
		w.countIn(d)
		info := fwdInfo{method: service.Method(v.Word >> 8 & 0xff), dest: d, dport: uint16(v.Word >> 16)}
		w.transmit(f, b, &info)
	case fragReply:
		if d := w.destByID(b, id); d != nil && d.Available() {
			w.countOut(d)
		}
		if !forward.DecTTL(f.Bytes(), p) {
			w.drop(f, b, ReasonTTL) // no ICMP about a non-first fragment
			return
		}
		forward.NATOut(f.Bytes(), p, v.Addr, 0) // no transport header: the address only
		w.toNextHop(f, b, &p.Dst)
	case fragPass:
		w.pass(f, b, EventPassNoService)
	default:
		w.drop(f, b, ReasonFragDropped)
	}
}

// destByID resolves a destination id in the batch's snapshot or, for one
// made under a newer snapshot, in the newest.
func (w *Worker) destByID(b *batch, id service.DestID) *service.Dest {
	if d := b.snap.Dest(id); d != nil {
		return d
	}
	return w.e.snap.Load().Dest(id)
}

// fragmentOut splits the IPv4 packet in f (about to leave by port, whose
// IP MTU is mtu, and longer than it) into fragments of at most mtu bytes,
// as a router does (RFC 791): the first stays in f, the others go to the
// outbox as Tx frames on port. Offsets are multiples of 8, MF is set on
// all but the last (and on the last if the packet was itself a fragment
// with MF), options are copied into the further fragments only if their
// copied flag is set, every header checksum is recomputed. A packet with
// DF set, or an IPv6 packet, is left unchanged (returns true: the caller
// sends it as it is; answering with "fragmentation needed" is the MTU
// check's business). It returns false when it dropped the packet (counted):
// the outbox is full, or the MTU leaves no room for 8 bytes of data.
func (w *Worker) fragmentOut(f *link.Frame, b *batch, port uint16, mtu int) bool {
	fr := f.Bytes()
	l3 := int(w.p.L3Off)
	if l3 < 2 || l3+packet.IPv4MinHeaderLen > len(fr) || binary.BigEndian.Uint16(fr[l3-2:]) != packet.EtherTypeIPv4 {
		return true
	}
	ip := fr[l3:]
	ihl := int(ip[0]&0x0f) << 2
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ihl < packet.IPv4MinHeaderLen || total < ihl || l3+total > len(fr) || total <= mtu {
		return true
	}
	fo := binary.BigEndian.Uint16(ip[6:8])
	if fo&0x4000 != 0 {
		return true // DF
	}
	// The options the further fragments carry: those with the copied bit.
	var opts [40]byte
	no := 0
	for i := packet.IPv4MinHeaderLen; i < ihl; {
		t := ip[i]
		if t == 0 { // end of options
			break
		}
		if t == 1 { // no-operation
			i++
			continue
		}
		if i+1 >= ihl || int(ip[i+1]) < 2 || i+int(ip[i+1]) > ihl {
			break // malformed: copy nothing more
		}
		l := int(ip[i+1])
		if t&0x80 != 0 {
			no += copy(opts[no:], ip[i:i+l])
		}
		i += l
	}
	hl2 := packet.IPv4MinHeaderLen + (no+3)&^3 // padding: end-of-options (zero bytes)
	data := total - ihl
	first := (mtu - ihl) &^ 7
	rest := (mtu - hl2) &^ 7
	if first < 8 || rest < 8 {
		w.drop(f, b, ReasonFragOutbox)
		return false
	}
	k := (data - first + rest - 1) / rest // further fragments
	if !w.frag.out.room(k, k*(l3+hl2)+data-first) {
		w.drop(f, b, ReasonFragOutbox)
		return false
	}
	base := int(fo&0x1fff) << 3
	mf := fo & 0x2000
	if base+data > 0xffff {
		w.drop(f, b, ReasonMalformed) // the offsets would not fit
		return false
	}
	for off := first; off < data; off += rest {
		n := min(rest, data-off)
		buf := w.frag.out.Take(l3+hl2+n, port)
		copy(buf, fr[:l3])
		h := buf[l3 : l3+hl2]
		copy(h, ip[:packet.IPv4MinHeaderLen])
		copy(h[packet.IPv4MinHeaderLen:], opts[:no])
		clear(h[packet.IPv4MinHeaderLen+no:])
		h[0] = 0x40 | byte(hl2>>2)
		binary.BigEndian.PutUint16(h[2:4], uint16(hl2+n))
		flags := uint16(base+off) >> 3
		if off+n < data || mf != 0 {
			flags |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:8], flags)
		packet.IPv4(h).UpdateChecksum()
		copy(buf[l3+hl2:], ip[ihl+off:ihl+off+n])
		of := &w.frag.out.frames[w.frag.out.n-1]
		of.Action = link.Tx
		b.res.Tx++
	}
	inc(&w.cnt.events[EventFragOut], uint64(k))
	// The first fragment, in place.
	binary.BigEndian.PutUint16(ip[2:4], uint16(ihl+first))
	binary.BigEndian.PutUint16(ip[6:8], fo|0x2000)
	packet.IPv4(ip[:ihl]).UpdateChecksum()
	f.Len = l3 + ihl + first
	return true
}

// FragStats returns the fragment tracker's counters.
func (e *Engine) FragStats() frag.Stats { return e.frags.Stats() }

// newFrags makes the engine's fragment tracker.
func (e *Engine) newFrags(cfg frag.Config) error {
	t, err := frag.New(cfg)
	if err != nil {
		return err
	}
	e.frags = t
	return nil
}

// maintainFrags drops held fragments whose time is up.
func (e *Engine) maintainFrags(now clock.Time) { e.frags.Expire(now) }

// addFragCounters adds the tracker's counters to c: held fragments that
// timed out are drops (frag_timeout) that no worker counted.
func (e *Engine) addFragCounters(c *Counters) {
	c.Frag = e.frags.Stats()
	c.Drops[ReasonFragTimeout] += c.Frag.DroppedTimeout
	c.Drop += c.Frag.DroppedTimeout
}

// FragCounters lists the tracker's counters by name (for status output).
func (c *Counters) FragCounters() []NamedCount {
	s := &c.Frag
	return []NamedCount{
		{"tracked", s.Tracked}, {"matched", s.Matched}, {"held", s.Held}, {"released", s.Released},
		{"dropped_timeout", s.DroppedTimeout}, {"dropped_full", s.DroppedFull}, {"dropped_no_first", s.DroppedNoFirst},
		{"evicted", s.Evicted}, {"held_now", uint64(s.HeldNow)}, {"held_bytes_now", uint64(s.HeldBytesNow)},
	}
}

// NamedCount is one counter by name.
type NamedCount struct {
	Name  string
	Value uint64
}
