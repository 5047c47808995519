package sim

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// ClientConfig describes a client host.
type ClientConfig struct {
	Name  string
	MAC   [6]byte      // zero: a generated locally administered address
	Addrs []netip.Addr // at most one IPv4 and one IPv6 address
}

// Client is a client host: it runs sessions (see Kind) against services,
// each over one or two connections, and checks every frame it receives.
type Client struct {
	host
	addr4, addr6 netip.Addr
	conns        map[connKey]*clientConn
	scratch      []byte
	cliBuf       []byte
}

// awaitKind is what a connection waits for.
type awaitKind uint8

const (
	awaitNone awaitKind = iota
	awaitLine           // a line-based answer (ends with "\n")
	awaitHTTP           // an HTTP response with Content-Length
)

// clientConn is one client connection and its result.
type clientConn struct {
	tcb
	id    int32
	proto packet.Proto
	sess  *session
	role  ConnRole
	key   connKey
	inMap bool
	ended bool
	res   ConnResult

	server        int // index of the first server that answered, -1 before
	await         awaitKind
	respStarted   bool
	respRemaining int
	appAct        appAction
	short         bool // the server closed before answering everything
	udpMsg        []byte
	udpTries      int
}

// ConnResult is the outcome of one client connection.
type ConnResult struct {
	ID      int
	Session int
	Kind    Kind
	Role    ConnRole
	Proto   packet.Proto
	Client  netip.AddrPort // the client's address and port
	Service netip.AddrPort // the address and port it connected to (VIP:port)
	Server  string         // the real server that answered first ("" if none)

	Completed bool
	Failed    bool
	Reason    FailReason
	// Switches counts answers (or RSTs naming a server) that came from a
	// different real server than the first answer of the connection. It
	// must be 0 with a working director.
	Switches int
	// AddrMismatch is set when a server reported a client address other
	// than the client's own (a proxy or SNAT in the path).
	AddrMismatch bool
	Responses    int
	BytesSent    int
	BytesRecv    int

	Start, Established, End clock.Time
}

// AddClient attaches a client host.
func (n *Network) AddClient(cfg ClientConfig) (*Client, error) {
	c := &Client{conns: make(map[connKey]*clientConn)}
	c.client = c
	c.name = cfg.Name
	if c.name == "" {
		c.name = "client" + strconv.Itoa(len(n.clients)+1)
	}
	for _, a := range cfg.Addrs {
		a = a.Unmap()
		switch {
		case a.Is4() && !c.addr4.IsValid():
			c.addr4 = a
		case a.Is6() && !c.addr6.IsValid():
			c.addr6 = a
		default:
			return nil, fmt.Errorf("sim: client %s: want at most one IPv4 and one IPv6 address, got %v", c.name, cfg.Addrs)
		}
	}
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("sim: client %s: no address", c.name)
	}
	c.mac = cfg.MAC
	if c.mac == ([6]byte{}) {
		c.mac = n.nextMAC(0xc1)
	}
	if err := n.addHost(&c.host, [][6]byte{c.mac}, cfg.Addrs); err != nil {
		return nil, err
	}
	n.clients = append(n.clients, c)
	return c, nil
}

// addHost attaches h under macs and claims addrs for macs[0].
func (n *Network) addHost(h *host, macs [][6]byte, addrs []netip.Addr) error {
	if err := n.claim(h.name, macs[0], addrs...); err != nil {
		return err
	}
	if err := n.attach(h, macs); err != nil {
		for _, a := range addrs {
			n.RemoveNeighbor(a)
		}
		return err
	}
	return nil
}

// Name returns the client's name.
func (c *Client) Name() string { return c.name }

// MAC returns the client's MAC address.
func (c *Client) MAC() [6]byte { return c.mac }

// Addr4 returns the client's IPv4 address (invalid if it has none).
func (c *Client) Addr4() netip.Addr { return c.addr4 }

// Addr6 returns the client's IPv6 address (invalid if it has none).
func (c *Client) Addr6() netip.Addr { return c.addr6 }

// Counters returns the client's counters.
func (c *Client) Counters() HostCounters { return c.cnt }

