package service

import "github.com/vsd/vsd/internal/packet"

// lookupKey is the pointer-free map key used on the packet path.
type lookupKey struct {
	addr  [16]byte
	port  uint16
	proto packet.Proto
	v6    bool
}

type markKey struct {
	mark uint32
	v6   bool
}

// Snapshot is an immutable view of every service and destination, published
// by the control plane with an atomic pointer swap and read by workers
// without locks. Destination counters live in the shared Dest objects, so a
// swap keeps them.
type Snapshot struct {
	// Services in the order they were added.
	Services []*Service

	byKey    map[lookupKey]*Service
	byMark   map[markKey]*Service
	dests    []*Dest              // indexed by DestID; removed destinations stay while in the trash
	byAddr   map[[16]byte][]*Dest // the destinations of the services by address (Addr16), for TunnelDest
	marks    []markRule
	hasPort0 bool
	hasFTP   bool
}

// Dest returns the destination with the given id (including one removed
// from its service but still in the trash), or nil.
func (s *Snapshot) Dest(id DestID) *Dest {
	if int(id) < len(s.dests) {
		return s.dests[id]
	}
	return nil
}

// DestCount returns one more than the largest DestID in use (the size of a
// table indexed by DestID).
func (s *Snapshot) DestCount() int { return len(s.dests) }

// Lookup finds the service for a new connection in the kernel's order
// (ipvs-semantics.md §1.9): firewall mark, exact <proto, VIP, port>, the
// FTP service for passive data connections, then a port-0 service.
func (s *Snapshot) Lookup(v6 bool, proto packet.Proto, dst *[16]byte, dport uint16, mark uint32) *Service {
	if mark != 0 && len(s.byMark) != 0 {
		if svc := s.byMark[markKey{mark, v6}]; svc != nil {
			return svc
		}
	}
	k := lookupKey{addr: *dst, port: dport, proto: proto, v6: v6}
	if svc := s.byKey[k]; svc != nil {
		return svc
	}
	if proto == packet.ProtoTCP && s.hasFTP && (dport == 20 || dport >= 1024) {
		k.port = 21
		if svc := s.byKey[k]; svc != nil {
			return svc
		}
	}
	if s.hasPort0 {
		k.port = 0
		if svc := s.byKey[k]; svc != nil {
			return svc
		}
	}
	return nil
}

// TunnelDest returns a destination of one of the services (not one in the
// trash) at addr (datapath layout, IPv4 mapped) whose configuration is now
// Tunnel with tunnel type typ and, for GUE, tunnel port port; nil if there
// is none. It is the kernel's ip_vs_find_tunnel, used to recognise ICMP
// errors about the director's own tunnel packets. No allocation.
func (s *Snapshot) TunnelDest(addr *[16]byte, typ TunType, port uint16) *Dest {
	for _, d := range s.byAddr[*addr] {
		c := d.Config()
		if c.Method == Tunnel && c.TunType == typ && (typ != TunGUE || c.TunPort == port) {
			return d
		}
	}
	return nil
}

// Find returns the service with exactly this key (control-plane use).
func (s *Snapshot) Find(k Key) *Service {
	if k.IsFwMark() {
		return s.byMark[markKey{k.FwMark, k.Addr.Is6()}]
	}
	return s.byKey[lookupKey{addr: k.Addr.As16(), port: k.Port, proto: k.Proto, v6: k.Addr.Is6()}]
}

func keyOf(k Key) lookupKey {
	return lookupKey{addr: k.Addr.As16(), port: k.Port, proto: k.Proto, v6: k.Addr.Is6()}
}
