package steer

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP protocol numbers the programs know.
const (
	protoICMP   = 1
	protoIPIP   = 4
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoFrag6  = 44
	protoICMPv6 = 58
	protoSCTP   = 132
)

// keySize is the size of every match-map key (see the package doc).
const keySize = 20

// key is a match-map key: family, proto, port (big-endian), address
// (netip.Addr.As16, IPv4 mapped as ::ffff:a.b.c.d).
type key [keySize]byte

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return 4
	}
	return 6
}

func makeKey(proto uint8, a netip.Addr, port uint16) key {
	var k key
	k[0] = family(a)
	k[1] = proto
	binary.BigEndian.PutUint16(k[2:4], port)
	a16 := a.As16()
	copy(k[4:], a16[:])
	return k
}

// vipKey is the VIPs-map key of a: family, three zero bytes, address.
func vipKey(a netip.Addr) key { return makeKey(0, a, 0) }

// String formats a key for error messages and test failures.
func (k key) String() string {
	a := netip.AddrFrom16([16]byte(k[4:]))
	if k[0] == 4 {
		a = a.Unmap()
	}
	return fmt.Sprintf("{family %d proto %d %s port %d}", k[0], k[1], a, binary.BigEndian.Uint16(k[2:4]))
}

// Endpoint is one match entry: a protocol, an address and a port. Port 0
// matches every port of the protocol at that address. For the ICMP error
// entries the daemon inserts, Proto is 1 (IPv4 address) or 58 (IPv6) and
// Port is 0.
type Endpoint struct {
	Proto uint8
	Addr  netip.Addr
	Port  uint16
}

func (e Endpoint) String() string {
	return fmt.Sprintf("proto %d %s port %d", e.Proto, e.Addr, e.Port)
}

// Match is what the classifier selects (see the package doc):
// Services are matched against (proto, destination, destination port),
// Replies against (proto, source, source port), VIPs against the
// destination of non-first fragments and the target of ARP requests and
// neighbour solicitations. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// an IPv6 address here: it matches IPv6 headers carrying it.
type Match struct {
	Services, Replies []Endpoint
	VIPs              []netip.Addr
}

// endpointKey validates e and returns its key.
func endpointKey(e Endpoint) (key, error) {
	if !e.Addr.IsValid() {
		return key{}, fmt.Errorf("endpoint %v: no address", e)
	}
	a := e.Addr.WithZone("")
	switch e.Proto {
	case protoTCP, protoUDP, protoSCTP:
	case protoICMP, protoICMPv6:
		if (e.Proto == protoICMP) != a.Is4() {
			return key{}, fmt.Errorf("endpoint %v: ICMP needs an IPv4 address, ICMPv6 an IPv6 one", e)
		}
		if e.Port != 0 {
			return key{}, fmt.Errorf("endpoint %v: ICMP entries have port 0", e)
		}
	default:
		return key{}, fmt.Errorf("endpoint %v: protocol %d is not TCP (6), UDP (17), SCTP (132), ICMP (1) or ICMPv6 (58)", e, e.Proto)
	}
	return makeKey(e.Proto, a, e.Port), nil
}

// keySets turns a Match into the three key sets, validating every entry.
func (m *Match) keySets(capacity int) (svc, rep, vip map[key]struct{}, err error) {
	svc, err = endpointSet("service", m.Services, capacity)
	if err != nil {
		return nil, nil, nil, err
	}
	rep, err = endpointSet("reply", m.Replies, capacity)
	if err != nil {
		return nil, nil, nil, err
	}
	vip = make(map[key]struct{}, len(m.VIPs))
	for _, a := range m.VIPs {
		if !a.IsValid() {
			return nil, nil, nil, fmt.Errorf("steer: VIP: invalid (zero) address")
		}
		vip[vipKey(a.WithZone(""))] = struct{}{}
	}
	if len(vip) > capacity {
		return nil, nil, nil, fmt.Errorf("steer: %d VIPs exceed the maps' capacity of %d", len(vip), capacity)
	}
	return svc, rep, vip, nil
}

func endpointSet(what string, eps []Endpoint, capacity int) (map[key]struct{}, error) {
	s := make(map[key]struct{}, len(eps))
	for _, e := range eps {
		k, err := endpointKey(e)
		if err != nil {
			return nil, fmt.Errorf("steer: %s %w", what, err)
		}
		s[k] = struct{}{}
	}
	if len(s) > capacity {
		return nil, fmt.Errorf("steer: %d %s entries exceed the maps' capacity of %d", len(s), what, capacity)
	}
	return s, nil
}