// StartSession starts a session of kind k to service now and returns its
// id (see Network.Session). p nil means default parameters.
func (c *Client) StartSession(k Kind, service netip.AddrPort, p *SessionParams) (int, error) {
	if k < HTTP10 || k > UDP {
		return -1, fmt.Errorf("sim: unknown session kind %d", k)
	}
	if !service.IsValid() || service.Port() == 0 {
		return -1, fmt.Errorf("sim: invalid service %v", service)
	}
	if p == nil {
		p = &SessionParams{}
	}
	q := *p
	q.setDefaults()
	return c.net.startSession(c, k, service, &q, false), nil
}

// Netstat lists the client's open sockets (TCP in any state but CLOSED,
// UDP while a session uses them), like "netstat -an".
func (c *Client) Netstat() []Socket {
	var out []Socket
	for _, cc := range c.conns {
		out = append(out, cc.socket())
	}
	sortSockets(out)
	return out
}

func (cc *clientConn) socket() Socket {
	s := Socket{Proto: cc.proto, Local: cc.local, Remote: cc.remote}
	if cc.proto == packet.ProtoTCP {
		s.State = cc.state.String()
	}
	return s
}

// msg builds prefix+n+suffix in the client's scratch buffer.
func (c *Client) msg(prefix string, n int, suffix string) []byte {
	c.scratch = appendMsg(c.scratch[:0], prefix, n, suffix)
	return c.scratch
}

func appendMsg(dst []byte, prefix string, n int, suffix string) []byte {
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, suffix...)
}

// open opens a connection of session s to svc. It never returns nil: on
// failure the connection has already ended (Failed, NoRoute).
func (c *Client) open(s *session, role ConnRole, svc netip.AddrPort) *clientConn {
	n := c.net
	svc = netip.AddrPortFrom(svc.Addr().Unmap(), svc.Port())
	cc := &clientConn{id: int32(len(n.conns)), sess: s, role: role, server: -1, proto: packet.ProtoTCP}
	if s.kind.IsUDP() {
		cc.proto = packet.ProtoUDP
	}
	n.conns = append(n.conns, cc)
	cc.res = ConnResult{ID: int(cc.id), Session: int(s.id), Kind: s.kind, Role: role, Proto: cc.proto, Service: svc, Start: n.now}
	local := c.addr4
	if svc.Addr().Is6() {
		local = c.addr6
	}
	cc.tcb.reset(&c.host, cc.id, netip.AddrPortFrom(local, 0), svc)
	if _, ok := n.Resolve(svc.Addr()); !local.IsValid() || !ok {
		c.finish(cc, NoRoute)
		return cc
	}
	port := c.pickPort(cc.proto, local, svc)
	if port == 0 {
		c.finish(cc, NoRoute)
		return cc
	}
	cc.local = netip.AddrPortFrom(local, port)
	cc.res.Client = cc.local
	cc.key = keyFor(cc.proto, cc.local, svc)
	c.conns[cc.key] = cc
	cc.inMap = true
	if cc.proto == packet.ProtoTCP {
		cc.connect()
	}
	return cc
}

// Ephemeral ports: Linux's default ip_local_port_range.
const (
	ephemeralLow   = 32768
	ephemeralCount = 60999 - ephemeralLow + 1
)

// pickPort returns a free ephemeral port towards svc (0 if none).
func (c *Client) pickPort(proto packet.Proto, local netip.Addr, svc netip.AddrPort) uint16 {
	start := c.net.rng.IntN(ephemeralCount)
	for i := range ephemeralCount {
		p := uint16(ephemeralLow + (start+i)%ephemeralCount)
		if _, used := c.conns[keyFor(proto, netip.AddrPortFrom(local, p), svc)]; !used {
			return p
		}
	}
	return 0
}

// unmap forgets cc's socket (its result stays) and frees its buffers.
func (c *Client) unmap(cc *clientConn) {
	if cc.inMap {
		delete(c.conns, cc.key)
		cc.inMap = false
	}
	cc.snd, cc.udpMsg = nil, nil
}

