package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
)

// Director is the engine under test. Process gets a batch of frames that
// arrived at the director's ports at the same virtual instant: Buf has
// link.Headroom bytes free before Off, Port is the ingress port, Action is
// preset to link.Drop. For each frame the director sets Action; a Tx frame
// is sent by its (rewritten) destination MAC as Buf[Off:Off+Len] — the
// director may move Off back into the headroom to prepend a tunnel header
// and may grow Len up to the end of Buf (at most MaxFrame bytes). A frame
// whose Buf was replaced is copied. Pass frames count as delivered to the director's own stack.
// Process must not keep the frames after it returns.
type Director interface {
	Process(frames []link.Frame, now clock.Time)
}

// DirectorFunc adapts a function to Director.
type DirectorFunc func(frames []link.Frame, now clock.Time)

// Process calls f.
func (f DirectorFunc) Process(frames []link.Frame, now clock.Time) { f(frames, now) }

// DirectorPort is one port of the director on the segment.
type DirectorPort struct {
	MAC   [6]byte
	Addrs []netip.Addr // the director's own addresses on this port (they resolve to MAC)
}

// DirectorConfig describes how a director is attached.
type DirectorConfig struct {
	Name  string
	Ports []DirectorPort // at least one; frames to Ports[i].MAC arrive with Port i
	// VIPs resolve to Ports[0].MAC (move one with Network.SetNeighbor).
	VIPs []netip.Addr
	// MaxBatch bounds the frames of one Process call (default 64).
	MaxBatch int
	// Tick, when set, is called every TickEvery of virtual time (default
	// 100 ms), e.g. to run the director's periodic maintenance.
	Tick      func(now clock.Time)
	TickEvery time.Duration
	// OnPass, when set, sees every frame the director passed to its own
	// stack.
	OnPass func(frame []byte, port uint16, now clock.Time)
}

// DirectorCounters count what went through the director slot.
type DirectorCounters struct {
	Frames     uint64 // frames handed to Process
	Batches    uint64 // Process calls
	MaxBatch   int    // largest batch
	Tx         uint64 // frames the director sent
	Pass       uint64 // frames delivered to the director's own stack
	Drop       uint64 // frames the director dropped
	BadTx      uint64 // Tx frames with impossible Off/Len or Port (dropped)
	Dropped    uint64 // frames that arrived while the director was stopped
	Ticks      uint64 // Tick calls
	TxByPort   []uint64
	RecvByPort []uint64
}

// DirectorHost is the director slot on the segment.
type DirectorHost struct {
	host
	d       Director
	cfg     DirectorConfig
	frames  []link.Frame
	bufs    []*frameBuf
	dc      DirectorCounters
	stopped bool
}

