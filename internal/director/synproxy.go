package director

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/siphash"
	"github.com/vsd/vsd/internal/state"
	"github.com/vsd/vsd/internal/synproxy"
)

// The SYN proxy of NAT services (service flag syn_proxy):
//
//  1. A client's SYN is answered by the director itself with a SYN+ACK
//     whose sequence number is a SYN cookie. Nothing is kept, so a SYN
//     flood fills no table.
//  2. The client's ACK without a connection is checked against the cookie.
//     A valid one makes the connection entry (SYN_RECV, marked SeqProxied,
//     its sequence word = the cookie) and is turned into the SYN to the
//     real server, with the client's own ISN and MSS. Any client packet
//     that comes while the real server has not answered is sent as that
//     SYN again (the first one carrying data is also kept, below).
//  3. The real server's SYN+ACK sets the entry's sequence word to the
//     offset between the real server's ISN and the cookie and moves it to
//     ESTABLISHED. It is turned into the ACK that completes the real
//     server's handshake — or, if the client's first data segment was
//     kept, into that segment, which acknowledges the same thing and
//     spares the client a retransmission timeout.
//  4. For the rest of the connection client segments get the offset added
//     to their acknowledgement number, real server segments get it
//     subtracted from their sequence number.

// Hold of first data segments: a client usually sends its request right
// behind its handshake ACK, before the real server has answered the
// proxy's SYN. One segment per connection is kept in a fixed slot chosen
// by the entry's index; a collision or a longer frame is simply not kept
// (the client retransmits it).
const (
	holdSlots = 256
	holdBytes = 2048
)

type synProxy struct {
	cookies *synproxy.Cookies
	hold    [holdSlots]holdSlot
}

type holdSlot struct {
	mu     sync.Mutex
	idx    uint32 // entry the segment belongs to (0 = empty)
	cookie uint32 // and its cookie, so a reused index does not match
	n      int
	buf    [holdBytes]byte
}

func newSynProxy() (*synProxy, error) {
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	return &synProxy{cookies: synproxy.New(siphash.Key{
		K0: binary.LittleEndian.Uint64(k[:8]), K1: binary.LittleEndian.Uint64(k[8:])})}, nil
}

// keep stores frame as entry idx's first data segment, unless the slot
// holds another connection's or this one already has one.
func (s *synProxy) keep(idx, cookie uint32, frame []byte) {
	if len(frame) > holdBytes {
		return
	}
	h := &s.hold[idx%holdSlots]
	h.mu.Lock()
	if h.idx == 0 {
		h.idx, h.cookie, h.n = idx, cookie, copy(h.buf[:], frame)
	}
	h.mu.Unlock()
}

// take moves entry idx's kept segment, if any, into dst and returns its
// length (0 = none, or dst too small: it is then forgotten).
func (s *synProxy) take(idx, cookie uint32, dst []byte) int {
	h := &s.hold[idx%holdSlots]
	h.mu.Lock()
	n := 0
	if h.idx == idx && h.cookie == cookie {
		if h.n <= len(dst) {
			n = copy(dst, h.buf[:h.n])
		}
		h.idx = 0
	}
	h.mu.Unlock()
	return n
}

// forget drops entry idx's kept segment.
func (s *synProxy) forget(idx, cookie uint32) {
	h := &s.hold[idx%holdSlots]
	h.mu.Lock()
	if h.idx == idx && h.cookie == cookie {
		h.idx = 0
	}
	h.mu.Unlock()
}

// Advertised MSS of the proxy's SYN+ACK at most: what a 1500-byte
// Ethernet path to the real servers carries (the real server's own MSS is
// not known yet when the client is answered).
const (
	proxyMSS4 = 1460
	proxyMSS6 = 1440
)

// proxyMSS is the MSS the proxy offers a client of real server d: what
// the director's port towards d carries (its MTU less the IP and TCP
// headers), at most proxyMSS4/6. The client's family decides the headers:
// NAT keeps the family.
func (w *Worker) proxyMSS(d *service.Dest) uint16 {
	mss, hdr := proxyMSS4, 40
	if w.p.V6 {
		mss, hdr = proxyMSS6, 60
	}
	if _, port, ok := w.resolve(w.p.V6, &d.Addr16); ok {
		if m := w.e.ports[port].MTU; m > 0 {
			mss = max(min(mss, m-hdr), 536)
		}
	}
	return uint16(mss)
}

