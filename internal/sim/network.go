package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
)

// Config configures a Network. The zero value is usable: every field has a
// default.
type Config struct {
	// Latency is the one-way delay of every hop through the switch
	// (default 50 µs; must not be negative, 0 means the default).
	Latency time.Duration
	// Start is the virtual time the network starts at (default 1 s, so
	// that a zero clock.Time never means "now").
	Start clock.Time
	// Seed seeds the network's PCG generator (initial sequence numbers,
	// ephemeral ports, think times, scenario arrivals).
	Seed uint64
	// TCP holds the timers and sizes of every host's TCP.
	TCP TCPConfig
}

// TCPConfig are the TCP parameters shared by clients and servers. Zero
// fields take the defaults shown.
type TCPConfig struct {
	SYNRetries      int           // SYN (and SYN+ACK) retransmissions before giving up (6, Linux tcp_syn_retries)
	SYNTimeout      time.Duration // first SYN retransmission timeout, doubled each try (1 s)
	Retries         int           // data/FIN retransmissions before giving up (8)
	RTO             time.Duration // first data retransmission timeout, doubled each try (200 ms)
	MaxRTO          time.Duration // cap on the doubled timeout (120 s)
	TimeWait        time.Duration // TIME_WAIT duration (60 s)
	MSS             int           // largest segment payload (1400)
	Window          int           // bytes in flight at most (65535)
	ResponseTimeout time.Duration // a client gives up waiting for an answer after this (30 s)
}

func (c *TCPConfig) setDefaults() {
	if c.SYNRetries == 0 {
		c.SYNRetries = 6
	}
	if c.SYNTimeout == 0 {
		c.SYNTimeout = time.Second
	}
	if c.Retries == 0 {
		c.Retries = 8
	}
	if c.RTO == 0 {
		c.RTO = 200 * time.Millisecond
	}
	if c.MaxRTO == 0 {
		c.MaxRTO = 120 * time.Second
	}
	if c.TimeWait == 0 {
		c.TimeWait = 60 * time.Second
	}
	if c.MSS == 0 {
		c.MSS = 1400
	}
	if c.Window == 0 {
		c.Window = 65535
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = 30 * time.Second
	}
}

// DefaultLatency is the per-hop latency when Config.Latency is zero.
const DefaultLatency = 50 * time.Microsecond

// bufSize is the size of every frame buffer: headroom plus the largest
// frame a host builds (1514) with room to spare for a director that grows a
// frame.
const bufSize = 2048

// MaxFrame is the largest frame (Ethernet header included) the network
// carries: a buffer's size minus the headroom.
const MaxFrame = bufSize - link.Headroom

// frameBuf is one pooled frame buffer in flight.
type frameBuf struct {
	b    []byte // len bufSize
	off  int
	n    int
	at   clock.Time // arrival time at the receiving host
	port uint16     // receiving director port
}

func (fb *frameBuf) bytes() []byte { return fb.b[fb.off : fb.off+fb.n] }

// portRef is what a MAC address leads to: a host and, for a director, which
// of its ports.
type portRef struct {
	host int32
	port uint16
}

// Network is the simulated L2 segment with its hosts, its directory (the
// stand-in for ARP/NDP) and the virtual clock. It is single-threaded: all
// methods must be called from one goroutine (Resolve excepted, which is safe
// for concurrent use).
type Network struct {
	cfg Config
	tcp TCPConfig
	now clock.Time
	q   eventQueue
	rng *rand.Rand

	hosts []*host
	byMAC map[[6]byte]portRef

	dirMu sync.RWMutex
	dir   map[netip.Addr][6]byte

	free      []*frameBuf
	allocated int

	clients   []*Client
	servers   []*Server
	directors []*DirectorHost
	serverIdx map[string]int

	conns    []*clientConn
	sessions []*session
	sc       *scenarioRun

	macSeq uint32
	events uint64
	wire   WireCounters

	// tap, when set (tests), sees every frame delivered to a client or
	// server before the host handles it.
	tap func(to *host, frame []byte)
}

// WireCounters count what the switch did.
type WireCounters struct {
	Frames     uint64 // frames put on the wire
	UnknownMAC uint64 // frames dropped: no host has the destination MAC
	TooLarge   uint64 // frames dropped: longer than MaxFrame
}

