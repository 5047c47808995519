package sim

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vsd/vsd/internal/clock"
)

// Kind is what a client session does.
type Kind uint8

const (
	// HTTP10 opens one connection, sends "GET /<ResponseBytes> HTTP/1.0",
	// reads the response; the server closes first (HTTP/1.0 style) and the
	// client answers the FIN. The server ends in TIME_WAIT.
	HTTP10 Kind = iota + 1
	// HTTP11 sends Requests keep-alive requests on one connection with
	// RequestThink pauses, then the client closes first and ends in
	// TIME_WAIT.
	HTTP11
	// Telnet is a long-lived interactive session: Lines lines, each after a
	// LineThink pause and echoed by the server, then "logout", after which
	// the server closes (as in the LVS-DR telnet listing of the seed text).
	Telnet
	// FTP is a control connection (the server speaks first with a 220
	// banner; USER, PASS, PASV) and a second connection to the port the
	// server named in its 227 reply (LIST, server closes), then QUIT on the
	// control connection. Both connections should reach the same real
	// server: that needs a persistent (port 0) service, as in the seed
	// text; a mismatch is counted as a persistence break.
	FTP
	// UDP sends UDPRequests datagrams from one source port, RequestThink
	// apart, each answered by the server with its name; a lost answer is
	// retried UDPRetries times after UDPTimeout.
	UDP
)

var kindNames = [...]string{HTTP10: "http10", HTTP11: "http11", Telnet: "telnet", FTP: "ftp", UDP: "udp"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Kinds returns every session kind.
func Kinds() []Kind { return []Kind{HTTP10, HTTP11, Telnet, FTP, UDP} }

// ParseKind parses a kind name as String prints it.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("sim: unknown session kind %q (want http10, http11, telnet, ftp or udp)", s)
}

// IsUDP reports whether sessions of kind k use UDP (else TCP).
func (k Kind) IsUDP() bool { return k == UDP }

// SessionParams shape sessions. Zero fields take the defaults shown.
type SessionParams struct {
	ResponseBytes int           // HTTP response body size (1024)
	Requests      int           // HTTP/1.1 requests per connection (3)
	Lines         int           // telnet lines before logout (5)
	LineThink     time.Duration // mean pause before each telnet line / FTP QUIT (20 s; exponential, capped at 4×)
	RequestThink  time.Duration // mean pause between HTTP/1.1 requests and UDP requests (1 s; exponential, capped at 4×)
	UDPRequests   int           // datagrams per UDP session (3)
	UDPTimeout    time.Duration // wait for a UDP answer before resending (1 s)
	UDPRetries    int           // resends of one UDP request before giving up (2)
}

func (p *SessionParams) setDefaults() {
	if p.ResponseBytes == 0 {
		p.ResponseBytes = 1024
	}
	if p.Requests == 0 {
		p.Requests = 3
	}
	if p.Lines == 0 {
		p.Lines = 5
	}
	if p.LineThink == 0 {
		p.LineThink = 20 * time.Second
	}
	if p.RequestThink == 0 {
		p.RequestThink = time.Second
	}
	if p.UDPRequests == 0 {
		p.UDPRequests = 3
	}
	if p.UDPTimeout == 0 {
		p.UDPTimeout = time.Second
	}
	if p.UDPRetries == 0 {
		p.UDPRetries = 2
	}
}

// FailReason says why a connection failed.
type FailReason uint8

const (
	NoFailure     FailReason = iota
	SYNTimeout               // the SYN was never answered
	Timeout                  // data or FIN retransmissions exhausted
	NoResponse               // the request was acknowledged (or was UDP) but no answer came in time
	Reset                    // an RST arrived
	Unreachable              // an ICMP destination-unreachable arrived
	ShortResponse            // the server closed before answering everything
	NoRoute                  // no address of the service's family, or the VIP does not resolve
)

var failNames = [...]string{
	NoFailure:     "none",
	SYNTimeout:    "syn-timeout",
	Timeout:       "timeout",
	NoResponse:    "no-response",
	Reset:         "reset",
	Unreachable:   "unreachable",
	ShortResponse: "short-response",
	NoRoute:       "no-route",
}