// synProxyNewLocked handles a packet without a connection for a NAT
// syn_proxy service: a SYN is answered with a cookie, an ACK with a valid
// cookie makes the connection. It returns false, with the bucket still
// locked, for anything else (then the usual rules apply: a DR/TUN
// server's stateless mode, no destination, no create). Called with bucket
// h locked; when it returns true the lock is released.
func (w *Worker) synProxyNewLocked(f *link.Frame, b *batch, h uint32, svc *service.Service) bool {
	p := w.p
	fl := p.TCPFlags & (packet.TCPSyn | packet.TCPAck | packet.TCPRst | packet.TCPFin)
	if fl != packet.TCPSyn && fl != packet.TCPAck {
		return false
	}
	if !svc.Key.IsFwMark() && p.DstPort != svc.Key.Port {
		return false
	}
	r := &w.req
	*r = service.Request{V6: p.V6, Proto: p.Proto, Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Now: b.now}
	d := svc.Sched.Schedule(r)
	if d == nil || d.Config().Method != service.Masq {
		return false
	}
	t := w.e.table
	frame := f.Bytes()
	if fl == packet.TCPSyn {
		t.Unlock(h)
		seq := synproxy.Seq(frame, p)
		cookie := w.e.proxy.cookies.Make(p, seq, synproxy.ClientMSS(frame[p.L4Off:p.Len]), b.now)
		mss := w.proxyMSS(d)
		n, ok := synproxy.SynAck(f.Buf, f.Off, p, cookie, mss)
		if !ok {
			w.drop(f, b, ReasonNoHeadroom)
			return true
		}
		f.Len = n
		w.event(EventSynCookie)
		w.tx(f, b, f.Port)
		return true
	}
	seq, cookie := synproxy.Seq(frame, p), synproxy.Ack(frame, p)-1
	mss, ok := w.e.proxy.cookies.Check(p, seq-1, cookie, b.now)
	if !ok {
		t.Unlock(h)
		w.drop(f, b, ReasonBadCookie)
		return true
	}
	dport := d.Port
	if dport == 0 {
		dport = p.DstPort
	}
	c := &w.conn
	*c = conntrack.Conn{V6: p.V6, Proto: p.Proto, Caddr: p.Src, Vaddr: p.Dst, Cport: p.SrcPort, Vport: p.DstPort,
		Dport: dport, Flags: conntrack.FwdMasq | conntrack.FlagInactive, State: uint8(state.TCPSynRecv),
		Dest: uint32(d.ID), Expires: b.now.Add(b.to.Timeout(packet.ProtoTCP, uint8(state.TCPSynRecv))),
		SeqProxy: true, Seq: cookie}
	idx, ok := t.InsertLocked(h, c, b.now)
	if !ok {
		t.Unlock(h)
		w.drop(f, b, ReasonTableFull)
		return true
	}
	d.Bind(false, true)
	w.countConn(d)
	w.event(EventSynProxyConn)
	if b.tun.DebugLevel >= DebugSchedule {
		w.trace(b, EventSynProxyConn.String(), d, dport)
	}
	if synproxy.HasPayload(p) {
		w.e.proxy.keep(idx, cookie, frame)
	}
	t.Unlock(h)
	w.countIn(d)
	w.sendSyn(f, b, d, seq-1, mss, dport)
	return true
}

// sendSyn turns the current client packet into the SYN to real server d.
func (w *Worker) sendSyn(f *link.Frame, b *batch, d *service.Dest, isn uint32, mss, dport uint16) {
	n, ok := synproxy.Syn(f.Buf, f.Off, w.p, isn, mss, &d.Addr16, dport)
	if !ok {
		w.drop(f, b, ReasonNoHeadroom)
		return
	}
	f.Len = n
	w.toNextHop(f, b, &d.Addr16)
}

