package sim

import (
	"net/netip"
	"time"

	"github.com/vsd/vsd/internal/packet"
)

// tcpState is a TCP connection state (RFC 793). LISTEN is implicit: a
// server accepts a SYN on any port.
//
//	client:  SYN_SENT ─SYN+ACK/ACK─► ESTABLISHED
//	server:  (SYN/SYN+ACK) SYN_RCVD ─ACK─► ESTABLISHED
//	active close:  ESTABLISHED ─close/FIN─► FIN_WAIT_1 ─ACK─► FIN_WAIT_2 ─FIN/ACK─► TIME_WAIT ─2MSL─► CLOSED
//	               FIN_WAIT_1 ─FIN/ACK─► CLOSING ─ACK─► TIME_WAIT
//	passive close: ESTABLISHED ─FIN/ACK─► CLOSE_WAIT ─close/FIN─► LAST_ACK ─ACK─► CLOSED
type tcpState uint8

const (
	stClosed tcpState = iota
	stSynSent
	stSynRcvd
	stEstablished
	stFinWait1
	stFinWait2
	stClosing
	stTimeWait
	stCloseWait
	stLastAck
)

var tcpStateNames = [...]string{
	stClosed:      "CLOSED",
	stSynSent:     "SYN_SENT",
	stSynRcvd:     "SYN_RECV",
	stEstablished: "ESTABLISHED",
	stFinWait1:    "FIN_WAIT1",
	stFinWait2:    "FIN_WAIT2",
	stClosing:     "CLOSING",
	stTimeWait:    "TIME_WAIT",
	stCloseWait:   "CLOSE_WAIT",
	stLastAck:     "LAST_ACK",
}

func (s tcpState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "?"
}

// seqLT reports a < b in sequence space.
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

// seqGT reports a > b in sequence space.
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

// tcb is one end of a TCP connection: enough of RFC 793 for opening,
// exchanging data in order, retransmitting (go-back-N on timeout, no fast
// retransmit, no congestion control) and closing in either order.
type tcb struct {
	h      *host
	idx    int32 // timer index: the client conn id or the server slot
	state  tcpState
	local  netip.AddrPort
	remote netip.AddrPort

	iss, irs       uint32
	sndUna, sndNxt uint32
	rcvNxt         uint32

	snd     []byte // data from sndUna on: sent-but-unacked, then unsent
	closing bool   // the application closed: send FIN after snd
	finSent bool
	finSeq  uint32

	retries int
	rto     time.Duration
	rtoOn   bool
	gen     [2]uint32 // timer generations per slot
}

// tcpEvents is what one segment did to a tcb, for the application above.
type tcpEvents struct {
	data        []byte // in-order payload delivered
	established bool
	fin         bool // the peer closed (first time its FIN arrived)
	reset       bool // an acceptable RST arrived: the connection is gone
	timeWait    bool // entered TIME_WAIT
	closed      bool // LAST_ACK acknowledged: the connection is gone
	needAck     bool
	bad         bool // not acceptable (counted as unexpected)
	dup         bool // duplicate / out of window (re-ACKed)
}

func (t *tcb) cfg() *TCPConfig { return &t.h.net.tcp }

// reset makes t a fresh connection block for local ↔ remote.
func (t *tcb) reset(h *host, idx int32, local, remote netip.AddrPort) {
	gen := t.gen
	snd := t.snd[:0]
	*t = tcb{h: h, idx: idx, local: local, remote: remote, snd: snd}
	t.gen = gen
	t.gen[slotTCP]++
	t.gen[slotApp]++
}

// sendSeg sends a segment of this connection.
func (t *tcb) sendSeg(flags packet.TCPFlags, seq uint32, payload []byte) {
	mac, ok := t.h.nextHop(t.remote.Addr())
	if !ok {
		t.h.cnt.NoRoute++
		return
	}
	t.h.sendTCP(mac, t.local, t.remote, seq, t.rcvNxt, flags, payload)
}

// connect starts an active open (client).
func (t *tcb) connect() {
	t.iss = t.h.net.rng.Uint32()
	t.sndUna, t.sndNxt = t.iss, t.iss+1
	t.state = stSynSent
	t.rto = t.cfg().SYNTimeout
	t.sendSeg(packet.TCPSyn, t.iss, nil)
	t.armRTO()
}

// accept answers a SYN (server): SYN_RCVD and a SYN+ACK.
func (t *tcb) accept(seq uint32) {
	t.irs = seq
	t.rcvNxt = seq + 1
	t.iss = t.h.net.rng.Uint32()
	t.sndUna, t.sndNxt = t.iss, t.iss+1
	t.state = stSynRcvd
	t.rto = t.cfg().SYNTimeout
	t.sendSeg(packet.TCPSyn|packet.TCPAck, t.iss, nil)
	t.armRTO()
}

