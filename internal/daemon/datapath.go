package daemon

import (
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/vsd/vsd/internal/config"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/link/afpacket"
	"github.com/vsd/vsd/internal/link/afxdp"
	"github.com/vsd/vsd/internal/steer"
)

// datapath is the packet I/O the workers run on, with the BPF programs that
// steer service traffic to it.
type datapath interface {
	describe() string // for the log: "veth0, veth1 (AF_XDP, native XDP)"
	queues() []link.Queue
	update(steer.Match) error // the programs' match maps
	close() error             // detach programs, close sockets
}

// openDatapath opens the datapath the file asks for; "auto" tries AF_XDP
// and falls back to AF_PACKET, saying why.
func openDatapath(cfg *config.Config, ports []port, lg *log.Logger) (datapath, error) {
	switch cfg.Datapath {
	case "afxdp":
		return openXDP(cfg, ports)
	case "afpacket":
		return openPacket(cfg, ports)
	}
	dp, err := openXDP(cfg, ports)
	if err == nil {
		return dp, nil
	}
	lg.Printf("AF_XDP datapath not available (%v); falling back to AF_PACKET", err)
	return openPacket(cfg, ports)
}

func portNames(ports []port) []string {
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = p.name
	}
	return names
}

// mapCapacity bounds the entries of each match map.
const mapCapacity = 65536

// xdpPath is AF_XDP sockets (one per interface and queue) behind an XDP
// steering program on every interface.
type xdpPath struct {
	names []string
	maps  *steer.Maps
	progs []*steer.Steering
	qs    []link.Queue
	info  []steer.AttachInfo
}

func openXDP(cfg *config.Config, ports []port) (_ datapath, err error) {
	mode, err := steer.ParseXDPMode(cfg.XDPMode)
	if err != nil {
		return nil, err
	}
	nq := max(cfg.Queues, 1)
	p := &xdpPath{names: portNames(ports)}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.maps, err = steer.NewMaps(mapCapacity); err != nil {
		return nil, err
	}
	for q := range nq {
		xq, err := afxdp.Open(afxdp.Config{Ifaces: p.names, Queue: q})
		if err != nil {
			return nil, err
		}
		p.qs = append(p.qs, xq)
	}
	for i, pt := range ports {
		prog, err := steer.LoadSteering(p.maps, nq)
		if err != nil {
			return nil, err
		}
		p.progs = append(p.progs, prog)
		for q := range nq {
			if err := prog.SetSocket(q, p.qs[q].(*afxdp.Queue).FD(i)); err != nil {
				return nil, fmt.Errorf("%s queue %d: %w", pt.name, q, err)
			}
		}
		if _, err := prog.Attach(pt.index, mode); err != nil {
			return nil, fmt.Errorf("attaching XDP to %s: %w", pt.name, err)
		}
		p.info = append(p.info, prog.AttachInfo())
	}
	return p, nil
}

func (p *xdpPath) describe() string {
	parts := make([]string, len(p.names))
	for i, n := range p.names {
		parts[i] = fmt.Sprintf("%s (AF_XDP, %v XDP)", n, p.info[i])
	}
	return strings.Join(parts, ", ")
}

func (p *xdpPath) queues() []link.Queue { return p.qs }

func (p *xdpPath) update(m steer.Match) error { return p.maps.Update(m) }

func (p *xdpPath) close() error {
	var errs []error
	for _, prog := range p.progs { // detach first: traffic goes back to the kernel
		errs = append(errs, prog.Detach(), prog.Close())
	}
	for _, q := range p.qs {
		errs = append(errs, q.Close())
	}
	if p.maps != nil {
		errs = append(errs, p.maps.Close())
	}
	p.progs, p.qs, p.maps = nil, nil, nil
	return errors.Join(errs...)
}

// packetPath is AF_PACKET rings on every interface, with a tc ingress guard
// that keeps the kernel stack from also handling the service traffic vsd
// reads from the rings.
type packetPath struct {
	names  []string
	maps   *steer.Maps
	guards []*steer.Guard
	qs     []link.Queue
}

func openPacket(cfg *config.Config, ports []port) (_ datapath, err error) {
	nq := max(cfg.Queues, 1)
	p := &packetPath{names: portNames(ports)}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.maps, err = steer.NewMaps(mapCapacity); err != nil {
		return nil, err
	}
	group := uint16(os.Getpid() & 0x7fff)
	for range nq {
		fq, err := afpacket.Open(afpacket.Config{Ifaces: p.names, FanoutGroup: group})
		if err != nil {
			return nil, err
		}
		p.qs = append(p.qs, fq)
	}
	for _, pt := range ports {
		g, err := steer.LoadGuard(p.maps)
		if err != nil {
			return nil, err
		}
		p.guards = append(p.guards, g)
		if err := g.Attach(pt.index); err != nil {
			return nil, fmt.Errorf("attaching the tc guard to %s: %w", pt.name, err)
		}
	}
	return p, nil
}

func (p *packetPath) describe() string {
	return strings.Join(p.names, ", ") + " (AF_PACKET, tc ingress guard)"
}

func (p *packetPath) queues() []link.Queue { return p.qs }

func (p *packetPath) update(m steer.Match) error { return p.maps.Update(m) }

func (p *packetPath) close() error {
	var errs []error
	for _, g := range p.guards {
		errs = append(errs, g.Detach(), g.Close())
	}
	for _, q := range p.qs {
		errs = append(errs, q.Close())
	}
	if p.maps != nil {
		errs = append(errs, p.maps.Close())
	}
	p.guards, p.qs, p.maps = nil, nil, nil
	return errors.Join(errs...)
}
