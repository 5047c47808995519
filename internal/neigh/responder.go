package neigh

import (
	"encoding/binary"
	"net/netip"

	"github.com/vsd/vsd/internal/packet"
)

// Wire constants (RFC 826, RFC 4861).
const (
	etherTypeARP = 0x0806

	arpHeaderLen = 28
	arpRequest   = 1
	arpReply     = 2

	ipv6HeaderLen = 40
	icmpNS        = 135
	icmpNA        = 136
	nsMinLen      = 24 // ICMPv6 header + target address
	naLen         = 32 // header + target + target link-layer address option

	optSourceLL = 1
	optTargetLL = 2

	naSolicited = 1 << 30
	naOverride  = 1 << 29

	arpFrameLen = 60 // 14 + 28, padded to the Ethernet minimum
	naFrameLen  = packet.EthernetHeaderLen + ipv6HeaderLen + naLen
)

var (
	broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC  = [6]byte{0x33, 0x33, 0, 0, 0, 1}
	allNodes     = [16]byte{0: 0xff, 1: 0x02, 15: 0x01}
)

// Responder answers ARP requests and neighbour solicitations for the VIPs
// announced on each port. It is immutable: build a new one when the VIPs
// or ports change. Answer is safe for concurrent use.
type Responder struct {
	ports []respPort
}

type respPort struct {
	mac  [6]byte
	v4   map[[4]byte]struct{}
	v6   map[[16]byte]struct{}
	vips []netip.Addr // in announcement order, without duplicates
}

// NewResponder returns a Responder for ports (director order) answering for
// the VIPs of ann. Entries whose Port is out of range, or whose VIP is
// invalid, multicast or unspecified, are ignored (OnLink makes none).
func NewResponder(ports []Port, ann []Announce) *Responder {
	r := &Responder{ports: make([]respPort, len(ports))}
	for i, p := range ports {
		r.ports[i] = respPort{mac: p.MAC, v4: map[[4]byte]struct{}{}, v6: map[[16]byte]struct{}{}}
	}
	for _, a := range ann {
		if a.Port < 0 || a.Port >= len(r.ports) || !a.VIP.IsValid() {
			continue
		}
		v := a.VIP.Unmap()
		if v.IsMulticast() || v.IsUnspecified() {
			continue
		}
		p := &r.ports[a.Port]
		if v.Is4() {
			if _, dup := p.v4[v.As4()]; dup {
				continue
			}
			p.v4[v.As4()] = struct{}{}
		} else {
			if _, dup := p.v6[v.As16()]; dup {
				continue
			}
			p.v6[v.As16()] = struct{}{}
		}
		p.vips = append(p.vips, v)
	}
	return r
}

// Answer turns the frame buf[off:off+n], received on port, into the reply
// in place when it is
//
//   - an ARP request (Ethernet, IPv4, optionally one 802.1Q tag) for a VIP
//     announced on port, sent to the broadcast address or the port's MAC,
//     that is not a gratuitous announcement (sender address = target) and
//     not one of the port's own frames: the reply is an ARP reply from the
//     port's MAC to the requester, same length;
//   - an ICMPv6 neighbour solicitation (no extension headers, hop limit
//     255, valid checksum, code 0, well-formed options, RFC 4861 §7.1.1)
//     for such a VIP: the reply is a neighbour advertisement from the VIP
//     with the target link-layer address option, to the solicitor with the
//     Solicited and Override flags, or, for a duplicate address detection
//     probe (unspecified source), to all-nodes with only Override
//     (RFC 4861 §7.2.4).
//
// It returns the reply's length (the NA may be longer than the request;
// buf up to len(buf) is used) and true, or false with buf untouched.
// A VLAN tag is kept. No allocation.
func (r *Responder) Answer(buf []byte, off, n int, port int) (newLen int, ok bool) {
	if r == nil || port < 0 || port >= len(r.ports) || off < 0 || n < 0 || off > len(buf) || n > len(buf)-off {
		return 0, false
	}
	f := buf[off : off+n]
	eth := packet.Ethernet(f)
	if !eth.IsValid() {
		return 0, false
	}
	p := &r.ports[port]
	switch eth.EtherType() {
	case etherTypeARP:
		return p.answerARP(f)
	case packet.EtherTypeIPv6:
		return p.answerNS(buf[off:], n)
	}
	return 0, false
}