// New returns an empty network at cfg.Start.
func New(cfg Config) *Network {
	if cfg.Latency <= 0 {
		cfg.Latency = DefaultLatency
	}
	if cfg.Start == 0 {
		cfg.Start = clock.Seconds(1)
	}
	tcp := cfg.TCP
	tcp.setDefaults()
	return &Network{
		cfg:       cfg,
		tcp:       tcp,
		now:       cfg.Start,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		byMAC:     make(map[[6]byte]portRef),
		dir:       make(map[netip.Addr][6]byte),
		serverIdx: make(map[string]int),
	}
}

// Now returns the current virtual time.
func (n *Network) Now() clock.Time { return n.now }

// Start returns the virtual time the network started at.
func (n *Network) Start() clock.Time { return n.cfg.Start }

// Latency returns the per-hop latency.
func (n *Network) Latency() time.Duration { return n.cfg.Latency }

// Events returns the number of events processed so far.
func (n *Network) Events() uint64 { return n.events }

// Schedule runs fn at virtual time at (or now, if at is in the past).
// Events at the same instant run in the order they were scheduled.
func (n *Network) Schedule(at clock.Time, fn func()) {
	n.q.push(event{at: max(at, n.now), kind: evFunc, fn: fn})
}

// After runs fn d after the current virtual time.
func (n *Network) After(d time.Duration, fn func()) { n.Schedule(n.now.Add(d), fn) }

// Step runs the next event, advancing the clock to its time, and reports
// whether there was one.
func (n *Network) Step() bool {
	if n.q.len() == 0 {
		return false
	}
	e := n.q.pop()
	n.now = e.at
	n.dispatch(&e)
	return true
}

// Run runs every event due at or before until and leaves the clock at
// until (or where it was, if that is later).
func (n *Network) Run(until clock.Time) {
	for n.q.len() > 0 && n.q.peek().at <= until {
		n.Step()
	}
	if until > n.now {
		n.now = until
	}
}

// RunFor runs the network for d of virtual time.
func (n *Network) RunFor(d time.Duration) { n.Run(n.now.Add(d)) }

func (n *Network) dispatch(e *event) {
	n.events++
	switch e.kind {
	case evFunc:
		e.fn()
	case evPoll:
		n.hosts[e.host].poll()
	case evTimer:
		h := n.hosts[e.host]
		switch {
		case h.client != nil:
			h.client.timer(e.idx, e.slot, e.gen)
		case h.server != nil:
			h.server.timer(e.idx, e.slot, e.gen)
		}
	case evArrival:
		n.sc.arrive(int(e.idx))
	}
}

// timerAt schedules a connection timer.
func (n *Network) timerAt(at clock.Time, host, idx int32, slot uint8, gen uint32) {
	n.q.push(event{at: at, kind: evTimer, host: host, idx: idx, slot: slot, gen: gen})
}

// Resolve returns the MAC address that answers for addr on the segment:
// the owner of a host address, the director for a VIP. Real servers that
// hold a VIP on a loopback (DR, TUN) do not answer for it. Safe for
// concurrent use.
func (n *Network) Resolve(addr netip.Addr) ([6]byte, bool) {
	n.dirMu.RLock()
	mac, ok := n.dir[addr.Unmap()]
	n.dirMu.RUnlock()
	return mac, ok
}

// SetNeighbor makes addr resolve to mac (a gratuitous ARP / unsolicited
// neighbour advertisement: use it to move a VIP to another director).
func (n *Network) SetNeighbor(addr netip.Addr, mac [6]byte) {
	n.dirMu.Lock()
	n.dir[addr.Unmap()] = mac
	n.dirMu.Unlock()
}

// RemoveNeighbor makes addr unresolvable.
func (n *Network) RemoveNeighbor(addr netip.Addr) {
	n.dirMu.Lock()
	delete(n.dir, addr.Unmap())
	n.dirMu.Unlock()
}

// Neighbors adapts the directory to the director's neighbour interface
// (Resolve(v6, addr16) (mac, port, ok)); the port is always 0 because the
// simulated network is one segment.
type Neighbors struct{ n *Network }

// Neighbors returns the directory in the director's terms.
func (n *Network) Neighbors() Neighbors { return Neighbors{n} }

// Resolve resolves an address in the 16-byte datapath layout (IPv4-mapped
// for IPv4). Safe for concurrent use.
func (nb Neighbors) Resolve(v6 bool, addr [16]byte) (mac [6]byte, port uint16, ok bool) {
	a := netip.AddrFrom16(addr)
	if !v6 {
		a = a.Unmap()
	}
	mac, ok = nb.n.Resolve(a)
	return mac, 0, ok
}