// write queues data for sending (call flush or output afterwards); after
// close it is ignored, as nothing may follow the FIN.
func (t *tcb) write(b []byte) {
	if !t.closing {
		t.snd = append(t.snd, b...)
	}
}

// close is the application's close: FIN after the queued data.
func (t *tcb) close() {
	switch t.state {
	case stEstablished:
		t.state = stFinWait1
	case stCloseWait:
		t.state = stLastAck
	default:
		return
	}
	t.closing = true
}

// abort sends a RST and forgets the connection.
func (t *tcb) abort() {
	switch t.state {
	case stClosed, stTimeWait, stSynSent:
	default:
		t.sendSeg(packet.TCPRst|packet.TCPAck, t.sndNxt, nil)
	}
	t.state = stClosed
	t.stopRTO()
}

func (t *tcb) armRTO() {
	t.rtoOn = true
	t.gen[slotTCP]++
	n := t.h.net
	n.timerAt(n.now.Add(t.rto), t.h.id, t.idx, slotTCP, t.gen[slotTCP])
}

func (t *tcb) stopRTO() {
	t.rtoOn = false
	t.gen[slotTCP]++
}

// enterTimeWait starts the TIME_WAIT timer.
func (t *tcb) enterTimeWait() {
	t.state = stTimeWait
	t.rtoOn = false
	t.gen[slotTCP]++
	n := t.h.net
	n.timerAt(n.now.Add(t.cfg().TimeWait), t.h.id, t.idx, slotTCP, t.gen[slotTCP])
}

// armApp arms the application timer d from now.
func (t *tcb) armApp(d time.Duration) {
	t.gen[slotApp]++
	n := t.h.net
	n.timerAt(n.now.Add(d), t.h.id, t.idx, slotApp, t.gen[slotApp])
}

func (t *tcb) stopApp() { t.gen[slotApp]++ }

// onTCPTimer handles the TCP timer slot. It returns true when the
// connection is over: TIME_WAIT ended or retransmissions were exhausted
// (giveUp reports which).
func (t *tcb) onTCPTimer() (over, giveUp bool) {
	if t.state == stTimeWait {
		t.state = stClosed
		return true, false
	}
	if !t.rtoOn {
		return false, false
	}
	t.rtoOn = false
	c := t.cfg()
	limit := c.Retries
	if t.state == stSynSent || t.state == stSynRcvd {
		limit = c.SYNRetries
	}
	if t.retries >= limit {
		t.state = stClosed
		return true, true
	}
	t.retries++
	t.rto = min(2*t.rto, c.MaxRTO)
	switch t.state {
	case stSynSent:
		t.sendSeg(packet.TCPSyn, t.iss, nil)
	case stSynRcvd:
		t.sendSeg(packet.TCPSyn|packet.TCPAck, t.iss, nil)
	default:
		// Go back to the oldest unacknowledged byte.
		t.sndNxt = t.sndUna
		t.finSent = false
		t.output()
	}
	t.armRTO()
	return false, false
}

// output sends what the window allows of the queued data, then the FIN
// once all data is out. It reports whether it sent anything.
func (t *tcb) output() bool {
	switch t.state {
	case stEstablished, stCloseWait, stFinWait1, stClosing, stLastAck:
	default:
		return false
	}
	c := t.cfg()
	sent := false
	for {
		off := int(t.sndNxt - t.sndUna)
		if off >= len(t.snd) || off >= c.Window {
			break
		}
		end := min(len(t.snd), off+c.MSS, c.Window)
		flags := packet.TCPAck
		if end == len(t.snd) {
			flags |= packet.TCPPsh
		}
		t.sendSeg(flags, t.sndNxt, t.snd[off:end])
		t.sndNxt += uint32(end - off)
		sent = true
	}
	if t.closing && !t.finSent && int(t.sndNxt-t.sndUna) == len(t.snd) {
		t.finSent = true
		t.finSeq = t.sndNxt
		t.sndNxt++
		t.sendSeg(packet.TCPFin|packet.TCPAck, t.finSeq, nil)
		sent = true
	}
	if sent && !t.rtoOn {
		t.armRTO()
	}
	return sent
}

// flush sends queued data (and FIN), or a bare ACK when one is owed and
// nothing else carried it.
func (t *tcb) flush(needAck bool) {
	if !t.output() && needAck && t.state != stClosed {
		t.sendSeg(packet.TCPAck, t.sndNxt, nil)
	}
}

