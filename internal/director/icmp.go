package director

import (
	"math"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/forward"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// ICMP errors about connections (ipvs-semantics.md §6.2, §6.3, §7.6), the
// MTU check before sending (§7) and the rate limit of the errors the
// director generates. docs/ICMP.md sums up what is forwarded and counted.

// icmpState is a worker's scratch for ICMP errors.
type icmpState struct {
	inner  packet.Parsed // the packet quoted in the ICMP error being handled
	tunnel packet.Parsed // tunnel errors: the client's packet inside the quoted tunnel packet (tunerr.go)
	bucket errorBucket   // generated ICMP errors (icmp_ratelimit)
}

// relatedICMP reports whether p (an ICMP packet whose header was decoded)
// is of a type IPVS relates to connections: IPv4 destination unreachable,
// source quench and time exceeded; every ICMPv6 error (type < 128).
func relatedICMP(p *packet.Parsed) bool {
	if p.V6 {
		return p.Proto == packet.ProtoICMPv6 && p.ICMPType < 128
	}
	if p.Proto != packet.ProtoICMP {
		return false
	}
	switch p.ICMPType {
	case packet.ICMPv4DestUnreach, packet.ICMPv4SourceQuench, packet.ICMPv4TimeExceeded:
		return true
	}
	return false
}

// handleICMP handles an ICMP or ICMPv6 packet (any IP protocol 1 or 58).
//
// A related error whose quoted packet belongs to a connection goes where
// that connection goes: from the client side (the quote went VIP:vport →
// client:cport) to the connection's real server by its method; from a NAT
// real server (the quote went client → RIP:rport) to the client, rewritten
// back to the VIP. Everything else is the host's: echo and the other
// informational types, fragments, errors about other protocols or about no
// connection (the director's own traffic, e.g. its ssh sessions, needs
// them). Errors about the director's own IPIP/GUE packets to TUN real
// servers are turned into errors for the client (tunnelError, tunerr.go).
//
// The kernel accepts untouched an error whose quote it cannot read
// (§6.2); vsd drops it instead, counted as icmp_truncated: a quote of a
// TCP, UDP or SCTP packet without its ports (or with a broken IP header,
// or of the other family) cannot be matched to anything, and the host's
// stack would discard it as well (RFC 792 and the Linux ICMP receive path
// require the IP header and 8 bytes of the transport header).
func (w *Worker) handleICMP(f *link.Frame, b *batch) {
	p := w.p
	if !p.Flags.Has(packet.FlagL4) || !relatedICMP(p) || p.Flags.Has(packet.FlagFragment) {
		// Informational ICMP, non-first fragments, and the first
		// fragment of an error (its checksum covers bytes that are not
		// here; the kernel reassembles first): the host's.
		w.pass(f, b, EventPassNoService)
		return
	}
	in := &w.ic.inner
	if packet.DecodeEmbedded(f.Bytes()[:p.Len], int(p.PayOff), in) != packet.OK || in.V6 != p.V6 {
		w.drop(f, b, ReasonICMPTruncated)
		return
	}
	if (in.Proto == packet.ProtoIPIP || in.Proto == packet.ProtoUDP) && w.tunnelError(f, b) {
		return
	}
	switch in.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
	default:
		// About a protocol IPVS has no connections of (echo, tunnels
		// of others): the host's.
		w.pass(f, b, EventICMPUnrelated)
		return
	}
	if in.Flags.Has(packet.FlagNonFirstFrag) {
		// About a non-first fragment: no ports to match (the kernel
		// accepts it too).
		w.pass(f, b, EventICMPUnrelated)
		return
	}
	if !in.Flags.Has(packet.FlagL4) {
		w.drop(f, b, ReasonICMPTruncated)
		return
	}
	if w.icmpFromClient(f, b) || w.icmpFromServer(f, b) {
		return
	}
	if b.snap.Lookup(in.V6, in.Proto, &in.Src, in.SrcPort, 0) != nil {
		// About a packet from one of our virtual services, but of no
		// connection (expired, never made, or forged): no socket of the
		// host's owns that address and port, so it is dropped here
		// and counted.
		w.drop(f, b, ReasonICMPErrorNoConn)
		return
	}
	w.pass(f, b, EventICMPUnrelated)
}

// mayRelayICMP is the gate every ICMP error of a connection passes before
// the director acts on it: with no_icmp_forward it goes to the host
// unchanged, with a wrong checksum it is dropped (both counted). false:
// the frame was dealt with.
func (w *Worker) mayRelayICMP(f *link.Frame, b *batch) bool {
	if b.tun.NoICMPForward {
		w.pass(f, b, EventICMPNoForward)
		return false
	}
	if !w.icmpChecksumOK(f) {
		w.drop(f, b, ReasonICMPBadChecksum)
		return false
	}
	return true
}