// finish ends cc: completed (NoFailure) or failed.
func (c *Client) finish(cc *clientConn, reason FailReason) {
	if cc.ended {
		return
	}
	cc.ended = true
	cc.stopApp()
	cc.appAct = actNone
	cc.res.End = c.net.now
	if reason == NoFailure {
		cc.res.Completed = true
	} else {
		cc.res.Failed = true
		cc.res.Reason = reason
	}
	if cc.proto == packet.ProtoUDP || cc.state == stClosed {
		c.unmap(cc)
	}
	cc.sess.onConnDone(cc)
}

// abort fails cc, resetting an open TCP connection.
func (c *Client) abort(cc *clientConn, reason FailReason) {
	if cc.ended {
		return
	}
	if cc.proto == packet.ProtoTCP {
		cc.tcb.abort()
	}
	c.finish(cc, reason)
	c.unmap(cc)
}

// timer runs a connection timer.
func (c *Client) timer(idx int32, slot uint8, gen uint32) {
	cc := c.net.conns[idx]
	if cc.gen[slot] != gen {
		return
	}
	if slot == slotTCP {
		st := cc.state
		over, giveUp := cc.onTCPTimer()
		if over {
			if giveUp {
				reason := Timeout
				if st == stSynSent {
					reason = SYNTimeout
				}
				c.finish(cc, reason)
			}
			c.unmap(cc)
		}
		return
	}
	if !cc.ended {
		cc.sess.onAppTimer(cc)
	}
}

// receive handles one frame addressed to the client.
func (c *Client) receive(b []byte) {
	if !c.decode(b, 0) {
		return
	}
	p := &c.p
	switch p.Proto {
	case packet.ProtoTCP:
		cc := c.conns[keyOf(p)]
		if cc == nil {
			c.cnt.Unexpected++
			return
		}
		seq, ack := tcpHeader(b, p)
		if id := serverID(b, p); id >= 0 {
			c.noteServer(cc, id)
		}
		c.tcpInput(cc, seq, ack, p.TCPFlags, b[p.PayOff:p.Len])
	case packet.ProtoUDP:
		cc := c.conns[keyOf(p)]
		if cc == nil {
			c.cnt.Unexpected++
			return
		}
		c.udpInput(cc, b[p.PayOff:p.Len])
	case packet.ProtoICMP, packet.ProtoICMPv6:
		c.cnt.ICMP++
		c.icmpInput(b, p)
	default:
		c.cnt.Unexpected++
	}
}

func (c *Client) tcpInput(cc *clientConn, seq, ack uint32, flags packet.TCPFlags, payload []byte) {
	ev := cc.input(seq, ack, flags, payload)
	if ev.bad {
		c.cnt.Unexpected++
	}
	if ev.dup {
		c.cnt.Duplicates++
	}
	if ev.reset {
		c.finish(cc, Reset)
		c.unmap(cc)
		return
	}
	s := cc.sess
	if !cc.ended {
		if ev.established {
			cc.res.Established = c.net.now
			s.onEstablished(cc)
		}
		if len(ev.data) > 0 {
			cc.res.BytesRecv += len(ev.data)
			c.onData(cc, ev.data)
		}
		if ev.fin && !cc.ended {
			s.onPeerFIN(cc)
		}
		if (ev.timeWait || ev.closed) && !cc.ended {
			reason := NoFailure
			if cc.short {
				reason = ShortResponse
			}
			c.finish(cc, reason)
		}
	}
	if cc.state == stClosed {
		c.unmap(cc)
		return
	}
	cc.flush(ev.needAck)
}

// onData handles in-order payload.
func (c *Client) onData(cc *clientConn, data []byte) {
	switch cc.await {
	case awaitNone:
		c.cnt.Unexpected++ // nothing was asked
		return
	case awaitLine:
		if !cc.respStarted {
			cc.respStarted = true
			c.identify(cc, data)
		}
		if data[len(data)-1] != '\n' {
			return
		}
	case awaitHTTP:
		if !cc.respStarted {
			cc.respStarted = true
			c.identify(cc, data)
			end := bytes.Index(data, []byte("\r\n\r\n"))
			var cl uint64
			ok := end >= 0
			if ok {
				cl, ok = tokenUint(data[:end], "Content-Length: ")
			}
			if !ok {
				c.cnt.Unexpected++
				cc.sess.fail(cc, ShortResponse)
				return
			}
			cc.respRemaining = int(cl) - (len(data) - end - 4)
		} else {
			cc.respRemaining -= len(data)
		}
		if cc.respRemaining > 0 {
			return
		}
	}
	cc.await = awaitNone
	cc.stopApp()
	cc.appAct = actNone
	cc.res.Responses++
	cc.sess.onResponse(cc, data)
}