func (p *respPort) answerARP(f []byte) (int, bool) {
	eth := packet.Ethernet(f)
	hl := eth.HeaderLen()
	a := f[hl:]
	if len(a) < arpHeaderLen || len(p.v4) == 0 {
		return 0, false
	}
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != packet.EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:8]) != arpRequest {
		return 0, false
	}
	sha := [6]byte(a[8:14])
	spa := [4]byte(a[14:18])
	tpa := [4]byte(a[24:28])
	if _, ok := p.v4[tpa]; !ok || spa == tpa {
		return 0, false
	}
	if sha == p.mac || sha[0]&1 != 0 || sha == ([6]byte{}) {
		return 0, false
	}
	if d := eth.Destination(); d != broadcastMAC && d != p.mac {
		return 0, false
	}
	eth.SetDestination(sha)
	eth.SetSource(p.mac)
	binary.BigEndian.PutUint16(a[6:8], arpReply)
	copy(a[8:14], p.mac[:])
	copy(a[14:18], tpa[:])
	copy(a[18:24], sha[:])
	copy(a[24:28], spa[:])
	return len(f), true
}

// answerNS handles an IPv6 frame at the start of b, n bytes long; b
// extends to the end of the caller's buffer.
func (p *respPort) answerNS(b []byte, n int) (int, bool) {
	if len(p.v6) == 0 {
		return 0, false
	}
	eth := packet.Ethernet(b[:n])
	hl := eth.HeaderLen()
	ip := b[hl:n]
	if len(ip) < ipv6HeaderLen || ip[0]>>4 != 6 || ip[6] != uint8(packet.ProtoICMPv6) || ip[7] != 255 {
		return 0, false
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if plen < nsMinLen || plen > len(ip)-ipv6HeaderLen {
		return 0, false
	}
	m := ip[ipv6HeaderLen : ipv6HeaderLen+plen]
	if m[0] != icmpNS || m[1] != 0 {
		return 0, false
	}
	tgt := [16]byte(m[8:24])
	if _, ok := p.v6[tgt]; !ok {
		return 0, false
	}
	src := [16]byte(ip[8:24])
	dst := [16]byte(ip[24:40])
	if src[0] == 0xff {
		return 0, false
	}
	snm := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: tgt[13], 14: tgt[14], 15: tgt[15]}
	dad := src == [16]byte{}
	if dst != snm && (dad || dst != tgt) {
		return 0, false
	}
	hasSLL := false
	for o := m[nsMinLen:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return 0, false
		}
		if o[0] == optSourceLL {
			hasSLL = true
		}
		o = o[int(o[1])*8:]
	}
	if dad && hasSLL {
		return 0, false
	}
	smac := eth.Source()
	if smac[0]&1 != 0 || smac == p.mac {
		return 0, false
	}
	if d := eth.Destination(); d != p.mac && d != [6]byte{0x33, 0x33, dst[12], dst[13], dst[14], dst[15]} {
		return 0, false
	}
	if !packet.ICMP(m).IsChecksumValid(packet.PseudoSum(true, &src, &dst, packet.ProtoICMPv6, plen)) {
		return 0, false
	}
	need := hl + ipv6HeaderLen + naLen
	if need > len(b) {
		return 0, false
	}
	// Everything needed from the request is in locals now.
	rdst, rmac, flags := src, smac, uint32(naSolicited|naOverride)
	if dad {
		rdst, rmac, flags = allNodes, allNodesMAC, naOverride
	}
	g := b[:need]
	e := packet.Ethernet(g)
	e.SetDestination(rmac)
	e.SetSource(p.mac)
	writeNA(g[hl:], &tgt, &rdst, p.mac, flags)
	return need, true
}

// writeNA writes an IPv6 header and a neighbour advertisement for target
// from target to dst, with a target link-layer address option, into
// b[:ipv6HeaderLen+naLen].
func writeNA(b []byte, target, dst *[16]byte, mac [6]byte, flags uint32) {
	ip := b[:ipv6HeaderLen+naLen]
	binary.BigEndian.PutUint32(ip[0:4], 6<<28)
	binary.BigEndian.PutUint16(ip[4:6], naLen)
	ip[6] = uint8(packet.ProtoICMPv6)
	ip[7] = 255
	copy(ip[8:24], target[:])
	copy(ip[24:40], dst[:])
	m := ip[ipv6HeaderLen:]
	m[0], m[1] = icmpNA, 0
	binary.BigEndian.PutUint32(m[4:8], flags)
	copy(m[8:24], target[:])
	m[24], m[25] = optTargetLL, 1
	copy(m[26:32], mac[:])
	packet.ICMP(m).UpdateChecksum(packet.PseudoSum(true, target, dst, packet.ProtoICMPv6, naLen))
}

