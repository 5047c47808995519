package sim

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// Socket is one line of a host's "netstat -an".
type Socket struct {
	Proto  packet.Proto
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  string // TCP state name; "" for UDP
}

func (s Socket) String() string {
	p := "tcp"
	if s.Proto == packet.ProtoUDP {
		p = "udp"
	}
	return fmt.Sprintf("%s %s %s %s", p, s.Local, s.Remote, s.State)
}

func sortSockets(s []Socket) {
	slices.SortFunc(s, func(a, b Socket) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
	})
}

// SessionResult is the outcome of one session.
type SessionResult struct {
	ID        int
	Kind      Kind
	Client    string
	Service   netip.AddrPort
	Start     clock.Time
	End       clock.Time // zero while it runs
	Done      bool
	Completed bool // done and every connection completed
	// PersistenceBreak: the FTP data connection reached another server
	// than the control connection.
	PersistenceBreak bool
	Conns            []int // connection IDs (Network.Conn)
}

// startSession creates and begins a session.
func (n *Network) startSession(c *Client, k Kind, svc netip.AddrPort, p *SessionParams, scenario bool) int {
	s := &session{id: int32(len(n.sessions)), kind: k, cl: c, svc: svc, p: p, start: n.now, scenario: scenario}
	n.sessions = append(n.sessions, s)
	s.begin()
	return int(s.id)
}

func (n *Network) sessionDone(s *session) {
	if s.scenario && n.sc != nil {
		n.sc.done++
	}
}

// Session returns the result of session id so far.
func (n *Network) Session(id int) SessionResult {
	s := n.sessions[id]
	r := SessionResult{ID: id, Kind: s.kind, Client: s.cl.name, Service: s.svc, Start: s.start, End: s.end,
		Done: s.done, Completed: s.done && !s.failed, PersistenceBreak: s.persist}
	for _, cc := range []*clientConn{s.main, s.data} {
		if cc != nil {
			r.Conns = append(r.Conns, int(cc.id))
		}
	}
	return r
}

// NumSessions returns the number of sessions started so far.
func (n *Network) NumSessions() int { return len(n.sessions) }

// Conn returns the result of connection id so far.
func (n *Network) Conn(id int) ConnResult { return n.conns[id].res }

// Conns returns the results of every connection so far.
func (n *Network) Conns() []ConnResult {
	out := make([]ConnResult, len(n.conns))
	for i, cc := range n.conns {
		out[i] = cc.res
	}
	return out
}

// Clients returns the client hosts.
func (n *Network) Clients() []*Client { return slices.Clone(n.clients) }

// Servers returns the real servers in the order they were added.
func (n *Network) Servers() []*Server { return slices.Clone(n.servers) }

// Server returns the server called name, or nil.
func (n *Network) Server(name string) *Server {
	if i, ok := n.serverIdx[name]; ok {
		return n.servers[i]
	}
	return nil
}

// Directors returns the attached directors.
func (n *Network) Directors() []*DirectorHost { return slices.Clone(n.directors) }

// Report is a summary of everything the network did so far.
type Report struct {
	Start, Now clock.Time
	Elapsed    time.Duration // virtual
	Events     uint64

	Sessions, SessionsDone, SessionsCompleted, SessionsFailed int
	ByKind                                                    []KindReport

	Connections int // opened
	Completed   int
	Failed      int
	Active      int // neither completed nor failed yet
	FailReasons map[FailReason]int

	// Switches sums ConnResult.Switches: answers within a connection from
	// a server other than the first. Must be 0.
	Switches int
	// AddrMismatch counts connections whose server reported a client
	// address other than the client's. Must be 0 (no proxying).
	AddrMismatch int
	// PersistenceBreaks counts FTP sessions whose data connection reached
	// another server than their control connection.
	PersistenceBreaks int
	// ServerSawNonClient counts entries in the servers' logs of client
	// addresses that are not an address of any client host. Must be 0.
	ServerSawNonClient int

	Servers   []ServerReport
	Directors []DirectorReport
	Clients   HostCounters // summed over client hosts
	ServerSum HostCounters // summed over servers
	Wire      WireCounters
	// FrameBuffers is how many frame buffers the pool ever allocated (the
	// most frames in flight at once).
	FrameBuffers int
}

// KindReport is the session tally of one kind.
type KindReport struct {
	Kind                        Kind
	Sessions, Completed, Failed int
}

// ServerReport is one server's part.
type ServerReport struct {
	Name        string
	Mode        Mode
	Connections int     // client connections it answered first
	Share       float64 // Connections / all answered connections
	Stats       ServerStats
	Counters    HostCounters
	States      map[string]int // its TCP connections by state now
}

// DirectorReport is one director slot's part.
type DirectorReport struct {
	Name     string
	Counters DirectorCounters
}

