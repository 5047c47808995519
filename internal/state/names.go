package state

import "github.com/vsd/vsd/internal/packet"

// nameErr is what the kernel prints for a state it has no name for.
const nameErr = "ERR!"

// States of a persistence template (a connection with the TEMPLATE flag).
const (
	TemplateNone    uint8 = 0 // "NONE": no connection through it has been established yet
	TemplateAssured uint8 = 1 // "ASSURED": a controlled connection reached ESTABLISHED (TCP) or saw a reply (UDP)
)

// StateName returns the state name shown in connection listings
// (/proc/net/ip_vs_conn): for a template "NONE" or "ASSURED"; for TCP, UDP
// and SCTP the protocol's name for st; for protocol 0 (fwmark templates)
// "NONE"; "ERR!" for anything else, as the kernel.
func StateName(proto packet.Proto, st uint8, template bool) string {
	if template {
		switch st {
		case TemplateNone:
			return "NONE"
		case TemplateAssured:
			return "ASSURED"
		}
		return nameErr
	}
	switch proto {
	case packet.ProtoTCP:
		return TCPState(st).String()
	case packet.ProtoUDP:
		return UDPState(st).String()
	case packet.ProtoSCTP:
		return SCTPState(st).String()
	case 0:
		return "NONE"
	}
	return nameErr
}

// IsActive reports whether a (non-template) connection of protocol proto in
// state st counts as an ActiveConn of its real server: TCP in ESTABLISHED,
// SYN_SENT, SYN_RECV or SYNACK, SCTP in ESTABLISHED; never UDP or anything
// else.
func IsActive(proto packet.Proto, st uint8) bool {
	switch proto {
	case packet.ProtoTCP:
		return TCPState(st).Active()
	case packet.ProtoSCTP:
		return SCTPState(st).Active()
	}
	return false
}

// NewConnPacket reports whether a packet is a "new connection" packet for
// the connection-reuse and quiesced-destination checks: TCP with SYN set
// (whatever else is set), SCTP whose first chunk is INIT. Other protocols
// have none.
func NewConnPacket(proto packet.Proto, f packet.TCPFlags, firstChunk uint8) bool {
	switch proto {
	case packet.ProtoTCP:
		return f&packet.TCPSyn != 0
	case packet.ProtoSCTP:
		return firstChunk == sctpChunkInit
	}
	return false
}

// ExpectsNewConn reports whether an existing connection in state st, hit by
// a new-connection packet (see NewConnPacket), is finished and should be
// expired so the packet is scheduled afresh (conn_reuse_mode, kernel
// is_new_conn_expected). reuseMode is the conn_reuse_mode sysctl: 0 never
// reuses; any other value accepts TCP TIME_WAIT and CLOSE and SCTP CLOSED;
// with bit 2 set, also TCP FIN_WAIT while noOutput (the NOOUTPUT flag) is
// still set, i.e. DR/TUN connections that never see the server's FIN.
//
// The caller checks the rest of the rule: the connection must have no
// controller (not FTP data, not persistent), the packet must not be a
// non-first fragment, and a connection that controls others is
// rescheduled only when the packet's conntrack entry is not confirmed.
func ExpectsNewConn(proto packet.Proto, st uint8, noOutput bool, reuseMode int) bool {
	if reuseMode == 0 {
		return false
	}
	switch proto {
	case packet.ProtoTCP:
		s := TCPState(st)
		return s == TCPTimeWait || s == TCPClose ||
			(reuseMode&2 != 0 && s == TCPFinWait && noOutput)
	case packet.ProtoSCTP:
		return SCTPState(st) == SCTPClosed
	}
	return false
}