// input runs one arriving segment through the state machine.
func (t *tcb) input(seq, ack uint32, flags packet.TCPFlags, payload []byte) (ev tcpEvents) {
	const (
		syn, ack_, rst, fin = packet.TCPSyn, packet.TCPAck, packet.TCPRst, packet.TCPFin
	)
	switch t.state {
	case stClosed:
		ev.bad = true
		return ev
	case stSynSent:
		if flags&ack_ != 0 && ack != t.iss+1 {
			// An old duplicate (for example the server's ACK from the
			// TIME_WAIT of an earlier connection of the same ports):
			// reset it, as RFC 793 says, and wait for our next SYN.
			ev.dup = true
			if flags&rst == 0 {
				t.h.sendTCP(t.mac(), t.local, t.remote, ack, 0, rst, nil)
			}
			return ev
		}
		if flags&rst != 0 {
			if flags&ack_ != 0 {
				ev.reset = true
				t.state = stClosed
				t.stopRTO()
			} else {
				ev.bad = true
			}
			return ev
		}
		if flags&syn != 0 && flags&ack_ != 0 {
			t.irs = seq
			t.rcvNxt = seq + 1
			t.sndUna = ack
			t.state = stEstablished
			t.retries = 0
			t.rto = t.cfg().RTO
			t.stopRTO()
			// The handshake's last ACK goes out on its own, before any data.
			t.sendSeg(ack_, t.sndNxt, nil)
			ev.established = true
			return ev
		}
		ev.bad = true
		return ev
	case stSynRcvd:
		if flags&rst != 0 {
			if seq == t.rcvNxt {
				ev.reset = true
				t.state = stClosed
				t.stopRTO()
			} else {
				ev.bad = true
			}
			return ev
		}
		if flags&syn != 0 {
			if flags&ack_ == 0 && seq == t.irs {
				// Our SYN+ACK was lost or is late: answer again.
				ev.dup = true
				t.sendSeg(syn|ack_, t.iss, nil)
			} else {
				ev.bad = true
			}
			return ev
		}
		if flags&ack_ == 0 {
			ev.bad = true
			return ev
		}
		if ack != t.iss+1 {
			ev.bad = true
			t.h.sendTCP(t.mac(), t.local, t.remote, ack, 0, rst, nil)
			return ev
		}
		t.sndUna = ack
		t.state = stEstablished
		t.retries = 0
		t.rto = t.cfg().RTO
		t.stopRTO()
		ev.established = true
		// The ACK may carry data or a FIN: go on.
	}

	if flags&rst != 0 {
		if seq == t.rcvNxt {
			ev.reset = true
			t.state = stClosed
			t.stopRTO()
		} else {
			ev.bad = true
		}
		return ev
	}
	if flags&syn != 0 {
		// A SYN (or SYN+ACK) again in a synchronised state: our ACK of it
		// was lost. Re-ACK.
		ev.dup = true
		ev.needAck = true
		return ev
	}
	segLen := len(payload)
	if flags&fin != 0 {
		segLen++
	}
	if segLen > 0 && seq != t.rcvNxt {
		ev.dup = true
		ev.needAck = true
		return ev
	}
	if flags&ack_ == 0 {
		ev.bad = true
		return ev
	}
	if seqGT(ack, t.sndNxt) {
		ev.bad = true
		ev.needAck = true
		return ev
	}
	finAcked := false
	if seqGT(ack, t.sndUna) {
		acked := int(ack - t.sndUna)
		data := min(acked, len(t.snd))
		t.snd = t.snd[:copy(t.snd, t.snd[data:])]
		t.sndUna = ack
		finAcked = t.finSent && ack == t.finSeq+1
		t.retries = 0
		t.rto = t.cfg().RTO
		if t.sndUna == t.sndNxt {
			t.stopRTO()
		} else {
			t.armRTO()
		}
	}
	if finAcked {
		switch t.state {
		case stFinWait1:
			t.state = stFinWait2
		case stClosing:
			t.enterTimeWait()
			ev.timeWait = true
		case stLastAck:
			t.state = stClosed
			ev.closed = true
			return ev
		}
	}
	if len(payload) > 0 {
		switch t.state {
		case stEstablished, stFinWait1, stFinWait2:
			t.rcvNxt += uint32(len(payload))
			ev.data = payload
			ev.needAck = true
		default:
			ev.bad = true // data after the peer's FIN
			return ev
		}
	}
	if flags&fin != 0 {
		switch t.state {
		case stEstablished:
			t.rcvNxt++
			t.state = stCloseWait
			ev.fin = true
		case stFinWait1:
			t.rcvNxt++
			t.state = stClosing
			ev.fin = true
		case stFinWait2:
			t.rcvNxt++
			t.enterTimeWait()
			ev.fin = true
			ev.timeWait = true
		}
		ev.needAck = true
	}
	return ev
}

// mac returns the next hop towards the peer (zero if unknown).
func (t *tcb) mac() [6]byte {
	m, _ := t.h.nextHop(t.remote.Addr())
	return m
}
