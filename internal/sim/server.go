package sim

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vsd/vsd/internal/packet"
)

// Mode is how a real server is reached, matching the director's forwarding
// method for it.
type Mode uint8

const (
	// NAT: the server owns its RIP and is reached at it; it sends every
	// reply (source RIP) to its default gateway, the director, which
	// un-NATs it.
	NAT Mode = iota + 1
	// DR: the server holds the VIPs on a loopback (and does not answer for
	// them); it accepts frames sent to its MAC with IP destination VIP and
	// replies with source VIP straight to the client's MAC.
	DR
	// TUN: the server decapsulates IPIP (protocol 4 / 41) and GUE (UDP to
	// GUEPort, 4-byte GUE header, inner IPv4 or IPv6) packets addressed to
	// its RIP and handles the inner packet, addressed to a VIP it holds, as
	// DR does. Plain frames to a VIP are not accepted in this mode (counted
	// as unexpected), so a director that routes instead of tunnelling is
	// caught.
	TUN
)

var modeNames = [...]string{NAT: "nat", DR: "dr", TUN: "tun"}

func (m Mode) String() string {
	if int(m) < len(modeNames) && modeNames[m] != "" {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "nat", "dr" or "tun".
func ParseMode(s string) (Mode, error) {
	for m := NAT; m <= TUN; m++ {
		if modeNames[m] == strings.ToLower(s) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("sim: unknown server mode %q (want nat, dr or tun)", s)
}

// DefaultGUEPort is the GUE port of a TUN server when ServerConfig.GUEPort
// is zero.
const DefaultGUEPort = 6080

// ServerConfig describes a real server.
type ServerConfig struct {
	Name  string       // unique, no spaces: the server writes it in every answer
	MAC   [6]byte      // zero: generated
	Addrs []netip.Addr // its own addresses (RIPs), IPv4 and/or IPv6
	Mode  Mode
	VIPs  []netip.Addr // held on a loopback (DR, TUN); not allowed for NAT
	// Gateway is the NAT server's default gateway; zero means the port-0
	// MAC of the first director attached.
	Gateway [6]byte
	// GUEPort is the UDP port a TUN server decapsulates GUE on (default
	// DefaultGUEPort).
	GUEPort uint16
	// BannerPorts are the ports on which the server speaks first (an FTP
	// "220" banner); nil means {21}.
	BannerPorts []uint16
}

// Server is a real server: a minimal TCP server (any port) answering
// HTTP, telnet-like and FTP-like requests, and a UDP echo, each answer
// carrying its name and the client address and port it saw.
type Server struct {
	host
	mode    Mode
	rips    []netip.Addr
	vips    []netip.Addr
	gateway [6]byte
	guePort uint16
	banner  []uint16

	conns     map[connKey]int32
	slots     []*serverConn
	freeSlots []int32
	stopped   bool
	seen      []netip.AddrPort
	stats     ServerStats
	resp      []byte
	pasv      uint16
}

type serverConn struct {
	tcb
	key  connKey
	live bool
}

// ServerStats count a server's application work.
type ServerStats struct {
	Accepted   uint64 // TCP connections accepted (SYN answered)
	Closed     uint64 // TCP connections closed cleanly (CLOSED or TIME_WAIT)
	Reset      uint64 // TCP connections ended by the peer's RST
	Aborted    uint64 // TCP connections given up after retransmissions
	Requests   uint64 // TCP requests answered
	Datagrams  uint64 // UDP datagrams answered
	TimeWaitGC uint64 // TIME_WAIT entries that expired
	Reused     uint64 // TIME_WAIT entries replaced by a new SYN of the same pair
}

// AddServer attaches a real server.
func (n *Network) AddServer(cfg ServerConfig) (*Server, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, " \t\r\n,") {
		return nil, fmt.Errorf("sim: server name %q: want a non-empty name without spaces or commas", cfg.Name)
	}
	if _, dup := n.serverIdx[cfg.Name]; dup {
		return nil, fmt.Errorf("sim: server %s added twice", cfg.Name)
	}
	switch cfg.Mode {
	case NAT:
		if len(cfg.VIPs) > 0 {
			return nil, fmt.Errorf("sim: server %s: a NAT server does not hold VIPs", cfg.Name)
		}
	case DR, TUN:
		if len(cfg.VIPs) == 0 {
			return nil, fmt.Errorf("sim: server %s: a %s server needs the VIPs on its loopback", cfg.Name, cfg.Mode)
		}
	default:
		return nil, fmt.Errorf("sim: server %s: unknown mode %d", cfg.Name, cfg.Mode)
	}
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("sim: server %s: no address", cfg.Name)
	}
	s := &Server{mode: cfg.Mode, gateway: cfg.Gateway, guePort: cfg.GUEPort, conns: make(map[connKey]int32)}
	s.server = s
	s.name = cfg.Name
	for _, a := range cfg.Addrs {
		s.rips = append(s.rips, a.Unmap())
	}
	for _, a := range cfg.VIPs {
		s.vips = append(s.vips, a.Unmap())
	}
	if s.mode == TUN && s.guePort == 0 {
		s.guePort = DefaultGUEPort
	}
	s.banner = cfg.BannerPorts
	if s.banner == nil {
		s.banner = []uint16{21}
	}
	s.mac = cfg.MAC
	if s.mac == ([6]byte{}) {
		s.mac = n.nextMAC(0x5e)
	}
	if err := n.addHost(&s.host, [][6]byte{s.mac}, s.rips); err != nil {
		return nil, err
	}
	s.tcpOpt = serverOption(len(n.servers))
	n.serverIdx[s.name] = len(n.servers)
	n.servers = append(n.servers, s)
	return s, nil
}

// Name returns the server's name.
func (s *Server) Name() string { return s.name }

// MAC returns the server's MAC address.
func (s *Server) MAC() [6]byte { return s.mac }

// Mode returns the server's mode.
func (s *Server) Mode() Mode { return s.mode }

// Addrs returns the server's own addresses (RIPs).
func (s *Server) Addrs() []netip.Addr { return slices.Clone(s.rips) }

// Counters returns the server's frame counters.
func (s *Server) Counters() HostCounters { return s.cnt }

// Stats returns the server's application counters.
func (s *Server) Stats() ServerStats { return s.stats }

// Seen returns the log of client addresses the server saw: the source of
// every TCP connection it accepted and of every UDP datagram it answered.
// With any forwarding method they must be the clients' own addresses.
func (s *Server) Seen() []netip.AddrPort { return slices.Clone(s.seen) }

// Stop makes the server stop answering: every frame is dropped (counted)
// and its connections stay as they are, as with a hung host or a pulled
// cable.
func (s *Server) Stop() { s.stopped = true }

// Resume makes a stopped server answer again with the state it had.
func (s *Server) Resume() { s.stopped = false }

// Restart forgets every connection (a reboot) and answers again:
// segments of old connections are answered with RST.
func (s *Server) Restart() {
	for _, sc := range s.slots {
		if sc.live {
			s.release(sc)
		}
	}
	s.stopped = false
}

// Stopped reports whether the server is stopped.
func (s *Server) Stopped() bool { return s.stopped }

// Netstat lists the server's TCP connections, like "netstat -an".
func (s *Server) Netstat() []Socket {
	var out []Socket
	for _, sc := range s.slots {
		if sc.live {
			out = append(out, Socket{Proto: packet.ProtoTCP, Local: sc.local, Remote: sc.remote, State: sc.state.String()})
		}
	}
	sortSockets(out)
	return out
}

// StateCounts returns how many TCP connections the server has per state
// name ("ESTABLISHED", "TIME_WAIT", ...).
func (s *Server) StateCounts() map[string]int {
	m := make(map[string]int)
	for _, sc := range s.slots {
		if sc.live {
			m[sc.state.String()]++
		}
	}
	return m
}

func (s *Server) ownsRIP(a [16]byte) bool {
	for _, r := range s.rips {
		if r.As16() == a {
			return true
		}
	}
	return false
}

func (s *Server) holdsVIP(a [16]byte) bool {
	for _, v := range s.vips {
		if v.As16() == a {
			return true
		}
	}
	return false
}

// nextHop is where the server sends a packet for addr: the gateway in NAT
// mode, the owner of addr otherwise.
func (s *Server) nextHop(addr netip.Addr) ([6]byte, bool) {
	if s.mode == NAT {
		gw := s.gateway
		if gw == ([6]byte{}) {
			gw = s.net.defaultGateway()
		}
		return gw, gw != [6]byte{}
	}
	return s.net.Resolve(addr)
}

// receive handles one frame addressed to the server's MAC.
func (s *Server) receive(b []byte) {
	if s.stopped {
		s.cnt.Dropped++
		return
	}
	if !s.decode(b, s.guePort) {
		return
	}
	p := &s.p
	switch {
	case s.ownsRIP(p.Dst):
		if s.mode == TUN {
			switch {
			case p.Proto == packet.ProtoIPIP || p.Proto == packet.ProtoIPv6:
				s.decapsulate(b, int(p.L4Off), int(p.Len), p.Proto)
				return
			case p.Proto == packet.ProtoUDP && p.DstPort == s.guePort:
				g := packet.GUE(b[p.PayOff:p.Len])
				if !g.IsValid() || g.Version() != 0 || g.Control() {
					s.cnt.Malformed++
					return
				}
				s.decapsulate(b, int(p.PayOff)+g.HeaderLen(), int(p.Len), packet.Proto(g.Proto()))
				return
			}
		}
		s.deliver(b, p)
	case s.mode == DR && s.holdsVIP(p.Dst):
		s.deliver(b, p)
	default:
		s.cnt.Unexpected++
	}
}

// decapsulate handles the inner packet b[off:end] of a tunnel whose outer
// header says it carries proto (4: IPv4, 41: IPv6).
func (s *Server) decapsulate(b []byte, off, end int, proto packet.Proto) {
	in := &s.inner
	if packet.DecodeIP(b[:end], off, in) != packet.OK {
		s.cnt.Malformed++
		return
	}
	if (proto == packet.ProtoIPIP) == in.V6 || (proto != packet.ProtoIPIP && proto != packet.ProtoIPv6) {
		s.cnt.Malformed++ // the outer header names the other family
		return
	}
	if !s.verify(b, in, 0) {
		return
	}
	s.cnt.Decapsulated++
	if !s.holdsVIP(in.Dst) {
		s.cnt.Unexpected++
		return
	}
	s.deliver(b, in)
}

// deliver hands a packet addressed to this host to TCP or UDP.
func (s *Server) deliver(b []byte, p *packet.Parsed) {
	switch p.Proto {
	case packet.ProtoTCP:
		s.tcpInput(b, p)
	case packet.ProtoUDP:
		s.udpInput(b, p)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		s.cnt.ICMP++
	default:
		s.cnt.Unexpected++
	}
}

func endpoints(p *packet.Parsed) (local, remote netip.AddrPort) {
	return netip.AddrPortFrom(addrOf(p.Dst, p.V6), p.DstPort), netip.AddrPortFrom(addrOf(p.Src, p.V6), p.SrcPort)
}

func (s *Server) tcpInput(b []byte, p *packet.Parsed) {
	const synOnly = packet.TCPSyn | packet.TCPAck | packet.TCPRst | packet.TCPFin
	key := keyOf(p)
	seq, ack := tcpHeader(b, p)
	flags := p.TCPFlags
	payload := b[p.PayOff:p.Len]
	slot, ok := s.conns[key]
	if ok {
		sc := s.slots[slot]
		if sc.state == stTimeWait && flags&synOnly == packet.TCPSyn && seqGT(seq, sc.rcvNxt) {
			// A new connection of the same pair: TIME_WAIT gives way
			// (RFC 1122 4.2.2.13, as Linux does).
			s.stats.Reused++
			s.release(sc)
			ok = false
		}
	}
	if !ok {
		if flags&synOnly == packet.TCPSyn {
			s.acceptConn(key, p, seq)
			return
		}
		s.cnt.Unexpected++
		if flags&packet.TCPRst == 0 {
			s.sendReset(p, seq, ack, flags, len(payload))
		}
		return
	}
	sc := s.slots[slot]
	ev := sc.input(seq, ack, flags, payload)
	if ev.bad {
		s.cnt.Unexpected++
	}
	if ev.dup {
		s.cnt.Duplicates++
	}
	if ev.reset {
		s.stats.Reset++
		s.release(sc)
		return
	}
	if ev.established && slices.Contains(s.banner, sc.local.Port()) {
		s.resp = append(s.appendID(append(s.resp[:0], "220 "...), sc.remote), " FTP server ready\r\n"...)
		sc.write(s.resp)
	}
	if len(ev.data) > 0 {
		s.respond(sc, ev.data)
	}
	if ev.fin {
		sc.close() // the client closed: close too (no-op if we already did)
	}
	if ev.closed {
		s.stats.Closed++
		s.release(sc)
		return
	}
	if ev.timeWait {
		s.stats.Closed++
	}
	sc.flush(ev.needAck)
}

// acceptConn answers a SYN with a new connection in SYN_RCVD.
func (s *Server) acceptConn(key connKey, p *packet.Parsed, seq uint32) {
	var sc *serverConn
	var slot int32
	if k := len(s.freeSlots); k > 0 {
		slot = s.freeSlots[k-1]
		s.freeSlots = s.freeSlots[:k-1]
		sc = s.slots[slot]
	} else {
		slot = int32(len(s.slots))
		sc = &serverConn{}
		s.slots = append(s.slots, sc)
	}
	local, remote := endpoints(p)
	sc.tcb.reset(&s.host, slot, local, remote)
	sc.key = key
	sc.live = true
	s.conns[key] = slot
	s.seen = append(s.seen, remote)
	s.stats.Accepted++
	sc.accept(seq)
}

// release forgets sc and invalidates its timers.
func (s *Server) release(sc *serverConn) {
	if !sc.live {
		return
	}
	delete(s.conns, sc.key)
	sc.live = false
	sc.state = stClosed
	sc.gen[slotTCP]++
	sc.gen[slotApp]++
	s.freeSlots = append(s.freeSlots, sc.idx)
}

// timer runs a connection timer.
func (s *Server) timer(idx int32, slot uint8, gen uint32) {
	sc := s.slots[idx]
	if !sc.live || sc.gen[slot] != gen || slot != slotTCP {
		return
	}
	wasTW := sc.state == stTimeWait
	over, giveUp := sc.onTCPTimer()
	if !over {
		return
	}
	switch {
	case giveUp:
		s.stats.Aborted++
	case wasTW:
		s.stats.TimeWaitGC++
	}
	s.release(sc)
}

// sendReset answers a segment that belongs to no connection (RFC 793).
// Like every segment of the server it carries the identity option; the
// payload names the server too, for people reading captures.
func (s *Server) sendReset(p *packet.Parsed, seq, ack uint32, flags packet.TCPFlags, payloadLen int) {
	local, remote := endpoints(p)
	mac, ok := s.nextHop(remote.Addr())
	if !ok {
		s.cnt.NoRoute++
		return
	}
	s.resp = append(append(s.resp[:0], "srv="...), s.name...)
	if flags&packet.TCPAck != 0 {
		s.sendTCP(mac, local, remote, ack, 0, packet.TCPRst, s.resp)
		return
	}
	n := uint32(payloadLen)
	if flags&packet.TCPSyn != 0 {
		n++
	}
	if flags&packet.TCPFin != 0 {
		n++
	}
	s.sendTCP(mac, local, remote, 0, seq+n, packet.TCPRst|packet.TCPAck, s.resp)
}

// appendID appends "srv=<name> cli=<client address:port>".
func (s *Server) appendID(b []byte, remote netip.AddrPort) []byte {
	b = append(b, "srv="...)
	b = append(b, s.name...)
	b = append(b, " cli="...)
	return remote.AppendTo(b)
}

// maxBody caps the HTTP response body a request can ask for.
const maxBody = 1 << 20

// respond answers one request (one segment is one request: clients send
// each request in a single segment).
func (s *Server) respond(sc *serverConn, msg []byte) {
	s.stats.Requests++
	r := s.resp[:0]
	closeAfter := false
	switch {
	case bytes.HasPrefix(msg, []byte("GET ")):
		size, _ := tokenUint(msg, "GET /")
		size = min(size, maxBody)
		ver := "HTTP/1.1"
		if bytes.Contains(msg, []byte("HTTP/1.0")) {
			ver, closeAfter = "HTTP/1.0", true
		}
		r = append(r, ver...)
		r = append(r, " 200 OK\r\nX-Served-By: "...)
		r = s.appendID(r, sc.remote)
		r = append(r, "\r\nContent-Length: "...)
		r = strconv.AppendUint(r, size, 10)
		r = append(r, "\r\n\r\n"...)
		for i := range size {
			r = append(r, 'a'+byte(i%26))
		}
	case bytes.HasPrefix(msg, []byte("USER")):
		r = append(s.appendID(append(r, "331 "...), sc.remote), " password required\r\n"...)
	case bytes.HasPrefix(msg, []byte("PASS")):
		r = append(s.appendID(append(r, "230 "...), sc.remote), " logged in\r\n"...)
	case bytes.HasPrefix(msg, []byte("PASV")):
		port := 40000 + s.pasv%20000
		s.pasv++
		r = s.appendID(append(r, "227 "...), sc.remote)
		r = append(r, " entering passive mode port="...)
		r = strconv.AppendUint(r, uint64(port), 10)
		r = append(r, "\r\n"...)
	case bytes.HasPrefix(msg, []byte("LIST")):
		r = append(s.appendID(append(r, "150 "...), sc.remote), " listing\r\n-rw-r--r-- 1 ftp ftp 1024 README\r\n226 done\r\n"...)
		closeAfter = true
	case bytes.HasPrefix(msg, []byte("QUIT")), bytes.HasPrefix(msg, []byte("logout")):
		r = append(s.appendID(append(r, "221 "...), sc.remote), " bye\r\n"...)
		closeAfter = true
	default:
		r = append(s.appendID(r, sc.remote), " echo: "...)
		r = append(r, msg...)
	}
	s.resp = r
	sc.write(r)
	if closeAfter {
		sc.close()
	}
}

func (s *Server) udpInput(b []byte, p *packet.Parsed) {
	local, remote := endpoints(p)
	mac, ok := s.nextHop(remote.Addr())
	if !ok {
		s.cnt.NoRoute++
		return
	}
	s.seen = append(s.seen, remote)
	s.stats.Datagrams++
	r := append(s.appendID(s.resp[:0], remote), ' ')
	r = append(r, b[p.PayOff:p.Len]...)
	s.resp = r
	s.sendUDP(mac, local, remote, r)
}

// AddServers adds count servers like cfg, named cfg.Name+"1", cfg.Name+"2",
// ..., the i-th with the i-th address of net4 and of net6 (either prefix
// may be the zero Prefix to skip that family; cfg.Addrs and cfg.MAC are
// ignored).
func (n *Network) AddServers(count int, cfg ServerConfig, net4, net6 netip.Prefix) ([]*Server, error) {
	var out []*Server
	for i := 1; i <= count; i++ {
		c := cfg
		c.Name = cfg.Name + strconv.Itoa(i)
		c.MAC = [6]byte{}
		c.Addrs = nil
		for _, p := range []netip.Prefix{net4, net6} {
			if !p.IsValid() {
				continue
			}
			a, ok := nthAddr(p, i)
			if !ok {
				return out, fmt.Errorf("sim: prefix %v too small for %d servers", p, count)
			}
			c.Addrs = append(c.Addrs, a)
		}
		s, err := n.AddServer(c)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}
