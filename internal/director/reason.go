package director

// Reason says why a frame was dropped, or names another per-frame event the
// engine counts. Every drop is counted under exactly one drop reason.
type Reason uint8

// Drop reasons.
const (
	ReasonNone            Reason = iota
	ReasonMalformed              // Decode rejected the frame (truncated, bad header lengths)
	ReasonTableFull              // the connection table's memory budget is exhausted
	ReasonNoDestConn             // packet of a connection whose destination was removed (expire_nodest_conn = 0)
	ReasonNoNeighbor             // next hop has no known MAC address
	ReasonNoHeadroom             // no room in front of the frame for a tunnel header
	ReasonNoDest                 // scheduler found no destination; ICMP unreachable could not be built
	ReasonTTL                    // TTL expired; ICMP time exceeded could not be built
	ReasonUnsupported            // a packet of a service the engine cannot forward (e.g. GRE tunnel)
	ReasonICMPErrorNoConn        // an embedded (ICMP) packet that matches no connection
	ReasonDropPacket             // the drop_packet defense: one new-connection packet of every drop rate
	ReasonRateLimit              // a client's packets beyond its service's source_rate or conn_rate
	ReasonBadCookie              // syn_proxy (NAT): an ACK without a connection that acknowledges no cookie of ours
	ReasonSynProxyPending        // syn_proxy (NAT): a real server's packet other than its SYN+ACK while the proxy waits for that
	ReasonICMPBadChecksum        // an ICMP error of a connection with a wrong ICMP checksum
	ReasonICMPTruncated          // a related ICMP error whose quoted packet is unreadable or cut before its ports
	ReasonTooBig                 // too big for the egress MTU and no ICMP error may be sent about it
	ReasonICMPRateLimit          // an ICMP error the director would send, over icmp_ratelimit (the packet it answers is dropped)
	ReasonFragTimeout            // a held non-first fragment whose first fragment did not come in time
	ReasonFragFull               // a non-first fragment with no first fragment seen that could not be held (pool full)
	ReasonFragDropped            // a non-first fragment whose first fragment was dropped or answered
	ReasonFragOutbox             // an extra frame (released or made by fragmenting) did not fit the worker's outbox
	ReasonTunnelConsumed         // an ICMP error about a tunnel packet of a connection that tells the client nothing (frag needed about a packet without DF), or about whose packet no error may be sent
	numReasons
)

var reasonNames = [...]string{
	ReasonNone:            "none",
	ReasonMalformed:       "malformed",
	ReasonTableFull:       "table_full",
	ReasonNoDestConn:      "dest_unavailable",
	ReasonNoNeighbor:      "no_neighbor",
	ReasonNoHeadroom:      "no_headroom",
	ReasonNoDest:          "no_dest",
	ReasonTTL:             "ttl_expired",
	ReasonUnsupported:     "unsupported",
	ReasonICMPErrorNoConn: "icmp_no_conn",
	ReasonDropPacket:      "drop_packet",
	ReasonRateLimit:       "rate_limit",
	ReasonBadCookie:       "bad_cookie",
	ReasonSynProxyPending: "syn_proxy_pending",
	ReasonICMPBadChecksum: "icmp_bad_checksum",
	ReasonICMPTruncated:   "icmp_truncated",
	ReasonTooBig:          "too_big",
	ReasonICMPRateLimit:   "icmp_ratelimit",
	ReasonFragTimeout:     "frag_timeout",
	ReasonFragFull:        "frag_full",
	ReasonFragDropped:     "frag_first_dropped",
	ReasonFragOutbox:      "frag_outbox",
	ReasonTunnelConsumed:  "icmp_tunnel_consumed",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason?"
}

// Reasons lists every drop reason, for printing counters.
func Reasons() []Reason {
	r := make([]Reason, 0, numReasons-1)
	for i := ReasonNone + 1; i < numReasons; i++ {
		r = append(r, i)
	}
	return r
}

