package state

import "github.com/vsd/vsd/internal/packet"

// TCPState is the IPVS TCP connection state (IP_VS_TCP_S_*). It is a
// director's guess from the flags it sees, not the endpoints' TCP state.
//
// The usual NAT path (rows: packet that causes the move):
//
//	NONE --in SYN--> SYN_RECV --out SYN+ACK--> SYN_RECV (secure_tcp: SYNACK)
//	     --in ACK--> ESTABLISHED --in FIN--> CLOSE_WAIT --out FIN--> TIME_WAIT
//	                 ESTABLISHED --out FIN--> FIN_WAIT --in FIN--> TIME_WAIT
//	any --RST--> CLOSE (mostly); any packet without SYN/FIN/ACK/RST --> CLOSE
//
// DR/TUN (INPUT_ONLY) see only the client: SYN --> SYN_RECV, ACK -->
// ESTABLISHED, FIN --> FIN_WAIT.
type TCPState uint8

// TCP states, with the kernel's ids.
const (
	TCPNone        TCPState = iota // NONE
	TCPEstablished                 // ESTABLISHED
	TCPSynSent                     // SYN_SENT
	TCPSynRecv                     // SYN_RECV
	TCPFinWait                     // FIN_WAIT
	TCPTimeWait                    // TIME_WAIT
	TCPClose                       // CLOSE
	TCPCloseWait                   // CLOSE_WAIT
	TCPLastAck                     // LAST_ACK
	TCPListen                      // LISTEN: only set by the FTP helper for expected data conns
	TCPSynAck                      // SYNACK: secure_tcp tables only

	// TCPStateCount is the number of TCP states (the kernel's
	// IP_VS_TCP_S_LAST sentinel); it is not a state.
	TCPStateCount
)

var tcpStateNames = [TCPStateCount]string{
	TCPNone:        "NONE",
	TCPEstablished: "ESTABLISHED",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPFinWait:     "FIN_WAIT",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPListen:      "LISTEN",
	TCPSynAck:      "SYNACK",
}

// String returns the kernel's name for the state, as shown in
// /proc/net/ip_vs_conn, or "ERR!" for an id out of range (as the kernel).
func (s TCPState) String() string {
	if s >= TCPStateCount {
		return nameErr
	}
	return tcpStateNames[s]
}

// Active reports whether a connection in this state counts as an ActiveConn
// of its real server (ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK); every other
// state counts as InActConn. Kernels before 4.x counted only ESTABLISHED.
func (s TCPState) Active() bool {
	switch s {
	case TCPEstablished, TCPSynSent, TCPSynRecv, TCPSynAck:
		return true
	}
	return false
}

// TCPEvent is the table row a TCP header selects.
type TCPEvent uint8

// TCP events, in the kernel's row order.
const (
	TCPEventSyn TCPEvent = iota
	TCPEventFin
	TCPEventAck
	TCPEventRst

	tcpEventCount
)

// String returns "syn", "fin", "ack" or "rst".
func (e TCPEvent) String() string {
	switch e {
	case TCPEventSyn:
		return "syn"
	case TCPEventFin:
		return "fin"
	case TCPEventAck:
		return "ack"
	case TCPEventRst:
		return "rst"
	}
	return "event?"
}

const tcpNoEvent = 0xff

// tcpFlagEvent maps the RST, SYN, FIN and ACK bits of a flags byte (masked
// with tcpEventMask) to the event they select: RST > SYN > FIN > ACK. A
// lookup is cheaper than the chain of tests and has no branches.
var tcpFlagEvent = func() (t [32]uint8) {
	for i := range t {
		f := packet.TCPFlags(i)
		switch {
		case f&packet.TCPRst != 0:
			t[i] = uint8(TCPEventRst)
		case f&packet.TCPSyn != 0:
			t[i] = uint8(TCPEventSyn)
		case f&packet.TCPFin != 0:
			t[i] = uint8(TCPEventFin)
		case f&packet.TCPAck != 0:
			t[i] = uint8(TCPEventAck)
		default:
			t[i] = tcpNoEvent
		}
	}
	return t
}()

const tcpEventMask = packet.TCPFin | packet.TCPSyn | packet.TCPRst | packet.TCPAck

// TCPEventOf returns the event a TCP header's flags select, with priority
// RST > SYN > FIN > ACK (so SYN+ACK is syn, FIN+ACK is fin, RST+ACK is rst).
// It returns false when none of the four flags is set; the connection then
// moves to CLOSE (see TCPTransition).
func TCPEventOf(f packet.TCPFlags) (TCPEvent, bool) {
	ev := tcpFlagEvent[f&tcpEventMask]
	return TCPEvent(ev), ev != tcpNoEvent
}

// TCPNext returns the state after a packet: secure selects the secure_tcp
// ("dos") tables (secure_tcp level ≥ 2), d the direction, ev the header's
// event, cur the connection's state. The result is the kernel's table cell,
// also when it equals cur. Out-of-range arguments (which the kernel cannot
// produce) give TCPClose, the state with the shortest life.
func TCPNext(secure bool, d Dir, ev TCPEvent, cur TCPState) TCPState {
	if d >= dirCount || ev >= tcpEventCount || cur >= TCPStateCount {
		return TCPClose
	}
	mode := 0 // an index rather than a branch: no misprediction when modes mix
	if secure {
		mode = 1
	}
	return tcpTables[mode][d][ev][cur]
}

