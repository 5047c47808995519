// Package flood is vsflood: a flood generator for testing vsd under attack,
// the equivalent of the LVS HOWTO's testlvs. It sends raw IPv4 or IPv6
// frames (TCP SYNs, SYN-then-ACK pairs that fake handshakes, or UDP
// datagrams) from a range of spoofed source addresses and ports to one
// VIP:PORT, through a TPACKET_V2 AF_PACKET TX ring, paced by a token bucket
// or as fast as the kernel takes them.
//
// Use it only in test beds: Open refuses any interface except the loopback
// or one inside a network namespace other than the initial one, and needs
// CAP_NET_RAW. Other packages' tests drive it through Open and
// (*Flooder).Run (open inside netns.NS.Do, run anywhere); cmd/vsflood is
// the command line (Main).
//
// Not for measuring vsd's own forwarding rate with realistic traffic (the
// frames are minimal and never answer anything): use internal/benchlab for
// that.
package flood