// icmpChecksumOK verifies the ICMP / ICMPv6 checksum of the current packet
// over the whole message (§6.2: failed checksum → drop).
func (w *Worker) icmpChecksumOK(f *link.Frame) bool {
	p := w.p
	msg := packet.ICMP(f.Bytes()[p.L4Off:p.Len])
	var pseudo uint32
	if p.V6 {
		pseudo = packet.PseudoSum(true, &p.Src, &p.Dst, packet.ProtoICMPv6, len(msg))
	}
	return msg.IsChecksumValid(pseudo)
}

// icmpFromClient looks the quoted packet up as a reply the client got
// (reversed: client = its destination, virtual = its source) and, on a
// hit, forwards the error to the connection's real server (icmp_xmit,
// §7.6). It reports whether the frame was handled.
func (w *Worker) icmpFromClient(f *link.Frame, b *batch) bool {
	t := w.e.table
	in := &w.ic.inner
	k := conntrack.Key{V6: in.V6, Proto: in.Proto, Caddr: in.Dst, Cport: in.DstPort, Vaddr: in.Src, Vport: in.SrcPort}
	h := t.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
	t.Lock(h)
	idx := t.LookupInLocked(h, &k, b.now)
	if idx == 0 {
		t.Unlock(h)
		return false
	}
	// No state transition and no re-armed timer: the kernel's in-ICMP
	// handler releases the conn without touching its timer.
	en := t.At(idx)
	d := w.dest(b, en)
	method := service.Method(en.Method())
	dport := en.DPort()
	t.Unlock(h)
	if d == nil {
		w.drop(f, b, ReasonNoDestConn)
		return true
	}
	if !w.mayRelayICMP(f, b) {
		return true
	}
	if d.Available() {
		w.countIn(d)
	}
	p := w.p
	switch method {
	case service.Local:
		w.pass(f, b, EventICMPForward)
	case service.Masq:
		w.event(EventICMPForward)
		if !forward.DecTTL(f.Bytes(), p) {
			w.timeExceeded(f, b) // never answers an error: dropped as ttl_expired
			return true
		}
		if !forward.NATInICMP(f.Bytes(), p, in, d.Addr16, dport) {
			w.drop(f, b, ReasonMalformed)
			return true
		}
		w.toNextHop(f, b, &d.Addr16)
	case service.Route:
		w.event(EventICMPForward)
		w.route(f, b, &d.Addr16)
	case service.Tunnel:
		w.event(EventICMPForward)
		w.tunnel(f, b, d, true)
	default:
		w.drop(f, b, ReasonUnsupported)
	}
	return true
}

// icmpFromServer looks the quoted packet up as a client packet a real
// server got (outbound lookup: client = its source, server = its
// destination) and, on a hit, handles the error as the kernel's out-ICMP
// handler (§6.3): NAT conns get it rewritten to come from the VIP and sent
// to the client; other methods count it and leave it to the host. It
// reports whether the frame was handled.
func (w *Worker) icmpFromServer(f *link.Frame, b *batch) bool {
	t := w.e.table
	in := &w.ic.inner
	h := t.Hash(in.V6, in.Proto, &in.Src, in.SrcPort)
	t.Lock(h)
	idx := t.LookupOutLocked(h, in.V6, in.Proto, &in.Src, in.SrcPort, &in.Dst, in.DstPort, b.now)
	if idx == 0 {
		t.Unlock(h)
		return false
	}
	en := t.At(idx)
	d := w.dest(b, en)
	method := service.Method(en.Method())
	_, vaddr := t.AddrsLocked(idx)
	vport := en.VPort()
	t.Unlock(h)
	if method != service.Masq {
		// DR/TUN/local real servers do not send through the director;
		// the kernel counts and accepts what comes anyway.
		if d != nil && d.Available() {
			w.countOut(d)
		}
		w.pass(f, b, EventICMPOutPass)
		return true
	}
	if !w.mayRelayICMP(f, b) {
		return true
	}
	if d != nil && d.Available() {
		w.countOut(d)
	}
	w.event(EventICMPReply)
	p := w.p
	if !forward.DecTTL(f.Bytes(), p) {
		w.timeExceeded(f, b)
		return true
	}
	if !forward.NATOutICMP(f.Bytes(), p, &w.ic.inner, vaddr, vport) {
		w.drop(f, b, ReasonMalformed)
		return true
	}
	w.toNextHop(f, b, &p.Dst)
	return true
}