// TCPTransition is TCPNext for a header's flags, including the rule that a
// segment with none of SYN, FIN, ACK and RST sends the connection to CLOSE.
func TCPTransition(secure bool, d Dir, f packet.TCPFlags, cur TCPState) TCPState {
	// ev&3 keeps the no-event marker a valid row; its result is then
	// replaced by CLOSE. (Measured: about 3 ns per call on a random mix of
	// directions, modes and flags; BenchmarkTCPTransition.)
	ev := tcpFlagEvent[f&tcpEventMask]
	next := TCPNext(secure, d, TCPEvent(ev&3), cur)
	if ev == tcpNoEvent {
		next = TCPClose
	}
	return next
}

// TCPCreates reports whether a TCP segment that matches no connection may
// create one (be scheduled): never with RST; otherwise it needs SYN unless
// sloppy_tcp is on. SYN+ACK may create a connection (active FTP).
func TCPCreates(f packet.TCPFlags, sloppy bool) bool {
	if f&packet.TCPRst != 0 {
		return false
	}
	return sloppy || f&packet.TCPSyn != 0
}

// Short names for the tables below (the abbreviations of the reference;
// NONE never appears as a next state).
const (
	tES = TCPEstablished
	tSS = TCPSynSent
	tSR = TCPSynRecv
	tFW = TCPFinWait
	tTW = TCPTimeWait
	tCL = TCPClose
	tCW = TCPCloseWait
	tLA = TCPLastAck
	tLI = TCPListen
	tSA = TCPSynAck
)

// tcpTables[secure][dir][event][current state] is the next state: the
// kernel's tcp_states (index 0) and tcp_states_dos (index 1), cell for cell.
var tcpTables = [2][dirCount][tcpEventCount][TCPStateCount]TCPState{
	{ // normal tables, §2.3
		Input: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSR, tES, tES, tSR, tSR, tSR, tSR, tSR, tSR, tSR, tSR},
			TCPEventFin: {tCL, tCW, tSS, tTW, tTW, tTW, tCL, tCW, tLA, tLI, tTW},
			TCPEventAck: {tES, tES, tSS, tES, tFW, tTW, tCL, tCW, tCL, tLI, tES},
			TCPEventRst: {tCL, tCL, tCL, tSR, tCL, tCL, tCL, tCL, tLA, tLI, tSR},
		},
		Output: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSS, tES, tSS, tSR, tSS, tSS, tSS, tSS, tSS, tLI, tSR},
			TCPEventFin: {tTW, tFW, tSS, tTW, tFW, tTW, tCL, tTW, tLA, tLI, tTW},
			TCPEventAck: {tES, tES, tSS, tES, tFW, tTW, tCL, tCW, tLA, tES, tES},
			TCPEventRst: {tCL, tCL, tSS, tCL, tCL, tTW, tCL, tCL, tCL, tCL, tCL},
		},
		InputOnly: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSR, tES, tES, tSR, tSR, tSR, tSR, tSR, tSR, tSR, tSR},
			TCPEventFin: {tCL, tFW, tSS, tTW, tFW, tTW, tCL, tCW, tLA, tLI, tTW},
			TCPEventAck: {tES, tES, tSS, tES, tFW, tTW, tCL, tCW, tCL, tLI, tES},
			TCPEventRst: {tCL, tCL, tCL, tSR, tCL, tCL, tCL, tCL, tLA, tLI, tCL},
		},
	},
	{ // secure_tcp "dos" tables, §2.4
		Input: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSR, tES, tES, tSR, tSR, tSR, tSR, tSR, tSR, tSR, tSA},
			TCPEventFin: {tCL, tCW, tSS, tTW, tTW, tTW, tCL, tCW, tLA, tLI, tSA},
			TCPEventAck: {tES, tES, tSS, tSR, tFW, tTW, tCL, tCW, tCL, tLI, tSA},
			TCPEventRst: {tCL, tCL, tCL, tSR, tCL, tCL, tCL, tCL, tLA, tLI, tCL},
		},
		Output: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSS, tES, tSS, tSA, tSS, tSS, tSS, tSS, tSS, tLI, tSA},
			TCPEventFin: {tTW, tFW, tSS, tTW, tFW, tTW, tCL, tTW, tLA, tLI, tTW},
			TCPEventAck: {tES, tES, tSS, tES, tFW, tTW, tCL, tCW, tLA, tES, tES},
			TCPEventRst: {tCL, tCL, tSS, tCL, tCL, tTW, tCL, tCL, tCL, tCL, tCL},
		},
		InputOnly: {
			//             NO   ES   SS   SR   FW   TW   CL   CW   LA   LI   SA
			TCPEventSyn: {tSA, tES, tES, tSR, tSA, tSA, tSA, tSA, tSA, tSA, tSA},
			TCPEventFin: {tCL, tFW, tSS, tTW, tFW, tTW, tCL, tCW, tLA, tLI, tTW},
			TCPEventAck: {tES, tES, tSS, tES, tFW, tTW, tCL, tCW, tCL, tLI, tES},
			TCPEventRst: {tCL, tCL, tCL, tSR, tCL, tCL, tCL, tCL, tLA, tLI, tCL},
		},
	},
}