// Report summarises the network's state now.
func (n *Network) Report() Report {
	r := Report{Start: n.cfg.Start, Now: n.now, Elapsed: n.now.Sub(n.cfg.Start), Events: n.events,
		FailReasons: make(map[FailReason]int), Wire: n.wire, FrameBuffers: n.allocated}
	byKind := make(map[Kind]*KindReport)
	for _, s := range n.sessions {
		r.Sessions++
		kr := byKind[s.kind]
		if kr == nil {
			kr = &KindReport{Kind: s.kind}
			byKind[s.kind] = kr
		}
		kr.Sessions++
		if s.done {
			r.SessionsDone++
			if s.failed {
				r.SessionsFailed++
				kr.Failed++
			} else {
				r.SessionsCompleted++
				kr.Completed++
			}
		}
		if s.persist {
			r.PersistenceBreaks++
		}
	}
	for _, k := range Kinds() {
		if kr := byKind[k]; kr != nil {
			r.ByKind = append(r.ByKind, *kr)
		}
	}
	perServer := make([]int, len(n.servers))
	answered := 0
	for _, cc := range n.conns {
		res := &cc.res
		r.Connections++
		switch {
		case res.Completed:
			r.Completed++
		case res.Failed:
			r.Failed++
			r.FailReasons[res.Reason]++
		default:
			r.Active++
		}
		r.Switches += res.Switches
		if res.AddrMismatch {
			r.AddrMismatch++
		}
		if cc.server >= 0 {
			perServer[cc.server]++
			answered++
		}
	}
	clientAddrs := make(map[netip.Addr]bool, 2*len(n.clients))
	for _, c := range n.clients {
		r.Clients.add(&c.cnt)
		clientAddrs[c.addr4] = true
		clientAddrs[c.addr6] = true
	}
	delete(clientAddrs, netip.Addr{})
	for i, s := range n.servers {
		sr := ServerReport{Name: s.name, Mode: s.mode, Connections: perServer[i], Stats: s.stats, Counters: s.cnt, States: s.StateCounts()}
		if answered > 0 {
			sr.Share = float64(perServer[i]) / float64(answered)
		}
		r.Servers = append(r.Servers, sr)
		r.ServerSum.add(&s.cnt)
		for _, a := range s.seen {
			if !clientAddrs[a.Addr()] {
				r.ServerSawNonClient++
			}
		}
	}
	for _, d := range n.directors {
		r.Directors = append(r.Directors, DirectorReport{Name: d.name, Counters: d.Counters()})
	}
	return r
}

// Problems lists the invariants the run broke: anything that can only
// come from a wrong director (or a bug in the sim). Failed connections are
// not listed: whether they are expected depends on the scenario.
func (r *Report) Problems() []string {
	var p []string
	add := func(v uint64, what string) {
		if v != 0 {
			p = append(p, fmt.Sprintf("%d %s", v, what))
		}
	}
	add(r.Clients.BadChecksum, "bad checksums at clients")
	add(r.ServerSum.BadChecksum, "bad checksums at servers")
	add(r.Clients.Malformed, "malformed frames at clients")
	add(r.ServerSum.Malformed, "malformed frames at servers")
	add(r.Clients.Unexpected, "unexpected frames at clients")
	add(r.ServerSum.Unexpected, "unexpected frames at servers")
	add(uint64(r.Switches), "answers from a switched server")
	add(uint64(r.AddrMismatch), "connections where the server saw another client address")
	add(uint64(r.ServerSawNonClient), "server log entries that are not client addresses")
	add(r.Wire.UnknownMAC, "frames to unknown MACs")
	add(r.Wire.TooLarge, "frames too large or malformed on the wire")
	for _, d := range r.Directors {
		add(d.Counters.BadTx, "bad Tx frames from "+d.Name)
	}
	return p
}

// String formats the report as a few lines of text.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtual time %v, %d events\n", r.Elapsed.Round(time.Millisecond), r.Events)
	fmt.Fprintf(&b, "sessions: %d started, %d completed, %d failed, %d running\n",
		r.Sessions, r.SessionsCompleted, r.SessionsFailed, r.Sessions-r.SessionsDone)
	for _, k := range r.ByKind {
		fmt.Fprintf(&b, "  %-7s %6d started %6d completed %6d failed\n", k.Kind, k.Sessions, k.Completed, k.Failed)
	}
	fmt.Fprintf(&b, "connections: %d opened, %d completed, %d failed, %d active\n", r.Connections, r.Completed, r.Failed, r.Active)
	if len(r.FailReasons) > 0 {
		reasons := make([]FailReason, 0, len(r.FailReasons))
		for k := range r.FailReasons {
			reasons = append(reasons, k)
		}
		slices.Sort(reasons)
		b.WriteString("  failures:")
		for _, k := range reasons {
			fmt.Fprintf(&b, " %s=%d", k, r.FailReasons[k])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "switches %d, address mismatches %d, persistence breaks %d\n", r.Switches, r.AddrMismatch, r.PersistenceBreaks)
	for _, s := range r.Servers {
		fmt.Fprintf(&b, "  server %-12s %-3s %7d conns %5.1f%%  accepted %d  time_wait %d  rst %d\n",
			s.Name, s.Mode, s.Connections, 100*s.Share, s.Stats.Accepted, s.States["TIME_WAIT"], s.Counters.ResetsSent)
	}
	for _, d := range r.Directors {
		c := d.Counters
		fmt.Fprintf(&b, "  director %s: %d frames in %d batches (max %d): tx %d pass %d drop %d\n",
			d.Name, c.Frames, c.Batches, c.MaxBatch, c.Tx, c.Pass, c.Drop)
	}
	fmt.Fprintf(&b, "wire: %d frames, %d buffers\n", r.Wire.Frames, r.FrameBuffers)
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintf(&b, "PROBLEMS: %s\n", strings.Join(p, "; "))
	}
	return b.String()
}