func (r FailReason) String() string {
	if int(r) < len(failNames) {
		return failNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// numFailReasons is the size of arrays indexed by FailReason.
const numFailReasons = int(NoRoute) + 1

// ConnRole tells the connections of one session apart.
type ConnRole uint8

const (
	RoleMain ConnRole = iota // the session's (control) connection
	RoleData                 // the FTP data connection
)

func (r ConnRole) String() string {
	if r == RoleData {
		return "data"
	}
	return "main"
}

// appAction is what a connection's application timer does when it fires.
type appAction uint8

const (
	actNone    appAction = iota
	actThink             // send the next request
	actTimeout           // the awaited answer did not come
)

// session is one client session of some kind.
type session struct {
	id       int32
	kind     Kind
	cl       *Client
	svc      netip.AddrPort
	p        *SessionParams
	step     int // requests / lines / FTP commands sent
	main     *clientConn
	data     *clientConn
	start    clock.Time
	end      clock.Time
	done     bool
	failed   bool
	persist  bool // FTP: data connection on a different server than control
	scenario bool // started by the scenario driver
}

// think returns a think time with mean m (exponential, capped at 4m).
func (n *Network) think(m time.Duration) time.Duration {
	d := time.Duration(n.rng.ExpFloat64() * float64(m))
	return min(d, 4*m)
}

// begin starts the session's first connection.
func (s *session) begin() {
	cc := s.cl.open(s, RoleMain, s.svc)
	s.main = cc
	if cc.ended {
		return // no route: already failed
	}
	if s.kind == UDP {
		s.sendUDP(cc)
	}
}

// request queues msg on cc and waits for the answer.
func (s *session) request(cc *clientConn, msg []byte) {
	cc.write(msg)
	cc.res.BytesSent += len(msg)
	s.await(cc, awaitLine)
}

func (s *session) await(cc *clientConn, a awaitKind) {
	cc.await = a
	cc.respStarted = false
	cc.appAct = actTimeout
	cc.armApp(s.cl.net.tcp.ResponseTimeout)
}

// thinkThen arms the think timer of cc.
func (s *session) thinkThen(cc *clientConn, mean time.Duration) {
	cc.appAct = actThink
	cc.armApp(s.cl.net.think(mean))
}

// onEstablished: the connection is open.
func (s *session) onEstablished(cc *clientConn) {
	c := s.cl
	switch s.kind {
	case HTTP10:
		s.step++
		msg := c.msg("GET /", s.p.ResponseBytes, " HTTP/1.0\r\n\r\n")
		cc.write(msg)
		cc.res.BytesSent += len(msg)
		s.await(cc, awaitHTTP)
	case HTTP11:
		s.sendHTTP11(cc)
	case Telnet:
		s.thinkThen(cc, s.p.LineThink)
	case FTP:
		if cc.role == RoleData {
			s.request(cc, []byte("LIST\r\n"))
		} else {
			s.await(cc, awaitLine) // the 220 banner
		}
	}
}

func (s *session) sendHTTP11(cc *clientConn) {
	s.step++
	msg := s.cl.msg("GET /", s.p.ResponseBytes, " HTTP/1.1\r\n\r\n")
	cc.write(msg)
	cc.res.BytesSent += len(msg)
	s.await(cc, awaitHTTP)
}

// onResponse: a complete answer arrived on cc (data is its first segment).
func (s *session) onResponse(cc *clientConn, data []byte) {
	c := s.cl
	switch s.kind {
	case HTTP10:
		// The server closes next.
	case HTTP11:
		if s.step < s.p.Requests {
			s.thinkThen(cc, s.p.RequestThink)
		} else {
			cc.close()
		}
	case Telnet:
		if s.step <= s.p.Lines {
			s.thinkThen(cc, s.p.LineThink)
		}
		// After "logout" the server closes.
	case FTP:
		if cc.role == RoleData {
			if s.main != nil && cc.server != s.main.server {
				s.persist = true
			}
			return // the server closes the data connection
		}
		s.step++
		switch s.step {
		case 1:
			s.request(cc, []byte("USER anonymous\r\n"))
		case 2:
			s.request(cc, []byte("PASS guest\r\n"))
		case 3:
			s.request(cc, []byte("PASV\r\n"))
		case 4:
			port, ok := tokenUint(data, "port=")
			if !ok || port == 0 || port > 65535 {
				c.cnt.Unexpected++
				s.fail(cc, ShortResponse)
				return
			}
			// A failure to open fails the control connection too
			// (onConnDone).
			s.data = c.open(s, RoleData, netip.AddrPortFrom(s.svc.Addr(), uint16(port)))
		}
		// Step 5 (QUIT answered): the server closes.
	case UDP:
		if s.step < s.p.UDPRequests {
			s.thinkThen(cc, s.p.RequestThink)
		} else {
			c.finish(cc, NoFailure)
		}
	}
}

// onAppTimer runs the application timer of cc.
func (s *session) onAppTimer(cc *clientConn) {
	act := cc.appAct
	cc.appAct = actNone
	switch act {
	case actTimeout:
		if s.kind == UDP && cc.udpTries < s.p.UDPRetries {
			cc.udpTries++
			s.cl.sendDatagram(cc)
			cc.appAct = actTimeout
			cc.armApp(s.p.UDPTimeout)
			return
		}
		s.fail(cc, NoResponse)
	case actThink:
		switch s.kind {
		case HTTP11:
			s.sendHTTP11(cc)
		case Telnet:
			s.step++
			if s.step <= s.p.Lines {
				s.request(cc, s.cl.msg("echo line ", s.step, "\r\n"))
			} else {
				s.request(cc, []byte("logout\r\n"))
			}
		case FTP:
			s.request(cc, []byte("QUIT\r\n"))
		case UDP:
			s.sendUDP(cc)
		}
		cc.flush(false)
	}
}

func (s *session) sendUDP(cc *clientConn) {
	s.step++
	cc.udpMsg = appendMsg(cc.udpMsg[:0], "ping ", s.step, "\r\n")
	cc.udpTries = 0
	s.cl.sendDatagram(cc)
	cc.appAct = actTimeout
	cc.armApp(s.p.UDPTimeout)
}

// onPeerFIN: the server closed its side.
func (s *session) onPeerFIN(cc *clientConn) {
	if cc.await != awaitNone || !s.expectsServerClose(cc) {
		cc.short = true
	}
	cc.stopApp() // no more requests or waiting
	cc.appAct = actNone
	cc.close()
}

// expectsServerClose reports whether the protocol has reached the point
// where the server closes.
func (s *session) expectsServerClose(cc *clientConn) bool {
	switch s.kind {
	case HTTP10:
		return cc.res.Responses >= 1
	case HTTP11:
		return s.step >= s.p.Requests && cc.res.Responses >= s.p.Requests
	case Telnet:
		return s.step > s.p.Lines
	case FTP:
		if cc.role == RoleData {
			return cc.res.Responses >= 1
		}
		return s.step >= 5
	}
	return false
}

// onConnDone: cc completed or failed.
func (s *session) onConnDone(cc *clientConn) {
	if cc.res.Failed {
		s.failed = true
	}
	if s.kind == FTP && cc.role == RoleData && s.main != nil && !s.main.res.Completed && !s.main.res.Failed {
		if cc.res.Failed {
			s.fail(s.main, ShortResponse)
			return
		}
		s.thinkThen(s.main, s.p.LineThink)
		return
	}
	if s.kind == FTP && cc.role == RoleMain && s.data != nil && !s.data.res.Completed && !s.data.res.Failed {
		if cc.res.Failed {
			s.fail(s.data, ShortResponse)
		}
		return
	}
	if !s.done {
		s.done = true
		s.end = s.cl.net.now
		s.cl.net.sessionDone(s)
	}
}

// fail ends cc with reason (aborting it with a RST when it is open).
func (s *session) fail(cc *clientConn, reason FailReason) {
	s.cl.abort(cc, reason)
}