// minMTU is the smallest MTU of the ports that know theirs (math.MaxInt
// when none does): a packet no longer than it minus the overhead fits any
// port, so the common case costs one comparison.
func minMTU(ports []Port) int {
	m := math.MaxInt
	for _, p := range ports {
		if p.MTU > 0 {
			m = min(m, p.MTU)
		}
	}
	return m
}

// ipLen is the IP length of the current packet.
func (w *Worker) ipLen() int { return int(w.p.Len) - int(w.p.L3Off) }

// fitsTowards is fitsPort for the port of the next hop towards addr (same
// family as the packet), before the packet is rewritten, so an error quotes
// what the sender sent. from is the error's source (the VIP for a client
// packet, p.Dst).
func (w *Worker) fitsTowards(f *link.Frame, b *batch, addr *[16]byte, from *[16]byte) bool {
	if w.ipLen() <= w.e.minMTU {
		return true
	}
	_, port, ok := w.resolve(w.p.V6, addr)
	if !ok {
		return true // the transmit drops it as no_neighbor
	}
	return w.fitsPort(f, b, port, 0, from)
}

// fitsPort is IPVS's size check before sending (ensure_mtu_is_adequate,
// §7): it reports whether the current packet, with overhead bytes of
// tunnel header in front, may leave by port. If not, the packet was
// answered with ICMP fragmentation needed (IPv4 with DF) or packet too big
// (IPv6) carrying the port's MTU minus overhead, from address from, out of
// the port it came in on (the frame is Tx), or dropped (too_big when no
// error may be sent, icmp_ratelimit over icmp_ratelimit).
//
// An IPv4 packet without DF that is too big is not refused here: it is
// forwarded as it is (fragmenting such packets is done elsewhere). A port
// with MTU 0 has no check. ICMP errors being forwarded are never checked
// (the kernel neither), so callers skip them.
func (w *Worker) fitsPort(f *link.Frame, b *batch, port uint16, overhead int, from *[16]byte) bool {
	if w.ipLen()+overhead <= w.e.minMTU {
		return true
	}
	mtu := w.e.ports[port].MTU
	if mtu <= 0 {
		return true
	}
	mtu -= overhead
	p := w.p
	if !forward.TooBig(p, mtu) {
		return true
	}
	if overhead > 0 && (p.V6 && mtu < minMTU6 || !p.V6 && mtu < minMTU4) {
		// A tunnel MTU below the family's minimum (the kernel drops
		// every packet then): no sender may be told to go below it.
		w.drop(f, b, ReasonTooBig)
		return false
	}
	in := f.Port
	off, n, ok := forward.FragNeeded(f.Buf, f.Off, f.Len, p, *from, mtu)
	if !ok {
		w.drop(f, b, ReasonTooBig)
		return false
	}
	if !w.errorAllowed(b) {
		w.drop(f, b, ReasonICMPRateLimit)
		return false
	}
	f.Off, f.Len = off, n
	w.event(EventFragNeededICMP)
	w.tx(f, b, in)
	return false
}

// Minimum MTUs (RFC 791, RFC 8200).
const (
	minMTU4 = 68
	minMTU6 = 1280
)

// portAddr is the director's own address of the current packet's family
// on port (the source of errors about packets it forwards).
func (w *Worker) portAddr(port uint16) *[16]byte {
	if w.p.V6 {
		return &w.e.port6[port]
	}
	return &w.e.port4[port]
}

// errorAllowed takes a token for one generated ICMP error.
func (w *Worker) errorAllowed(b *batch) bool { return w.ic.bucket.allow(b.tun.ICMPRatelimit, b.now) }

// errorBucket is a token bucket of a worker's generated ICMP errors, filled
// at rate messages per second up to a second's worth, driven by the
// batch's clock. Tokens count in 1/10⁹ messages so that any rate refills
// exactly, however often it is asked.
type errorBucket struct {
	tokens int64
	last   clock.Time
	rate   int // the rate tokens were last counted at; 0: not started
}

// allow reports whether one more error fits rate (≤ 0: no limit) at now.
func (e *errorBucket) allow(rate int, now clock.Time) bool {
	if rate <= 0 {
		return true
	}
	const unit = int64(time.Second) // tokens per message
	burst := int64(rate) * unit
	if e.rate != rate {
		e.tokens, e.last, e.rate = burst, now, rate
	} else if d := now.Sub(e.last); d > 0 {
		if d >= time.Second {
			e.tokens = burst
		} else {
			e.tokens = min(burst, e.tokens+int64(d)*int64(rate))
		}
		e.last = now
	}
	if e.tokens < unit {
		return false
	}
	e.tokens -= unit
	return true
}