// Event counters: things that happened to frames that were not dropped.
type Event uint8

// Events.
const (
	EventNewConn         Event = iota // a connection entry was created
	EventNewTemplate                  // a persistence template was created
	EventOnePacket                    // a one-packet-scheduled datagram was forwarded without an entry
	EventReschedule                   // an old entry was expired and the packet scheduled anew (conn reuse, nodest)
	EventNoDestICMP                   // no destination: ICMP port unreachable sent to the client
	EventTTLICMP                      // TTL expired: ICMP time exceeded sent to the sender
	EventPassNoService                // not for a virtual service: passed to the host
	EventPassNoCreate                 // for a service but may not create a connection (e.g. TCP without SYN)
	EventReply                        // a NAT reply was translated back to the VIP
	EventOverloadForward              // table full: a new connection forwarded by hash, without an entry (overload mode)
	EventSynStateless                 // a SYN of a syn_proxy DR/TUN service forwarded without an entry
	EventSynCookie                    // syn_proxy (NAT): a SYN answered with a SYN cookie, nothing kept
	EventSynProxyConn                 // syn_proxy (NAT): a client's ACK carried a valid cookie; entry made, SYN sent to the real server
	EventSynProxyOpen                 // syn_proxy (NAT): the real server's SYN+ACK came; the two halves are joined
	EventSynProxyResyn                // syn_proxy (NAT): a client packet while the real server had not answered, sent as the SYN again
	EventICMPForward                  // a client's ICMP error forwarded to its connection's real server
	EventICMPReply                    // a NAT real server's ICMP error translated back to the VIP
	EventICMPOutPass                  // a DR/TUN/local real server's ICMP error of a connection: counted, passed to the host
	EventICMPNoForward                // an ICMP error of a connection passed to the host because of no_icmp_forward
	EventICMPUnrelated                // an ICMP error about no connection (or no ports): passed to the host
	EventFragNeededICMP               // too big for the egress MTU: ICMP fragmentation needed / packet too big sent
	EventFragHeld                     // a non-first fragment before its first: copied into the fragment tracker
	EventFragReleased                 // a held fragment released (into the outbox) when its first fragment came
	EventFragOut                      // an extra fragment made because a packet was longer than the egress MTU
	EventICMPTunnelError              // an ICMP error about the director's tunnel packet of a connection: the client was sent that error (frag needed: with the tunnel MTU) about its own packet
	numEvents
)

var eventNames = [...]string{
	EventNewConn:         "new_conn",
	EventNewTemplate:     "new_template",
	EventOnePacket:       "one_packet",
	EventReschedule:      "reschedule",
	EventNoDestICMP:      "no_dest_icmp",
	EventTTLICMP:         "ttl_icmp",
	EventPassNoService:   "pass_no_service",
	EventPassNoCreate:    "pass_no_create",
	EventReply:           "nat_reply",
	EventSynStateless:    "syn_stateless",
	EventOverloadForward: "overload_forward",
	EventSynCookie:       "syn_cookie",
	EventSynProxyConn:    "syn_proxy_conn",
	EventSynProxyOpen:    "syn_proxy_open",
	EventSynProxyResyn:   "syn_proxy_resyn",
	EventICMPForward:     "icmp_forward",
	EventICMPReply:       "icmp_nat_reply",
	EventICMPOutPass:     "icmp_out_pass",
	EventICMPNoForward:   "icmp_not_forwarded",
	EventICMPUnrelated:   "icmp_unrelated",
	EventFragNeededICMP:  "frag_needed_icmp",
	EventFragHeld:        "frag_held",
	EventFragReleased:    "frag_released",
	EventFragOut:         "frag_out",
	EventICMPTunnelError: "icmp_tunnel_error",
}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "event?"
}

// Events lists every event, for printing counters.
func Events() []Event {
	r := make([]Event, 0, numEvents)
	for i := Event(0); i < numEvents; i++ {
		r = append(r, i)
	}
	return r
}
