package sim

import (
	"net/netip"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
)

// HostCounters count what one host saw. Every field but Sent, Received and
// the informational ones at the end is a sign of trouble somewhere.
type HostCounters struct {
	Sent     uint64 // frames put on the wire
	Received uint64 // frames that arrived

	BadChecksum uint64 // IPv4 header or transport checksum wrong (outer or inner)
	Malformed   uint64 // packet.Decode (or the tunnel decoder) rejected the frame
	Unexpected  uint64 // not addressed to this host in its mode, no matching connection, or a segment TCP cannot accept
	NoRoute     uint64 // a reply could not be sent: no MAC for the next hop

	Dropped      uint64 // arrived while the host was stopped (not trouble: the test stopped it)
	Duplicates   uint64 // retransmitted or out-of-window TCP segments (re-ACKed)
	ICMP         uint64 // ICMP / ICMPv6 messages received
	Decapsulated uint64 // IPIP or GUE packets unwrapped (TUN servers)
	ResetsSent   uint64 // RSTs sent
}

func (c *HostCounters) add(o *HostCounters) {
	c.Sent += o.Sent
	c.Received += o.Received
	c.BadChecksum += o.BadChecksum
	c.Malformed += o.Malformed
	c.Unexpected += o.Unexpected
	c.NoRoute += o.NoRoute
	c.Dropped += o.Dropped
	c.Duplicates += o.Duplicates
	c.ICMP += o.ICMP
	c.Decapsulated += o.Decapsulated
	c.ResetsSent += o.ResetsSent
}

// host is what every kind of host shares: its place on the segment, its
// inbox, its counters, and scratch space for building and decoding frames.
type host struct {
	net    *Network
	id     int32
	name   string
	mac    [6]byte
	inbox  frameFIFO
	pollAt clock.Time // arrival time of the last poll scheduled
	cnt    HostCounters

	client   *Client
	server   *Server
	director *DirectorHost

	p, inner packet.Parsed

	fr   packet.Frame
	ip4  packet.IPv4Fields
	ip6  packet.IPv6Fields
	tcp  packet.TCPFields
	udp  packet.UDPFields
	ipID uint16
	// tcpOpt is sent in every TCP segment of this host (servers: their
	// identity option).
	tcpOpt []byte
}

// poll delivers every frame that has arrived by now.
func (h *host) poll() {
	if h.director != nil {
		h.director.poll()
		return
	}
	n := h.net
	for fb := h.inbox.popDue(n.now); fb != nil; fb = h.inbox.popDue(n.now) {
		h.cnt.Received++
		if n.tap != nil {
			n.tap(h, fb.bytes())
		}
		switch {
		case h.client != nil:
			h.client.receive(fb.bytes())
		case h.server != nil:
			h.server.receive(fb.bytes())
		}
		n.putBuf(fb)
	}
}

// decode decodes frame into h.p and verifies its checksums, counting a
// failure. okZeroUDP accepts a zero UDP checksum over IPv6 for port
// zeroUDPPort (GUE tunnels, RFC 6935).
func (h *host) decode(frame []byte, zeroUDPPort uint16) bool {
	p := &h.p
	if packet.Decode(frame, p) != packet.OK {
		h.cnt.Malformed++
		return false
	}
	return h.verify(frame, p, zeroUDPPort)
}

// verify checks the checksums of a decoded packet (offsets relative to b).
func (h *host) verify(b []byte, p *packet.Parsed, zeroUDPPort uint16) bool {
	if !p.V6 && !packet.VerifyIPv4HeaderChecksum(b, p) {
		h.cnt.BadChecksum++
		return false
	}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP, packet.ProtoICMPv6:
		if p.Flags&packet.FlagFragment != 0 {
			h.cnt.Unexpected++ // nobody here fragments
			return false
		}
		if !p.Flags.Has(packet.FlagL4) {
			h.cnt.Malformed++
			return false
		}
		if p.Proto == packet.ProtoUDP && p.V6 && zeroUDPPort != 0 && p.DstPort == zeroUDPPort &&
			packet.UDP(b[p.L4Off:p.Len]).Checksum() == 0 {
			return true
		}
		if !packet.VerifyL4Checksum(b, p) {
			h.cnt.BadChecksum++
			return false
		}
	}
	return true
}

// setIP prepares the scratch frame's IP header for a packet src → dst.
func (h *host) setIP(src, dst netip.Addr) {
	h.fr = packet.Frame{}
	if src.Is4() {
		h.ipID++
		h.ip4 = packet.IPv4Fields{ID: h.ipID, DF: true, TTL: 64, Src: src, Dst: dst}
		h.fr.IPv4 = &h.ip4
	} else {
		h.ip6 = packet.IPv6Fields{HopLimit: 64, Src: src, Dst: dst}
		h.fr.IPv6 = &h.ip6
	}
}

