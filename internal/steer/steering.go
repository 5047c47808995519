package steer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// MaxQueues bounds LoadSteering's queue count.
const MaxQueues = 1024

// loadProgram loads insns as a program of typ; errors carry the tail of
// the verifier log.
func loadProgram(name string, typ ebpf.ProgramType, insns asm.Instructions) (*ebpf.Program, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         typ,
		Instructions: insns,
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("steer: load %s: %+v", name, ve)
		}
		return nil, fmt.Errorf("steer: load %s: %w", name, err)
	}
	return p, nil
}

func (m *Maps) check() error {
	if m == nil || m.services == nil {
		return errors.New("steer: maps are nil or closed")
	}
	return nil
}

// Steering is the XDP steering program of one interface: the shared
// classifier over Maps, and an XSKMAP of its own with one slot per receive
// queue. Selected frames go to XSKMAP[rx_queue_index] (or to the kernel
// when that queue has no socket); all others to the kernel. Its methods may
// be called from several goroutines.
type Steering struct {
	mu     sync.Mutex
	xsks   *ebpf.Map
	prog   *ebpf.Program
	queues int
	link   link.Link
	info   AttachInfo
}

// LoadSteering loads a steering program on m with an XSKMAP for queues
// receive queues (1..MaxQueues).
func LoadSteering(m *Maps, queues int) (*Steering, error) {
	if queues < 1 || queues > MaxQueues {
		return nil, fmt.Errorf("steer: steering: %d queues: want 1..%d", queues, MaxQueues)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "vsd_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(queues),
	})
	if err != nil {
		return nil, fmt.Errorf("steer: create XSKMAP (%d queues): %w", queues, err)
	}
	prog, err := loadProgram("vsd_steer", ebpf.XDP, xdpSteeringInsns(m, xsks))
	if err != nil {
		xsks.Close()
		return nil, err
	}
	return &Steering{xsks: xsks, prog: prog, queues: queues}, nil
}

// SetSocket puts the AF_XDP socket fd (bound to this interface's queue)
// into XSKMAP[queue].
func (s *Steering) SetSocket(queue, fd int) error {
	if queue < 0 || queue >= s.queues {
		return fmt.Errorf("steer: set socket: queue %d: want 0..%d", queue, s.queues-1)
	}
	if fd < 0 {
		return fmt.Errorf("steer: set socket for queue %d: bad fd %d", queue, fd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xsks == nil {
		return errors.New("steer: set socket: steering is closed")
	}
	if err := s.xsks.Update(uint32(queue), uint32(fd), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("steer: set socket fd %d for queue %d: %w", fd, queue, err)
	}
	return nil
}

// Attach attaches the program to ifindex through a bpf_link and returns
// the mode it runs in (XDPAuto: native, else generic). A stale XDP program
// attached through netlink (a killed vsd, anything else) is removed first:
// AttachInfo then reports its id for the log, and an attach error
// mentions it. A program held by another live bpf_link is not touched: the
// error names its program id.
func (s *Steering) Attach(ifindex int, mode XDPMode) (XDPMode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prog == nil {
		return 0, errors.New("steer: attach steering: closed")
	}
	if s.link != nil {
		return 0, errors.New("steer: attach steering: already attached")
	}
	l, info, err := attachXDP(s.prog, "steering", ifindex, mode)
	if err != nil {
		return 0, err
	}
	s.link, s.info = l, info
	return info.Mode, nil
}

// AttachInfo describes the last successful Attach (mode, and the stale
// program it replaced, if any).
func (s *Steering) AttachInfo() AttachInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Detach removes the program from its interface (no-op when not attached).
func (s *Steering) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return detach(&s.link, "steering")
}

// Close detaches and releases the program and its XSKMAP.
func (s *Steering) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return closeAll(&s.link, "steering", &s.prog, &s.xsks)
}

// Program is the loaded program (for inspection and tests).
func (s *Steering) Program() *ebpf.Program { return s.prog }

func detach(l *link.Link, what string) error {
	if *l == nil {
		return nil
	}
	err := (*l).Close()
	*l = nil
	if err != nil {
		return fmt.Errorf("steer: detach %s: %w", what, err)
	}
	return nil
}

func closeAll(l *link.Link, what string, p **ebpf.Program, m **ebpf.Map) error {
	errs := []error{detach(l, what)}
	if *p != nil {
		errs = append(errs, (*p).Close())
		*p = nil
	}
	if m != nil && *m != nil {
		errs = append(errs, (*m).Close())
		*m = nil
	}
	return errors.Join(errs...)
}

// Guard is the tc ingress (tcx) program of the AF_PACKET datapath: it
// drops (TC_ACT_SHOT) what the classifier selects, after the AF_PACKET tap
// has copied it, and lets everything else continue (TCX_NEXT). ARP and
// neighbour solicitations are not selected: the kernel may answer those.
type Guard struct {
	mu   sync.Mutex
	prog *ebpf.Program
	link link.Link
}

// LoadGuard loads a guard program on m.
func LoadGuard(m *Maps) (*Guard, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	prog, err := loadProgram("vsd_guard", ebpf.SchedCLS, guardInsns(m))
	if err != nil {
		return nil, err
	}
	return &Guard{prog: prog}, nil
}

// Attach attaches the guard to ifindex's tcx ingress hook.
func (g *Guard) Attach(ifindex int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.prog == nil {
		return errors.New("steer: attach guard: closed")
	}
	if g.link != nil {
		return errors.New("steer: attach guard: already attached")
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: g.prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("steer: attach guard to tcx ingress of interface index %d: %w", ifindex, err)
	}
	g.link = l
	return nil
}

// Detach removes the guard from its interface (no-op when not attached).
func (g *Guard) Detach() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return detach(&g.link, "guard")
}

// Close detaches and releases the program.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return closeAll(&g.link, "guard", &g.prog, nil)
}

// Program is the loaded program (for inspection and tests).
func (g *Guard) Program() *ebpf.Program { return g.prog }
