package flood

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Range is an inclusive range of addresses of one family, First <= Last.
type Range struct {
	First, Last netip.Addr
}

// ParseRange reads a source range: a prefix ("10.0.0.0/8", every address in
// it, network and broadcast included), an inclusive span
// ("10.0.0.1-10.15.255.255") or one address. IPv4 and IPv6 are accepted;
// zones and IPv4-mapped IPv6 addresses are not.
func ParseRange(s string) (Range, error) {
	if s == "" {
		return Range{}, fmt.Errorf("address range %q: empty", s)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("address range %q: %v", s, err)
		}
		if err := checkAddr(s, p.Addr()); err != nil {
			return Range{}, err
		}
		p = p.Masked()
		r := Range{First: p.Addr(), Last: lastOf(p)}
		if r.Last.Is4In6() {
			// Its span form would not read back (mapped addresses are
			// refused), and nobody means to spoof ::ffff:a.b.c.d.
			return Range{}, fmt.Errorf("address range %q ends at the IPv4-mapped address %s; use a prefix outside ::ffff:0:0/96", s, r.Last)
		}
		return r, nil
	}
	lo, hi, span := strings.Cut(s, "-")
	a, err := parseAddr(s, lo)
	if err != nil {
		return Range{}, err
	}
	if !span {
		return Range{First: a, Last: a}, nil
	}
	b, err := parseAddr(s, hi)
	if err != nil {
		return Range{}, err
	}
	if a.Is4() != b.Is4() {
		return Range{}, fmt.Errorf("address range %q: %s and %s are of different families", s, a, b)
	}
	if b.Less(a) {
		return Range{}, fmt.Errorf("address range %q: %s comes after %s", s, a, b)
	}
	return Range{First: a, Last: b}, nil
}

func parseAddr(whole, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address range %q: %v", whole, err)
	}
	return a, checkAddr(whole, a)
}

func checkAddr(whole string, a netip.Addr) error {
	if a.Zone() != "" {
		return fmt.Errorf("address range %q: zones are not allowed", whole)
	}
	if a.Is4In6() {
		return fmt.Errorf("address range %q: IPv4-mapped address %s; write it as IPv4", whole, a)
	}
	return nil
}

// lastOf returns the last address of the masked prefix p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	host := 128 - p.Bits()
	if p.Addr().Is4() {
		host = 32 - p.Bits()
	}
	for i := 15; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}

// Is4 reports whether the range holds IPv4 addresses.
func (r Range) Is4() bool { return r.First.Is4() }

// Size returns the number of addresses in r, saturated at math.MaxUint64
// (an IPv6 range may hold more).
func (r Range) Size() uint64 {
	ah, al := u128(r.First)
	bh, bl := u128(r.Last)
	dl, borrow := bits.Sub64(bl, al, 0)
	dh, _ := bits.Sub64(bh, ah, borrow)
	if dh != 0 || dl == math.MaxUint64 {
		return math.MaxUint64
	}
	return dl + 1
}

// Nth returns First + i (the caller keeps i < Size()).
func (r Range) Nth(i uint64) netip.Addr {
	h, l := u128(r.First)
	l, c := bits.Add64(l, i, 0)
	h += c
	if r.First.Is4() {
		return netip.AddrFrom4([4]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h)
	binary.BigEndian.PutUint64(b[8:], l)
	return netip.AddrFrom16(b)
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

func u128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// PortRange is an inclusive range of ports, 1 <= First <= Last. The zero
// value means "one port per source" (see Config.Sport).
type PortRange struct {
	First, Last uint16
}

// ParsePorts reads "PORT" or "FIRST-LAST" (1..65535).
func ParsePorts(s string) (PortRange, error) {
	lo, hi, span := strings.Cut(s, "-")
	a, err := parsePort(s, lo)
	if err != nil {
		return PortRange{}, err
	}
	if !span {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(s, hi)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %q: %d comes after %d", s, a, b)
	}
	return PortRange{a, b}, nil
}

func parsePort(whole, s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port range %q: %q is not a port (1..65535)", whole, s)
	}
	return uint16(n), nil
}

// IsZero reports whether p is the zero value.
func (p PortRange) IsZero() bool { return p == PortRange{} }

// Size returns the number of ports in p.
func (p PortRange) Size() uint32 { return uint32(p.Last) - uint32(p.First) + 1 }

func (p PortRange) String() string {
	if p.First == p.Last {
		return strconv.Itoa(int(p.First))
	}
	return strconv.Itoa(int(p.First)) + "-" + strconv.Itoa(int(p.Last))
}