// nextMAC returns a fresh locally administered MAC address.
func (n *Network) nextMAC(kind byte) [6]byte {
	n.macSeq++
	s := n.macSeq
	return [6]byte{0x02, kind, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// attach adds h to the segment under the given MACs (one per port).
func (n *Network) attach(h *host, macs [][6]byte) error {
	for _, m := range macs {
		if m == ([6]byte{}) || m[0]&1 != 0 {
			return fmt.Errorf("sim: %s: invalid MAC %s", h.name, formatMAC(m))
		}
		if _, dup := n.byMAC[m]; dup {
			return fmt.Errorf("sim: %s: MAC %s already attached", h.name, formatMAC(m))
		}
	}
	h.id = int32(len(n.hosts))
	h.net = n
	h.pollAt = -1
	n.hosts = append(n.hosts, h)
	for i, m := range macs {
		n.byMAC[m] = portRef{host: h.id, port: uint16(i)}
	}
	return nil
}

// claim registers addrs as owned by mac in the directory, refusing
// addresses that already resolve elsewhere.
func (n *Network) claim(name string, mac [6]byte, addrs ...netip.Addr) error {
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() {
			return fmt.Errorf("sim: %s: invalid address", name)
		}
		if old, ok := n.dir[a]; ok && old != mac {
			return fmt.Errorf("sim: %s: address %s already resolves to %s", name, a, formatMAC(old))
		}
	}
	for _, a := range addrs {
		n.dir[a.Unmap()] = mac
	}
	return nil
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// getBuf returns a frame buffer from the pool.
func (n *Network) getBuf() *frameBuf {
	if k := len(n.free); k > 0 {
		fb := n.free[k-1]
		n.free = n.free[:k-1]
		return fb
	}
	n.allocated++
	return &frameBuf{b: make([]byte, bufSize)}
}

// putBuf returns fb to the pool.
func (n *Network) putBuf(fb *frameBuf) {
	fb.off, fb.n, fb.port = 0, 0, 0
	n.free = append(n.free, fb)
}

// transmit puts fb (fb.bytes() is the frame) on the wire; it arrives at the
// owner of its destination MAC one latency later. The network owns fb from
// here on.
func (n *Network) transmit(fb *frameBuf) {
	n.wire.Frames++
	if fb.n < 14 || fb.off < 0 || fb.off+fb.n > len(fb.b) {
		n.wire.TooLarge++
		n.putBuf(fb)
		return
	}
	dst := [6]byte(fb.b[fb.off : fb.off+6])
	ref, ok := n.byMAC[dst]
	if !ok {
		n.wire.UnknownMAC++
		n.putBuf(fb)
		return
	}
	fb.at = n.now.Add(n.cfg.Latency)
	fb.port = ref.port
	h := n.hosts[ref.host]
	h.inbox.push(fb)
	if h.pollAt != fb.at {
		h.pollAt = fb.at
		n.q.push(event{at: fb.at, kind: evPoll, host: h.id})
	}
}

// Inject puts a copy of frame on the wire as if a host outside the sim had
// sent it: it arrives one latency later at the owner of its destination
// MAC. Use it for hand-made packets (floods, ICMP, malformed frames).
func (n *Network) Inject(frame []byte) error {
	if len(frame) < 14 || len(frame) > MaxFrame {
		return fmt.Errorf("sim: Inject: frame of %d bytes (want 14..%d)", len(frame), MaxFrame)
	}
	fb := n.getBuf()
	fb.off, fb.n = link.Headroom, copy(fb.b[link.Headroom:], frame)
	n.transmit(fb)
	return nil
}

// frameFIFO is a host's queue of frames in flight towards it, in arrival
// order (arrival times never decrease: every hop has the same latency).
type frameFIFO struct {
	q    []*frameBuf
	head int
}

func (f *frameFIFO) push(fb *frameBuf) {
	if f.head > 256 && f.head*2 > len(f.q) {
		k := copy(f.q, f.q[f.head:])
		clear(f.q[k:])
		f.q = f.q[:k]
		f.head = 0
	}
	f.q = append(f.q, fb)
}

// popDue removes and returns the first frame if it has arrived by now.
func (f *frameFIFO) popDue(now clock.Time) *frameBuf {
	if f.head == len(f.q) || f.q[f.head].at > now {
		return nil
	}
	fb := f.q[f.head]
	f.q[f.head] = nil
	f.head++
	if f.head == len(f.q) {
		f.q = f.q[:0]
		f.head = 0
	}
	return fb
}

func (f *frameFIFO) len() int { return len(f.q) - f.head }
