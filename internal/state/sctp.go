package state

// SCTPState is the IPVS SCTP connection state (IP_VS_SCTP_S_*).
//
// The usual NAT path:
//
//	NONE --in INIT--> INIT1 --out INIT-ACK--> C-SENT --in COOKIE-ECHO-->
//	C-REPLIED --out COOKIE-ACK--> ESTABLISHED --SHUTDOWN...--> CLOSED
//
// An INIT answered by ABORT goes to REJECTED.
type SCTPState uint8

// SCTP states, with the kernel's ids. The comments give the /proc names.
const (
	SCTPNone             SCTPState = iota // NONE
	SCTPInit1                             // INIT1: first client INIT seen
	SCTPInit                              // INIT: repeated client INIT
	SCTPCookieSent                        // C-SENT: server INIT-ACK seen
	SCTPCookieReplied                     // C-REPLIED: client COOKIE-ECHO seen
	SCTPCookieWait                        // C-WAIT: server sent INIT
	SCTPCookie                            // COOKIE: client sent INIT-ACK
	SCTPCookieEchoed                      // C-ECHOED: server sent COOKIE-ECHO
	SCTPEstablished                       // ESTABLISHED
	SCTPShutdownSent                      // S-SENT
	SCTPShutdownReceived                  // S-RECEIVED
	SCTPShutdownAckSent                   // S-ACK-SENT
	SCTPRejected                          // REJECTED: INIT answered by ABORT
	SCTPClosed                            // CLOSED

	// SCTPStateCount is the number of SCTP states (IP_VS_SCTP_S_LAST); it
	// is not a state.
	SCTPStateCount
)

// sctpStateNames holds the /proc name (index 0) and the long kernel name
// (index 1, accepted by Timeouts.Set) of each state.
var sctpStateNames = [SCTPStateCount][2]string{
	SCTPNone:             {"NONE", "NONE"},
	SCTPInit1:            {"INIT1", "INIT1"},
	SCTPInit:             {"INIT", "INIT"},
	SCTPCookieSent:       {"C-SENT", "COOKIE_SENT"},
	SCTPCookieReplied:    {"C-REPLIED", "COOKIE_REPLIED"},
	SCTPCookieWait:       {"C-WAIT", "COOKIE_WAIT"},
	SCTPCookie:           {"COOKIE", "COOKIE"},
	SCTPCookieEchoed:     {"C-ECHOED", "COOKIE_ECHOED"},
	SCTPEstablished:      {"ESTABLISHED", "ESTABLISHED"},
	SCTPShutdownSent:     {"S-SENT", "SHUTDOWN_SENT"},
	SCTPShutdownReceived: {"S-RECEIVED", "SHUTDOWN_RECEIVED"},
	SCTPShutdownAckSent:  {"S-ACK-SENT", "SHUTDOWN_ACK_SENT"},
	SCTPRejected:         {"REJECTED", "REJECTED"},
	SCTPClosed:           {"CLOSED", "CLOSED"},
}

// String returns the name shown in /proc/net/ip_vs_conn, or "ERR!" for an
// id out of range.
func (s SCTPState) String() string {
	if s >= SCTPStateCount {
		return nameErr
	}
	return sctpStateNames[s][0]
}

// Active reports whether a connection in this state counts as an ActiveConn:
// only ESTABLISHED does.
func (s SCTPState) Active() bool { return s == SCTPEstablished }

// SCTPEvent is the table row an SCTP packet selects.
type SCTPEvent uint8

// SCTP events, in the kernel's row order.
const (
	SCTPEventData             SCTPEvent = iota // DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and any other chunk type
	SCTPEventInit                              // INIT
	SCTPEventInitAck                           // INIT_ACK
	SCTPEventCookieEcho                        // COOKIE_ECHO
	SCTPEventCookieAck                         // COOKIE_ACK
	SCTPEventShutdown                          // SHUTDOWN
	SCTPEventShutdownAck                       // SHUTDOWN_ACK
	SCTPEventShutdownComplete                  // SHUTDOWN_COMPLETE
	SCTPEventError                             // ERROR
	SCTPEventAbort                             // ABORT

	sctpEventCount
)

var sctpEventNames = [sctpEventCount]string{"d", "i", "i_a", "c_e", "c_a", "s", "s_a", "s_c", "err", "ab"}

// String returns the reference's short name of the event ("d", "i", "i_a",
// "c_e", "c_a", "s", "s_a", "s_c", "err", "ab").
func (e SCTPEvent) String() string {
	if e >= sctpEventCount {
		return "event?"
	}
	return sctpEventNames[e]
}

// SCTP chunk types (RFC 9260) that select an event.
const (
	sctpChunkInit             = 1
	sctpChunkInitAck          = 2
	sctpChunkAbort            = 6
	sctpChunkShutdown         = 7
	sctpChunkShutdownAck      = 8
	sctpChunkError            = 9
	sctpChunkCookieEcho       = 10
	sctpChunkCookieAck        = 11
	sctpChunkShutdownComplete = 14
)