// proxiedInLocked handles a client packet of a SeqProxied connection en
// (index idx in bucket h, destination d). ok=true: forward normally with
// info (ackShift set). ok=false: the packet was dealt with here
// (f.Action says how; Pass means "schedule it anew"), or, with
// info.ready, it was rewritten into the SYN again and only needs its next
// hop.
func (w *Worker) proxiedInLocked(f *link.Frame, b *batch, h, idx uint32, en *conntrack.Entry, d *service.Dest) (info fwdInfo, ok bool) {
	t := w.e.table
	p := w.p
	frame := f.Bytes()
	switch fl := p.TCPFlags & (packet.TCPSyn | packet.TCPAck | packet.TCPRst); {
	case fl == packet.TCPSyn:
		// A new connection on the same ports: it gets a new cookie.
		w.e.proxy.forget(idx, en.Seq())
		t.DeleteLocked(h, idx)
		w.event(EventReschedule)
		f.Action = link.Pass
		return info, false
	case state.TCPState(en.State()) == state.TCPSynRecv:
		// The real server has not answered the proxy's SYN yet.
		cookie := en.Seq()
		if fl&packet.TCPRst != 0 {
			w.e.proxy.forget(idx, cookie)
			t.DeleteLocked(h, idx)
			w.drop(f, b, ReasonNoDestConn)
			return info, false
		}
		if synproxy.HasPayload(p) {
			w.e.proxy.keep(idx, cookie, frame)
		}
		info = fwdInfo{method: service.Masq, dest: d, dport: en.DPort(), ready: true}
		n, built := synproxy.Syn(f.Buf, f.Off, p, synproxy.Seq(frame, p)-1, synproxy.MSSOf(cookie), &d.Addr16, en.DPort())
		if !built {
			w.drop(f, b, ReasonNoHeadroom)
			return info, false
		}
		f.Len = n
		w.event(EventSynProxyResyn)
		return info, false
	}
	w.transitionLocked(en, d, state.Input, b)
	return fwdInfo{method: service.Masq, dest: d, dport: en.DPort(), ackShift: en.Seq()}, true
}

// proxiedReplyLocked handles a real server's packet of a SeqProxied
// connection en. It returns the sequence offset to take off the packet
// before un-NAT, or done=true when the packet was dealt with here (the
// bucket lock is then released).
func (w *Worker) proxiedReplyLocked(f *link.Frame, b *batch, h, idx uint32, en *conntrack.Entry, d *service.Dest) (delta uint32, done bool) {
	t := w.e.table
	p := w.p
	frame := f.Bytes()
	synAck := p.TCPFlags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn|packet.TCPAck
	pending := state.TCPState(en.State()) == state.TCPSynRecv
	if !pending && !synAck {
		return en.Seq(), false
	}
	rsAddr := p.Src
	if !synAck {
		// While pending only the SYN+ACK counts. Anything else is most
		// likely a late packet of an older connection on the same ports
		// (the client reused them: the director replaced that entry with
		// this one), or a TIME_WAIT server's ACK: it must not end this
		// attempt. A server that refuses for good leaves the entry to its
		// SYN_RECV timeout; the client's retransmissions meanwhile resend
		// the SYN.
		t.Unlock(h)
		w.drop(f, b, ReasonSynProxyPending)
		return 0, true
	}
	if d != nil && d.Available() {
		w.countOut(d)
	}
	if !pending {
		// A repeated SYN+ACK (our ACK was lost): ACK it again.
		t.Unlock(h)
		w.ackServer(f, b, &rsAddr)
		return 0, true
	}
	cookie := en.Seq()
	delta = synproxy.Seq(frame, p) - cookie
	en.SetSeq(delta)
	en.SetState(uint8(state.TCPEstablished))
	if en.Flags()&conntrack.FlagInactive != 0 && d != nil {
		en.SetFlags(en.Flags() &^ conntrack.FlagInactive)
		d.SetActive(true)
	}
	en.Touch(b.now, b.to.Timeout(packet.ProtoTCP, uint8(state.TCPEstablished)))
	w.event(EventSynProxyOpen)
	dport := en.DPort()
	n := w.e.proxy.take(idx, cookie, f.Buf[f.Off:])
	t.Unlock(h)
	if n == 0 || d == nil {
		w.ackServer(f, b, &rsAddr)
		return 0, true
	}
	// The kept client segment completes the real server's handshake.
	f.Len = n
	if packet.Decode(f.Bytes(), w.p) != packet.OK {
		w.drop(f, b, ReasonMalformed)
		return 0, true
	}
	w.countIn(d)
	info := fwdInfo{method: service.Masq, dest: d, dport: dport, ackShift: delta}
	w.transmit(f, b, &info)
	return 0, true
}

// ackServer turns the real server's SYN+ACK into the ACK to it.
func (w *Worker) ackServer(f *link.Frame, b *batch, rs *[16]byte) {
	n, ok := synproxy.AckServer(f.Buf, f.Off, w.p)
	if !ok {
		w.drop(f, b, ReasonNoHeadroom)
		return
	}
	f.Len = n
	w.toNextHop(f, b, rs)
}
