package director

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/defense"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// ExplainQuery describes a client packet to explain: which real server it
// would go to now, and why.
type ExplainQuery struct {
	Proto   packet.Proto   // ProtoTCP, ProtoUDP or ProtoSCTP
	Client  netip.AddrPort // the packet's source
	Virtual netip.AddrPort // its destination (the VIP and port)
	// FwMark, if not 0, is the firewall mark to look the service up with;
	// 0 means the mark the engine's own mark rules give the packet.
	FwMark uint32
	// TCPFlags of a TCP packet; 0 means a SYN. SCTP packets are explained
	// as an INIT chunk, UDP needs nothing.
	TCPFlags packet.TCPFlags
	Now      clock.Time // the engine's clock (entries expire against it)
}

// Check reports what is wrong with q, naming the field, or nil.
func (q *ExplainQuery) Check() error {
	switch q.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
	default:
		return fmt.Errorf("explain: protocol %s: want tcp, udp or sctp", q.Proto)
	}
	if !q.Client.Addr().IsValid() {
		return errors.New("explain: client: no address")
	}
	if !q.Virtual.Addr().IsValid() {
		return errors.New("explain: virtual: no address")
	}
	if q.Client.Addr().Unmap().Is4() != q.Virtual.Addr().Unmap().Is4() {
		return fmt.Errorf("explain: client %s and virtual %s are of different address families", q.Client.Addr(), q.Virtual.Addr())
	}
	if q.Client.Port() == 0 {
		return errors.New("explain: client: port 0")
	}
	return nil
}

// ExplainKind is what decides a packet's way.
type ExplainKind uint8

// Decision kinds, in the order the packet path tries them.
const (
	// ExplainConnection: an entry of the connection table (state,
	// remaining time, real server and method in Explanation).
	ExplainConnection ExplainKind = iota
	// ExplainTemplate: a persistence template sends the client to its
	// real server; a new connection is made for it.
	ExplainTemplate
	// ExplainScheduler: a new connection, to the server the scheduler
	// picks now.
	ExplainScheduler
	// ExplainNoService: not for a virtual service: the host's own stack
	// gets it.
	ExplainNoService
	// ExplainNoDestination: a service, but no real server to take it:
	// answered with ICMP port unreachable (or dropped).
	ExplainNoDestination
	// ExplainNotCreated: for a service, but the packet may not open a
	// connection (a TCP segment without SYN, FTP data from port 20, ...);
	// the host's stack gets it.
	ExplainNotCreated
	// ExplainRefused: a limit or defense drops it (the connection's
	// server was removed, the table is full).
	ExplainRefused
	// ExplainInvalid: the query itself is bad (ExplainQuery.Check).
	ExplainInvalid
)

var explainKindNames = [...]string{
	ExplainConnection: "connection", ExplainTemplate: "template", ExplainScheduler: "scheduler",
	ExplainNoService: "no-service", ExplainNoDestination: "no-destination", ExplainNotCreated: "not-created",
	ExplainRefused: "refused", ExplainInvalid: "invalid",
}