// AddDirector attaches d. The first director attached is the default
// gateway of NAT servers.
func (n *Network) AddDirector(d Director, cfg DirectorConfig) (*DirectorHost, error) {
	if d == nil {
		return nil, errors.New("sim: AddDirector: nil Director")
	}
	if len(cfg.Ports) == 0 {
		return nil, errors.New("sim: AddDirector: at least one port is needed")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 64
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	dh := &DirectorHost{d: d, cfg: cfg}
	dh.director = dh
	dh.name = cfg.Name
	if dh.name == "" {
		dh.name = fmt.Sprintf("director%d", len(n.directors)+1)
	}
	dh.mac = cfg.Ports[0].MAC
	macs := make([][6]byte, len(cfg.Ports))
	for i, p := range cfg.Ports {
		macs[i] = p.MAC
	}
	if err := n.attach(&dh.host, macs); err != nil {
		return nil, err
	}
	for _, p := range cfg.Ports {
		if err := n.claim(dh.name, p.MAC, p.Addrs...); err != nil {
			return nil, err
		}
	}
	if err := n.claim(dh.name, cfg.Ports[0].MAC, cfg.VIPs...); err != nil {
		return nil, err
	}
	dh.frames = make([]link.Frame, cfg.MaxBatch)
	dh.bufs = make([]*frameBuf, cfg.MaxBatch)
	dh.dc.TxByPort = make([]uint64, len(cfg.Ports))
	dh.dc.RecvByPort = make([]uint64, len(cfg.Ports))
	n.directors = append(n.directors, dh)
	if cfg.Tick != nil {
		var tick func()
		tick = func() {
			if !dh.stopped {
				dh.dc.Ticks++
				cfg.Tick(n.now)
			}
			n.After(cfg.TickEvery, tick)
		}
		n.After(cfg.TickEvery, tick)
	}
	return dh, nil
}

// defaultGateway is the NAT servers' gateway: the first director's port 0.
func (n *Network) defaultGateway() [6]byte {
	if len(n.directors) == 0 {
		return [6]byte{}
	}
	return n.directors[0].cfg.Ports[0].MAC
}

// Name returns the director's name.
func (dh *DirectorHost) Name() string { return dh.name }

// MAC returns the MAC of port 0.
func (dh *DirectorHost) MAC() [6]byte { return dh.mac }

// Counters returns the director slot's counters.
func (dh *DirectorHost) Counters() DirectorCounters {
	c := dh.dc
	c.TxByPort = append([]uint64(nil), c.TxByPort...)
	c.RecvByPort = append([]uint64(nil), c.RecvByPort...)
	return c
}

// Stop makes the director drop every frame (a crashed or unplugged
// director); Resume undoes it.
func (dh *DirectorHost) Stop() { dh.stopped = true }

// Resume makes a stopped director process frames again.
func (dh *DirectorHost) Resume() { dh.stopped = false }

// poll hands the frames that have arrived to the director in batches and
// forwards the verdicts.
func (dh *DirectorHost) poll() {
	n := dh.net
	for {
		k := 0
		for k < len(dh.frames) {
			fb := dh.inbox.popDue(n.now)
			if fb == nil {
				break
			}
			if dh.stopped {
				dh.dc.Dropped++
				n.putBuf(fb)
				continue
			}
			if fb.off != link.Headroom {
				// A frame another director moved into its headroom: give
				// this one the full headroom again.
				copy(fb.b[link.Headroom:], fb.bytes())
				fb.off = link.Headroom
			}
			dh.frames[k] = link.Frame{Buf: fb.b, Off: fb.off, Len: fb.n, Port: fb.port, Action: link.Drop}
			dh.bufs[k] = fb
			dh.dc.RecvByPort[fb.port]++
			dh.cnt.Received++
			k++
		}
		if k == 0 {
			return
		}
		dh.dc.Batches++
		dh.dc.Frames += uint64(k)
		dh.dc.MaxBatch = max(dh.dc.MaxBatch, k)
		dh.d.Process(dh.frames[:k], n.now)
		for i := range k {
			dh.verdict(&dh.frames[i], dh.bufs[i])
			dh.frames[i] = link.Frame{}
			dh.bufs[i] = nil
		}
	}
}

func (dh *DirectorHost) verdict(f *link.Frame, fb *frameBuf) {
	n := dh.net
	switch f.Action {
	case link.Tx:
		if f.Off < 0 || f.Len < 14 || f.Len > MaxFrame || f.Off+f.Len > len(f.Buf) || int(f.Port) >= len(dh.cfg.Ports) {
			dh.dc.BadTx++
			n.putBuf(fb)
			return
		}
		if len(f.Buf) == 0 || &f.Buf[0] != &fb.b[0] {
			// The director built the frame in a buffer of its own.
			copy(fb.b[link.Headroom:], f.Bytes())
			fb.off = link.Headroom
		} else {
			fb.off = f.Off
		}
		fb.n = f.Len
		dh.dc.Tx++
		dh.dc.TxByPort[f.Port]++
		dh.cnt.Sent++
		n.transmit(fb)
	case link.Pass:
		dh.dc.Pass++
		if dh.cfg.OnPass != nil {
			dh.cfg.OnPass(f.Bytes(), f.Port, n.now)
		}
		n.putBuf(fb)
	default:
		dh.dc.Drop++
		n.putBuf(fb)
	}
}
