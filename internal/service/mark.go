package service

import (
	"fmt"
	"net/netip"

	"github.com/vsd/vsd/internal/packet"
)

// MarkRule gives matching packets a firewall mark, so that a firewall-mark
// service (Key.FwMark) can group several VIPs or port ranges into one
// service. With kernel IPVS this is an iptables/nftables MARK rule in the
// mangle table; vsd sees packets before the host's firewall, so it carries
// the rules itself.
type MarkRule struct {
	Proto  packet.Proto // 0 = any protocol
	Dst    netip.Prefix // destination addresses
	PortLo uint16       // destination port range; 0, 0 = any port
	PortHi uint16
	Mark   uint32 // non-zero
}

type markRule struct {
	v6     bool
	addr   [16]byte // masked
	bits   int      // prefix length in the 16-byte layout
	proto  packet.Proto
	lo, hi uint16
	mark   uint32
}

// SetMarkRules replaces the firewall-mark rules. The first matching rule
// gives a packet its mark.
func (s *Set) SetMarkRules(rules []MarkRule) error {
	compiled := make([]markRule, 0, len(rules))
	for i, r := range rules {
		if !r.Dst.IsValid() {
			return fmt.Errorf("mark rule %d: no destination prefix: %w", i+1, ErrInvalid)
		}
		if r.Mark == 0 {
			return fmt.Errorf("mark rule %d (%s): mark 0: %w", i+1, r.Dst, ErrInvalid)
		}
		if r.PortHi < r.PortLo {
			return fmt.Errorf("mark rule %d (%s): port range %d-%d is empty: %w", i+1, r.Dst, r.PortLo, r.PortHi, ErrInvalid)
		}
		p := r.Dst.Masked()
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		compiled = append(compiled, markRule{v6: p.Addr().Is6(), addr: p.Addr().As16(), bits: bits,
			proto: r.Proto, lo: r.PortLo, hi: r.PortHi, mark: r.Mark})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = compiled
	s.snap = nil
	return nil
}

// Mark returns the firewall mark of a packet (0 = none) from the rules.
func (s *Snapshot) Mark(v6 bool, proto packet.Proto, dst *[16]byte, dport uint16) uint32 {
	for i := range s.marks {
		r := &s.marks[i]
		if r.v6 != v6 || (r.proto != 0 && r.proto != proto) {
			continue
		}
		if (r.lo != 0 || r.hi != 0) && (dport < r.lo || dport > r.hi) {
			continue
		}
		if prefixMatch(&r.addr, dst, r.bits) {
			return r.mark
		}
	}
	return 0
}

// HasMarks reports whether any mark rule exists (a fast skip for the
// packet path).
func (s *Snapshot) HasMarks() bool { return len(s.marks) != 0 }

func prefixMatch(prefix, a *[16]byte, bits int) bool {
	full := bits / 8
	for i := 0; i < full; i++ {
		if prefix[i] != a[i] {
			return false
		}
	}
	if rem := bits % 8; rem != 0 {
		m := byte(0xFF << (8 - rem))
		return prefix[full]&m == a[full]&m
	}
	return true
}