// identify notes which server answered (the "srv=" token) and checks the
// client address the server saw (the "cli=" token).
func (c *Client) identify(cc *clientConn, data []byte) {
	name := token(data, "srv=")
	if name == nil {
		if len(data) > 0 {
			c.cnt.Unexpected++
		}
		return
	}
	idx, ok := c.net.serverIdx[string(name)]
	if !ok {
		c.cnt.Unexpected++
		return
	}
	if cc.proto == packet.ProtoUDP {
		c.noteServer(cc, idx) // TCP segments are identified by their option
	}
	if cli := token(data, "cli="); cli != nil {
		c.cliBuf = cc.local.AppendTo(c.cliBuf[:0])
		if !bytes.Equal(cli, c.cliBuf) {
			cc.res.AddrMismatch = true
		}
	}
}

// noteServer records that server idx sent a packet of cc: the first one
// names the connection's server, a different one later is a switch.
func (c *Client) noteServer(cc *clientConn, idx int) {
	switch {
	case idx >= len(c.net.servers):
		c.cnt.Unexpected++
	case cc.server < 0:
		cc.server = idx
		cc.res.Server = c.net.servers[idx].name
	case cc.server != idx:
		cc.res.Switches++
	}
}

func (c *Client) udpInput(cc *clientConn, payload []byte) {
	if cc.ended || cc.await == awaitNone || !bytes.HasSuffix(payload, cc.udpMsg) {
		c.cnt.Duplicates++ // a late answer to a resent request
		return
	}
	c.identify(cc, payload)
	cc.res.BytesRecv += len(payload)
	cc.res.Responses++
	cc.await = awaitNone
	cc.stopApp()
	cc.appAct = actNone
	cc.sess.onResponse(cc, payload)
}

// sendDatagram sends cc.udpMsg.
func (c *Client) sendDatagram(cc *clientConn) {
	mac, ok := c.net.Resolve(cc.remote.Addr())
	if !ok {
		c.cnt.NoRoute++
		return
	}
	cc.await = awaitLine
	cc.res.BytesSent += len(cc.udpMsg)
	c.sendUDP(mac, cc.local, cc.remote, cc.udpMsg)
}

// icmpInput fails the connection a destination-unreachable error is about
// (a TCP connection only while it is opening, as Linux does).
func (c *Client) icmpInput(b []byte, p *packet.Parsed) {
	unreach := (!p.V6 && p.ICMPType == packet.ICMPv4DestUnreach) || (p.V6 && p.ICMPType == packet.ICMPv6DestUnreach)
	if !unreach {
		return
	}
	in := &c.inner
	if packet.DecodeEmbedded(b, int(p.PayOff), in) != packet.OK || !in.Flags.Has(packet.FlagL4) {
		c.cnt.Malformed++
		return
	}
	key := connKey{local: in.Src, remote: in.Dst, lport: in.SrcPort, rport: in.DstPort, proto: in.Proto}
	cc := c.conns[key]
	if cc == nil {
		c.cnt.Unexpected++
		return
	}
	if cc.proto == packet.ProtoUDP || cc.state == stSynSent {
		c.abort(cc, Unreachable)
	}
}

// token returns the bytes after key up to the next space, CR, LF or
// comma (nil if key is absent).
func token(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	b = b[i+len(key):]
	end := 0
	for end < len(b) && b[end] != ' ' && b[end] != '\r' && b[end] != '\n' && b[end] != ',' {
		end++
	}
	return b[:end]
}

// tokenUint parses the decimal number after key.
func tokenUint(b []byte, key string) (uint64, bool) {
	t := token(b, key)
	if len(t) == 0 || len(t) > 18 {
		return 0, false
	}
	var v uint64
	for _, ch := range t {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + uint64(ch-'0')
	}
	return v, true
}
