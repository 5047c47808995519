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
// From a shell, inside a namespace:
//
//	ip netns exec NS vsflood --dev veth0 --src 10.0.0.0/8 --dst 10.99.1.1:80 \
//	    --kind syn --rate 20000 --duration 10s
//
// --src takes a prefix, FIRST-LAST or one address (IPv4 or IPv6); sources
// are used in order (--random: at random), the first --srcnum of them;
// --sport FIRST-LAST cycles the ports round by round (default: one port per
// source, 1024 + index mod 64512). --rate is PPS (a token bucket refilled
// per batch) or max; --packets and/or --duration (at most 1h) bound the
// run. The destination MAC is --dst-mac or the next hop's from the
// neighbour table (one UDP datagram to its port 9 makes the kernel resolve
// it when needed). Progress goes to stderr once a second, the summary line
// to stdout; exit status 2 for bad input, refusal or missing privilege.
//
// The safety rule compares the calling thread's /proc/thread-self/ns/net
// with /proc/1/ns/net; where pid 1's is unreadable (a supervisor with more
// capabilities, as on the project's VMs), with kthreadd's /proc/2/ns/net
// (kernel threads live in the initial namespace); with neither, only the
// loopback is allowed.
//
// Not for measuring vsd's own forwarding rate with realistic traffic (the
// frames are minimal and never answer anything): use internal/benchlab for
// that.
package flood
