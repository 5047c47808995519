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
// neighbour solicitations. Every TCP, UDP or SCTP entry of Replies also
// selects the non-first fragments of that protocol from its address,
// whatever the port (the fragment sources map, derived by Maps.Update). An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv6 address here: it
// matches IPv6 headers carrying it.
//
// Tunnels are the TUN real servers the director sends IPIP or GUE to, for
// tunnel errors: an ICMPv4 error (type 3, 4 or 11) to any address is
// selected when it quotes an IPv4 packet (not a non-first fragment) of
// protocol 4 to the address of an entry {Proto: 4, Addr, Port: 0} (IPIP),
// or a UDP datagram to the address and port of an entry {Proto: 17, Addr,
// Port: the GUE port} (GUE). Only IPv4 addresses: the director handles no
// IPv6 tunnel errors (ICMPv6), and the classifier does not look for them.
type Match struct {
	Services, Replies []Endpoint
	VIPs              []netip.Addr
	Tunnels           []Endpoint
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

// tunnelKey validates a Tunnels entry and returns its key: (4, 4, 0,
// addr) for IPIP, (4, 17, GUE port, addr) for GUE.
func tunnelKey(e Endpoint) (key, error) {
	if !e.Addr.IsValid() {
		return key{}, fmt.Errorf("tunnel %v: no address", e)
	}
	if !e.Addr.Is4() {
		return key{}, fmt.Errorf("tunnel %v: IPv4 addresses only (tunnel errors are ICMPv4)", e)
	}
	switch {
	case e.Proto == protoIPIP && e.Port != 0:
		return key{}, fmt.Errorf("tunnel %v: IPIP entries have port 0", e)
	case e.Proto == protoUDP && e.Port == 0:
		return key{}, fmt.Errorf("tunnel %v: GUE (UDP) entries need the tunnel port", e)
	case e.Proto != protoIPIP && e.Proto != protoUDP:
		return key{}, fmt.Errorf("tunnel %v: protocol %d is not IPIP (4) or UDP (17, GUE)", e, e.Proto)
	}
	return makeKey(e.Proto, e.Addr, e.Port), nil
}

// keySets are the contents of the five match maps.
type keySets struct {
	services, replies, vips, fragSrcs, tunnels map[key]struct{}
}

// keySets turns a Match into the key sets, validating every entry.
func (m *Match) keySets(capacity int) (keySets, error) {
	var ks keySets
	var err error
	ks.services, err = endpointSet("service", m.Services, capacity)
	if err != nil {
		return keySets{}, err
	}
	ks.replies, err = endpointSet("reply", m.Replies, capacity)
	if err != nil {
		return keySets{}, err
	}
	ks.vips = make(map[key]struct{}, len(m.VIPs))
	for _, a := range m.VIPs {
		if !a.IsValid() {
			return keySets{}, fmt.Errorf("steer: VIP: invalid (zero) address")
		}
		ks.vips[vipKey(a.WithZone(""))] = struct{}{}
	}
	if len(ks.vips) > capacity {
		return keySets{}, fmt.Errorf("steer: %d VIPs exceed the maps' capacity of %d", len(ks.vips), capacity)
	}
	ks.fragSrcs = fragSrcSet(ks.replies) // no larger than replies
	ks.tunnels = make(map[key]struct{}, len(m.Tunnels))
	for _, e := range m.Tunnels {
		k, err := tunnelKey(e)
		if err != nil {
			return keySets{}, fmt.Errorf("steer: %w", err)
		}
		ks.tunnels[k] = struct{}{}
	}
	if len(ks.tunnels) > capacity {
		return keySets{}, fmt.Errorf("steer: %d tunnel entries exceed the maps' capacity of %d", len(ks.tunnels), capacity)
	}
	return ks, nil
}

// fragSrcSet derives the fragment sources from the reply keys: (proto,
// address, port 0) of every TCP, UDP or SCTP key. They live in a map of
// their own because a port-0 key in Replies would select every packet of
// that protocol from the real server (its own connections through a
// director that is its gateway too), not only the fragments of replies.
func fragSrcSet(replies map[key]struct{}) map[key]struct{} {
	s := make(map[key]struct{}, len(replies))
	for k := range replies {
		switch k[1] {
		case protoTCP, protoUDP, protoSCTP:
			k[2], k[3] = 0, 0
			s[k] = struct{}{}
		}
	}
	return s
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