func (k ExplainKind) String() string {
	if int(k) < len(explainKindNames) {
		return explainKindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ExplainAction is what happens to the packet.
type ExplainAction uint8

// Actions.
const (
	ActionForward     ExplainAction = iota // to Explanation.Dest
	ActionHost                             // passed to the host's own stack
	ActionUnreachable                      // answered with ICMP port unreachable
	ActionDrop                             // dropped
)

var explainActionNames = [...]string{ActionForward: "forward", ActionHost: "host", ActionUnreachable: "icmp-unreachable", ActionDrop: "drop"}

func (a ExplainAction) String() string {
	if int(a) < len(explainActionNames) {
		return explainActionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// Explanation is Explain's answer.
type Explanation struct {
	Kind   ExplainKind
	Action ExplainAction
	// Service is the virtual service that handles the packet (nil for
	// ExplainNoService and a connection whose service is gone).
	Service *service.Service
	// Dest, Method, DPort: the real server, its forwarding method and
	// the port on it (when Action is ActionForward; Dest is also set for
	// a connection refused because its server was removed).
	Dest   *service.Dest
	Method service.Method
	DPort  uint16
	// State and Remaining of the connection (ExplainConnection) or of
	// the template (ExplainTemplate): protocol state name ("ESTABLISHED",
	// "ASSURED") and time until the entry expires if no packet comes.
	State     string
	Remaining time.Duration
	// Why is one sentence saying why.
	Why string
	// Notes are caveats: limits that may still drop the packet, what a
	// new connection will leave behind, an entry that would be replaced.
	Notes []string
}

// Explain says which real server the packet q describes would go to now,
// and why, following the packet path's rules (the connection table, then
// the service, persistence template and scheduler). It changes nothing:
// no entry is created, refreshed or expired (it uses the table's
// read-only lookups), no counter moves, and the scheduler is asked with
// Peek, which leaves its cursor and cache as they are. The bucket locks
// are held only for the lookups, never while the scheduler is asked.
//
// The answer is for this moment: another packet may change it (a round
// robin moves on after every new connection). Per-worker limits
// (source_rate) and the drop_packet defense's random drops cannot be
// foreseen; they are listed in Notes when they apply.
func (e *Engine) Explain(q ExplainQuery) Explanation {
	if err := q.Check(); err != nil {
		return Explanation{Kind: ExplainInvalid, Action: ActionDrop, Why: err.Error()}
	}
	x := explainer{e: e, q: q, snap: e.snap.Load(), tun: e.tun.Load(), def: e.def.Load()}
	x.p = packet.Parsed{V6: q.Client.Addr().Is6() && !q.Client.Addr().Is4In6(), Proto: q.Proto,
		Src: q.Client.Addr().As16(), Dst: q.Virtual.Addr().As16(), SrcPort: q.Client.Port(), DstPort: q.Virtual.Port(),
		Flags: packet.FlagL4}
	switch q.Proto {
	case packet.ProtoTCP:
		x.p.TCPFlags = q.TCPFlags
		if x.p.TCPFlags == 0 {
			x.p.TCPFlags = packet.TCPSyn
		}
	case packet.ProtoSCTP:
		x.p.SCTPChunk = packet.SCTPInit
	}
	return x.run()
}

// explainer holds one Explain call's inputs, as a batch holds a Process
// call's.
type explainer struct {
	e     *Engine
	q     ExplainQuery
	p     packet.Parsed
	snap  *service.Snapshot
	tun   *Tunables
	def   *defense.State
	notes []string
}

func (x *explainer) note(format string, a ...any) {
	x.notes = append(x.notes, fmt.Sprintf(format, a...))
}

func (x *explainer) done(ex Explanation) Explanation {
	ex.Notes = x.notes
	return ex
}

func (x *explainer) run() Explanation {
	t := x.e.table
	p := &x.p
	now := x.q.Now
	k := conntrack.Key{V6: p.V6, Proto: p.Proto, Caddr: p.Src, Vaddr: p.Dst, Cport: p.SrcPort, Vport: p.DstPort}
	h := t.Hash(p.V6, p.Proto, &p.Src, p.SrcPort)
	t.Lock(h)
	idx := t.FindInLocked(h, &k, now)
	var c conntrack.Conn
	if idx != 0 {
		c = t.ConnLocked(idx, now)
	}
	t.Unlock(h)
	if idx != 0 {
		if ex, ok := x.connection(&c); ok {
			return x.done(ex)
		}
	}
	mark := x.q.FwMark
	if mark == 0 && x.snap.HasMarks() {
		mark = x.snap.Mark(p.V6, p.Proto, &p.Dst, p.DstPort)
	}
	svc := x.snap.Lookup(p.V6, p.Proto, &p.Dst, p.DstPort, mark)
	if svc == nil {
		why := fmt.Sprintf("no virtual service matches %s %s", p.Proto, x.q.Virtual)
		if mark != 0 {
			why += fmt.Sprintf(" (firewall mark %d)", mark)
		}
		return x.done(Explanation{Kind: ExplainNoService, Action: ActionHost, Why: why + ": the packet goes to the host's own stack"})
	}
	return x.done(x.newConn(svc))
}

// connection explains a packet of an existing entry (Worker.inboundLocked).
// ok=false: the entry would be expired and the packet scheduled anew.
func (x *explainer) connection(c *conntrack.Conn) (Explanation, bool) {
	p := &x.p
	d := x.e.snap.Load().Dest(service.DestID(c.Dest))
	st := state.StateName(c.Proto, c.State, false)
	left := c.Expires.Sub(x.q.Now)
	if d == nil {
		return Explanation{Kind: ExplainRefused, Action: ActionDrop, State: st, Remaining: left,
			Why: fmt.Sprintf("an existing connection (%s) refers to a real server the director no longer knows: dropped", st)}, true
	}
	ex := Explanation{Kind: ExplainConnection, Action: ActionForward, Service: x.snap.Find(d.Svc), Dest: d,
		Method: service.Method(c.Flags & conntrack.FwdMask), DPort: c.Dport, State: st, Remaining: left}
	if state.NewConnPacket(p.Proto, p.TCPFlags, p.SCTPChunk) && x.tun.ConnReuseMode != 0 {
		switch {
		case x.tun.ExpireNodestConn && d.Weight() == 0:
			x.note("the existing connection to %s is replaced: its server is quiesced (weight 0) and expire_nodest_conn is set", destText(d, c.Dport))
			return ex, false
		case c.Control == 0 && state.ExpectsNewConn(p.Proto, c.State, c.Flags&conntrack.FlagNoOutput != 0, x.tun.ConnReuseMode):
			x.note("the existing connection to %s (%s) is finished; this new-connection packet replaces it (conn_reuse_mode)", destText(d, c.Dport), st)
			return ex, false
		}
	}
	if !d.Available() {
		if x.tun.ExpireNodestConn {
			x.note("the existing connection to %s is replaced: its server was removed and expire_nodest_conn is set", destText(d, c.Dport))
			return ex, false
		}
		ex.Kind, ex.Action = ExplainRefused, ActionDrop
		ex.Why = fmt.Sprintf("an existing connection (%s, expires in %s) belongs to %s, which was removed: its packets are dropped until it expires (expire_nodest_conn is off)",
			st, roundDur(left), destText(d, c.Dport))
		return ex, true
	}
	if r := d.SvcLimits.SourceRate.Load(); r != 0 {
		x.note("the service's source_rate allows %d packets/s per client; packets beyond it are dropped", r)
	}
	via := ""
	if c.Control != 0 {
		via = ", under a persistence template"
	}
	ex.Why = fmt.Sprintf("an existing connection (%s %s, expires in %s%s) goes to %s by %s",
		c.Proto, st, roundDur(left), via, destText(d, c.Dport), ex.Method)
	return ex, true
}

// newConn explains a packet that matched no connection but is for svc
// (Worker.newConnLocked and persist).
func (x *explainer) newConn(svc *service.Service) Explanation {
	p := &x.p
	t := x.e.table
	now := x.q.Now
	synStateless := svc.Flags&service.FlagSynStateless != 0 && p.Proto == packet.ProtoTCP
	ex := Explanation{Service: svc}
	if !mayCreate(p, x.tun) && !(synStateless && p.TCPFlags&(packet.TCPAck|packet.TCPRst|packet.TCPSyn) == packet.TCPAck) {
		ex.Kind, ex.Action = ExplainNotCreated, ActionHost
		ex.Why = fmt.Sprintf("no connection exists, and a %s packet with flags %s does not open one: it goes to the host's own stack", p.Proto, p.TCPFlags)
		if p.Proto == packet.ProtoTCP && !x.tun.SloppyTCP {
			ex.Why += " (sloppy_tcp is off)"
		}
		return ex
	}
	if r := svc.Limits.SourceRate.Load(); r != 0 {
		x.note("the service's source_rate allows %d packets/s per client; packets beyond it are dropped", r)
	}
	if r := svc.Limits.ConnRate.Load(); r != 0 {
		x.note("the service's conn_rate allows %d packets/s per connection; packets beyond it are dropped", r)
	}
	if n := x.def.DropRate; n != 0 {
		x.note("the drop_packet defense is active: about 1 in %d new-connection packets is dropped", n)
	}
	if p.SrcPort == 20 && p.Proto == packet.ProtoTCP {
		ex.Kind, ex.Action = ExplainNotCreated, ActionHost
		ex.Why = "FTP active data from the client side (source port 20) is never scheduled: it goes to the host's own stack"
		return ex
	}
	if _, ok := svc.Sched.(peeker); !ok {
		ex.Kind, ex.Action = ExplainScheduler, ActionForward
		ex.Why = fmt.Sprintf("a new connection; the %s scheduler cannot be asked without changing its state, so its choice is not known", svc.SchedName)
		return ex
	}
	r := service.Request{V6: p.V6, Proto: p.Proto, Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Now: now}
	slots := int64(1)
	if p.V6 {
		slots = 2
	}
	var d *service.Dest
	var dport uint16
	if svc.Persistent() {
		tk, tdport := x.templateKey(svc)
		h := t.Hash(tk.V6, tk.Proto, &tk.Caddr, 0)
		t.Lock(h)
		var tc conntrack.Conn
		tidx := t.FindTemplateLocked(h, &tk, now)
		if tidx != 0 {
			tc = t.ConnLocked(tidx, now)
		}
		t.Unlock(h)
		if tidx != 0 {
			td := x.snap.Dest(service.DestID(tc.Dest))
			switch {
			case td == nil || !td.Available():
				x.note("the persistence template for this client pointed at a removed server; the scheduler picks anew")
			case x.tun.ExpireQuiescentTemplate && td.Weight() == 0:
				x.note("the persistence template for this client points at %s, quiesced (weight 0) with expire_quiescent_template set; the scheduler picks anew", td.Addr)
			default:
				ex.Kind, ex.Action, ex.Dest, ex.Method = ExplainTemplate, ActionForward, td, td.Config().Method
				ex.DPort = p.DstPort
				if tdport && td.Port != 0 {
					ex.DPort = td.Port
				}
				ex.State = state.StateName(tc.Proto, tc.State, true)
				ex.Remaining = tc.Expires.Sub(now)
				if ex.Remaining <= 0 {
					// Kept past its time because it controls connections
					// (the lookup postpones it).
					ex.Remaining = 0
				}
				ex.Why = fmt.Sprintf("the persistence template for client %s (expires in %s, renewed to %ds by this packet) sends it to %s by %s",
					maskText(svc, p), roundDur(ex.Remaining), svc.Timeout, destText(td, ex.DPort), ex.Method)
				x.tableRoom(&ex, svc, slots)
				return ex
			}
		}
		d = x.peek(svc, &r)
		if d == nil {
			return x.noDest(svc, "the scheduler finds no real server available")
		}
		x.note("a persistence template for client %s (%ds) will keep it on this server", maskText(svc, p), svc.Timeout)
		slots *= 2 // a template and a connection
		dport = p.DstPort
		if tdport && d.Port != 0 {
			dport = d.Port
		}
	} else {
		if !svc.Key.IsFwMark() && p.DstPort != svc.Key.Port {
			return x.noDest(svc, "a port-0 service without persistence schedules nothing")
		}
		d = x.peek(svc, &r)
		if d == nil {
			return x.noDest(svc, "the scheduler finds no real server available")
		}
		dport = d.Port
		if dport == 0 {
			dport = p.DstPort
		}
		if synStateless && p.TCPFlags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn && d.Config().Method != service.Masq {
			x.note("syn_stateless: the SYN is forwarded without an entry; the client's ACK makes it")
			slots = 0
		}
		if synStateless && d.Config().Method == service.Masq {
			switch p.TCPFlags & (packet.TCPSyn | packet.TCPAck | packet.TCPRst | packet.TCPFin) {
			case packet.TCPSyn:
				x.note("syn_proxy: the director answers this SYN itself with a SYN cookie and keeps nothing; the client's ACK makes the entry and the SYN to this server")
				slots = 0
			case packet.TCPAck:
				x.note("syn_proxy: this ACK makes the entry only if it acknowledges a SYN cookie of the director's (else it is dropped as bad_cookie)")
			}
		}
	}
	if svc.Flags&service.FlagOnePacket != 0 && p.Proto == packet.ProtoUDP {
		x.note("one-packet scheduling: forwarded without an entry; the next datagram is scheduled anew")
		slots = 0
	}
	switch svc.SchedName {
	case "twos":
		x.note("twos picks at random: this is one draw, the packet gets its own")
	case "rr", "wrr":
		x.note("%s moves on with every new connection: this is the pick for the next one", svc.SchedName)
	}
	ex.Kind, ex.Action, ex.Dest, ex.Method, ex.DPort = ExplainScheduler, ActionForward, d, d.Config().Method, dport
	ex.Why = fmt.Sprintf("no connection or persistence template exists: the %s scheduler picks %s (%s) for a new connection",
		svc.SchedName, destText(d, dport), ex.Method)
	x.tableRoom(&ex, svc, slots)
	return ex
}

// tableRoom turns ex into a refusal when the connection table has no room
// for the entries the packet would make (a cheap check of the budget; an
// insert can still fail when the free slots sit in other lock stripes).
func (x *explainer) tableRoom(ex *Explanation, svc *service.Service, slots int64) {
	const slotSize = 32
	if slots == 0 || x.e.table.HeadroomBytes() >= slots*slotSize {
		return
	}
	if x.tun.OverloadForward && ex.Method != service.Masq {
		switch svc.SchedName {
		case "sh", "dh", "mh":
			x.note("the connection table is full: overload_forward sends it by the hash without an entry")
			return
		}
	}
	ex.Kind, ex.Action = ExplainRefused, ActionDrop
	ex.Why = fmt.Sprintf("the connection table is full: the new connection to %s would be dropped (%s)", destText(ex.Dest, ex.DPort), ReasonTableFull)
}

// noDest explains a service without a real server for the packet
// (Worker.noDest).
func (x *explainer) noDest(svc *service.Service, why string) Explanation {
	ex := Explanation{Kind: ExplainNoDestination, Service: svc}
	switch {
	case svc.Key.Port == 21 && x.p.DstPort != 21:
		ex.Kind, ex.Action = ExplainNotCreated, ActionHost
		ex.Why = why + "; other traffic to an FTP service's address is not ours: it goes to the host's own stack"
	case x.tun.NoICMPUnreachable:
		ex.Action = ActionDrop
		ex.Why = why + ": the packet is dropped (no_icmp_unreachable is set)"
	default:
		ex.Action = ActionUnreachable
		ex.Why = why + ": the client gets ICMP port unreachable"
	}
	return ex
}

// peeker is sched.Peeker (the director does not depend on which package
// implements its schedulers).
type peeker interface {
	Peek(r *service.Request) *service.Dest
}

// peek asks the scheduler without changing it (newConn checked that it
// can be asked so).
func (x *explainer) peek(svc *service.Service, r *service.Request) *service.Dest {
	return svc.Sched.(peeker).Peek(r)
}

// templateKey is the template key persist would look up, and whether the
// connection takes the real server's port (persist's rule).
func (x *explainer) templateKey(svc *service.Service) (conntrack.Key, bool) {
	p := &x.p
	tk := conntrack.Key{V6: p.V6, Proto: p.Proto, Vaddr: p.Dst}
	maskAddr(&tk.Caddr, &p.Src, p.V6, svc.Netmask)
	svcPort := svc.Key.Port
	switch {
	case svc.Key.IsFwMark():
		tk.Proto = 0
		tk.Vaddr = conntrack.FwmarkAddr(p.V6, svc.Key.FwMark)
	case p.DstPort == svcPort && svcPort != 21:
		tk.Vport = svcPort
	}
	return tk, p.DstPort == svcPort
}

// destText is "10.1.1.1:80" / "[2001:db8::1]:80".
func destText(d *service.Dest, port uint16) string {
	if d == nil {
		return "no server"
	}
	return netip.AddrPortFrom(d.Addr, port).String()
}

// maskText is the client network a template covers: "192.0.2.7" or
// "192.0.2.0/24".
func maskText(svc *service.Service, p *packet.Parsed) string {
	var a [16]byte
	maskAddr(&a, &p.Src, p.V6, svc.Netmask)
	addr := netip.AddrFrom16(a)
	full := 128
	if !p.V6 {
		addr, full = addr.Unmap(), 32
	}
	if svc.Netmask >= full {
		return addr.String()
	}
	return fmt.Sprintf("%s/%d", addr, svc.Netmask)
}

// roundDur prints a duration to the second ("14m59s"), "0s" when past.
func roundDur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}