// sctpChunkEvent maps a chunk type to its event; the zero value is
// SCTPEventData, the event of every type not listed.
var sctpChunkEvent = [256]SCTPEvent{
	sctpChunkInit:             SCTPEventInit,
	sctpChunkInitAck:          SCTPEventInitAck,
	sctpChunkAbort:            SCTPEventAbort,
	sctpChunkShutdown:         SCTPEventShutdown,
	sctpChunkShutdownAck:      SCTPEventShutdownAck,
	sctpChunkError:            SCTPEventError,
	sctpChunkCookieEcho:       SCTPEventCookieEcho,
	sctpChunkCookieAck:        SCTPEventCookieAck,
	sctpChunkShutdownComplete: SCTPEventShutdownComplete,
}

// SCTPEventOf returns the event of an SCTP packet from the type of its
// first chunk. When the first chunk is COOKIE_ECHO or COOKIE_ACK and the
// next chunk (hasSecond, secondChunk: the chunk at the first chunk's length
// rounded up to 4 bytes) is ABORT, the event is ABORT. A packet with no
// chunk at all makes no transition; the caller must not call this for it.
func SCTPEventOf(firstChunk, secondChunk uint8, hasSecond bool) SCTPEvent {
	if hasSecond && secondChunk == sctpChunkAbort &&
		(firstChunk == sctpChunkCookieEcho || firstChunk == sctpChunkCookieAck) {
		return SCTPEventAbort
	}
	return sctpChunkEvent[firstChunk]
}

// SCTPNext returns the state after a packet with event ev in direction d.
// Out-of-range arguments (which the kernel cannot produce) give SCTPClosed.
func SCTPNext(d Dir, ev SCTPEvent, cur SCTPState) SCTPState {
	if d >= dirCount || ev >= sctpEventCount || cur >= SCTPStateCount {
		return SCTPClosed
	}
	return sctpTable[d][ev][cur]
}

// SCTPCreates reports whether an SCTP packet that matches no connection may
// create one: never when its first chunk is ABORT; otherwise only an INIT
// unless sloppy_sctp is on.
func SCTPCreates(firstChunk uint8, sloppy bool) bool {
	if firstChunk == sctpChunkAbort {
		return false
	}
	return sloppy || firstChunk == sctpChunkInit
}

// Short names for the table below (the abbreviations of the reference;
// NONE never appears as a next state).
const (
	sI1 = SCTPInit1
	sIN = SCTPInit
	sCS = SCTPCookieSent
	sCR = SCTPCookieReplied
	sCW = SCTPCookieWait
	sCO = SCTPCookie
	sCE = SCTPCookieEchoed
	sES = SCTPEstablished
	sSS = SCTPShutdownSent
	sSR = SCTPShutdownReceived
	sSA = SCTPShutdownAckSent
	sRJ = SCTPRejected
	sCL = SCTPClosed
)

// sctpTable[dir][event][current state] is the next state: the kernel's
// sctp_states, cell for cell.
var sctpTable = [dirCount][sctpEventCount][SCTPStateCount]SCTPState{
	Input: {
		//                          NO   I1   IN   CS   CR   CW   CO   CE   ES   SS   SR   SA   RJ   CL
		SCTPEventData:             {sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventInit:             {sI1, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN},
		SCTPEventInitAck:          {sCW, sCW, sCW, sCS, sCR, sCO, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieEcho:       {sCR, sIN, sIN, sCR, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieAck:        {sES, sI1, sIN, sCS, sCR, sCW, sCO, sES, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdown:         {sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdownAck:      {sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sCL, sSR, sCL, sRJ, sCL},
		SCTPEventShutdownComplete: {sCL, sCL, sCL, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sCL, sRJ, sCL},
		SCTPEventError:            {sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCL, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventAbort:            {sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},
	Output: {
		//                          NO   I1   IN   CS   CR   CW   CO   CE   ES   SS   SR   SA   RJ   CL
		SCTPEventData:             {sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventInit:             {sCW, sCW, sCW, sCW, sCW, sCW, sCW, sCW, sES, sCW, sCW, sCW, sCW, sCW},
		SCTPEventInitAck:          {sCS, sCS, sCS, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieEcho:       {sCE, sCE, sCE, sCE, sCE, sCE, sCE, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieAck:        {sES, sES, sES, sES, sES, sES, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdown:         {sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdownAck:      {sSA, sSA, sSA, sSA, sSA, sCW, sCO, sCE, sES, sSA, sSA, sSA, sRJ, sCL},
		SCTPEventShutdownComplete: {sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventError:            {sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventAbort:            {sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},
	InputOnly: {
		//                          NO   I1   IN   CS   CR   CW   CO   CE   ES   SS   SR   SA   RJ   CL
		SCTPEventData:             {sES, sI1, sIN, sCS, sCR, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventInit:             {sI1, sIN, sIN, sIN, sIN, sIN, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN},
		SCTPEventInitAck:          {sCE, sCE, sCE, sCE, sCE, sCE, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieEcho:       {sES, sES, sES, sES, sES, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventCookieAck:        {sES, sI1, sIN, sES, sES, sCW, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdown:         {sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventShutdownAck:      {sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sCL, sCL, sSR, sCL, sRJ, sCL},
		SCTPEventShutdownComplete: {sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sCL, sCL, sRJ, sCL},
		SCTPEventError:            {sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
		SCTPEventAbort:            {sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},
}