// Announcements returns a gratuitous ARP (request form: sender and target
// address the VIP, to broadcast) for every IPv4 VIP and an unsolicited
// neighbour advertisement (to ff02::1, Override flag) for every IPv6 VIP
// announced on port, in the order they were given, untagged. The frames
// are appended to dst[:0] (which is reused when it has room) and returned
// as sub-slices of it. Nil for a port out of range. Control path: it may
// allocate.
func (r *Responder) Announcements(port int, dst []byte) [][]byte {
	if r == nil || port < 0 || port >= len(r.ports) {
		return nil
	}
	p := &r.ports[port]
	buf := dst[:0]
	ends := make([]int, 0, len(p.vips))
	for _, v := range p.vips {
		if v.Is4() {
			buf = appendGARP(buf, p.mac, v.As4())
		} else {
			buf = appendUnsolicitedNA(buf, p.mac, v.As16())
		}
		ends = append(ends, len(buf))
	}
	out := make([][]byte, len(ends))
	start := 0
	for i, e := range ends {
		out[i] = buf[start:e:e]
		start = e
	}
	return out
}

func appendGARP(buf []byte, mac [6]byte, vip [4]byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, arpFrameLen)...)
	f := buf[start:]
	eth := packet.Ethernet(f)
	eth.SetDestination(broadcastMAC)
	eth.SetSource(mac)
	binary.BigEndian.PutUint16(f[12:14], etherTypeARP)
	a := f[packet.EthernetHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], packet.EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], arpRequest)
	copy(a[8:14], mac[:])
	copy(a[14:18], vip[:])
	copy(a[24:28], vip[:])
	return buf
}

func appendUnsolicitedNA(buf []byte, mac [6]byte, vip [16]byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, naFrameLen)...)
	f := buf[start:]
	eth := packet.Ethernet(f)
	eth.SetDestination(allNodesMAC)
	eth.SetSource(mac)
	binary.BigEndian.PutUint16(f[12:14], packet.EtherTypeIPv6)
	dst := allNodes
	writeNA(f[packet.EthernetHeaderLen:], &vip, &dst, mac, naOverride)
	return buf
}

// Requester returns who asked, from a frame Answer has just turned into
// a reply: the requester's address (datapath layout: IPv4-mapped for
// IPv4) and MAC. ok is false for a reply to a duplicate-address probe
// (sent to all-nodes: nobody to learn) or a frame that is no such reply.
// No allocation.
func Requester(frame []byte) (v6 bool, addr [16]byte, mac [6]byte, ok bool) {
	eth := packet.Ethernet(frame)
	if !eth.IsValid() {
		return false, addr, mac, false
	}
	hl := eth.HeaderLen()
	mac = eth.Destination()
	if mac[0]&1 != 0 {
		return false, addr, mac, false
	}
	switch eth.EtherType() {
	case etherTypeARP:
		a := frame[hl:]
		if len(a) < arpHeaderLen || binary.BigEndian.Uint16(a[6:8]) != arpReply {
			return false, addr, mac, false
		}
		addr = [16]byte{10: 0xff, 11: 0xff, 12: a[24], 13: a[25], 14: a[26], 15: a[27]}
		if a[24]|a[25]|a[26]|a[27] == 0 { // the answer to an ARP probe (sender 0.0.0.0)
			return false, addr, mac, false
		}
		return false, addr, mac, true
	case packet.EtherTypeIPv6:
		ip := frame[hl:]
		if len(ip) < ipv6HeaderLen+naLen || ip[6] != uint8(packet.ProtoICMPv6) || ip[ipv6HeaderLen] != icmpNA {
			return false, addr, mac, false
		}
		addr = [16]byte(ip[24:40])
		if addr[0] == 0xff || addr == ([16]byte{}) {
			return false, addr, mac, false
		}
		return true, addr, mac, true
	}
	return false, addr, mac, false
}