// emit builds the scratch frame into a pooled buffer and transmits it to
// dstMAC.
func (h *host) emit(dstMAC [6]byte) {
	n := h.net
	h.fr.Ethernet = packet.EthernetFields{Dst: dstMAC, Src: h.mac}
	fb := n.getBuf()
	out := packet.AppendFrame(fb.b[:link.Headroom], &h.fr)
	if len(out) > len(fb.b) {
		// AppendFrame had to reallocate: the sim built a frame larger than
		// its buffers, which is a bug in the sim itself.
		panic("sim: built a frame larger than MaxFrame")
	}
	fb.off, fb.n = link.Headroom, len(out)-link.Headroom
	h.cnt.Sent++
	n.transmit(fb)
}

// sendTCP sends one TCP segment.
func (h *host) sendTCP(dstMAC [6]byte, src, dst netip.AddrPort, seq, ack uint32, flags packet.TCPFlags, payload []byte) {
	h.setIP(src.Addr(), dst.Addr())
	if flags&packet.TCPAck == 0 {
		ack = 0
	}
	h.tcp = packet.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 65535, Options: h.tcpOpt}
	h.fr.TCP = &h.tcp
	h.fr.Payload = payload
	if flags&packet.TCPRst != 0 {
		h.cnt.ResetsSent++
	}
	h.emit(dstMAC)
}

// sendUDP sends one UDP datagram.
func (h *host) sendUDP(dstMAC [6]byte, src, dst netip.AddrPort, payload []byte) {
	h.setIP(src.Addr(), dst.Addr())
	h.udp = packet.UDPFields{SrcPort: src.Port(), DstPort: dst.Port()}
	h.fr.UDP = &h.udp
	h.fr.Payload = payload
	h.emit(dstMAC)
}

// tcpHeader returns seq, ack of the TCP segment p describes in b.
func tcpHeader(b []byte, p *packet.Parsed) (seq, ack uint32) {
	t := packet.TCP(b[p.L4Off:p.PayOff])
	return t.Seq(), t.Ack()
}

// Server identity option: every TCP segment a server sends carries a
// shared experimental option (RFC 6994: kind 253, length 6, ExID) holding
// the server's number, so a client can tell which server sent any segment
// (a SYN+ACK or RST included) and spot a connection that switched servers.
// Directors pass TCP options through untouched, as IPVS does.
const (
	optKindExp = 253
	optExID    = 0x5653 // "VS"
)

// serverOption returns the option bytes for server number i (padded to 8).
func serverOption(i int) []byte {
	id := uint16(i + 1)
	return []byte{1, 1, optKindExp, 6, optExID >> 8, optExID & 0xff, byte(id >> 8), byte(id)}
}

// serverID finds the identity option in the TCP header p describes and
// returns the server number (-1 if absent).
func serverID(b []byte, p *packet.Parsed) int {
	opts := b[p.L4Off+packet.TCPMinHeaderLen : p.PayOff]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // end of options
			return -1
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return -1
		}
		if opts[i] == optKindExp && opts[i+1] == 6 && int(opts[i+2])<<8|int(opts[i+3]) == optExID {
			return int(opts[i+4])<<8 | int(opts[i+5]) - 1
		}
		i += int(opts[i+1])
	}
	return -1
}

// addrOf converts a 16-byte datapath address to a netip.Addr of the right
// family.
func addrOf(a [16]byte, v6 bool) netip.Addr {
	ip := netip.AddrFrom16(a)
	if !v6 {
		ip = ip.Unmap()
	}
	return ip
}

// connKey identifies a connection from the receiving host's point of view.
type connKey struct {
	local, remote [16]byte
	lport, rport  uint16
	proto         packet.Proto
}

// keyOf returns the key of an arriving packet (local = its destination).
func keyOf(p *packet.Parsed) connKey {
	return connKey{local: p.Dst, remote: p.Src, lport: p.DstPort, rport: p.SrcPort, proto: p.Proto}
}

// keyFor returns the key of a connection local → remote.
func keyFor(proto packet.Proto, local, remote netip.AddrPort) connKey {
	return connKey{local: local.Addr().As16(), remote: remote.Addr().As16(), lport: local.Port(), rport: remote.Port(), proto: proto}
}

// nextHop returns the MAC a packet for addr is sent to.
func (h *host) nextHop(addr netip.Addr) ([6]byte, bool) {
	if h.server != nil {
		return h.server.nextHop(addr)
	}
	return h.net.Resolve(addr)
}
