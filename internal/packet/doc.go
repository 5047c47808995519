// Package packet holds typed views over packet bytes (Ethernet, IPv4, IPv6,
// TCP, UDP, SCTP, ICMP/ICMPv6, GUE), the Parsed summary that Decode fills
// once per frame, Internet checksum arithmetic with RFC 1624 incremental
// updates, and builders (Frame, AppendFrame, the *Fields structs) for tests,
// the simulated network and the few packets the director generates.
//
// It exists for vsd's allocation-free datapath: a worker owns one Parsed
// and its buffers, calls Decode, and rewrites headers in place through the
// views and their ...WithChecksum setters. Decode and the views allocate
// nothing and never return error values; malformed input is reported as a
// Result.
//
// It is not a general packet library. It decodes only what the director
// needs (one VLAN tag, IPv4, IPv6 with up to 8 extension headers, the first
// transport header, GUE), keeps 16-bit offsets (frames up to 64 KiB), and
// does not reassemble fragments or check every protocol rule. Use
// github.com/google/gopacket (as the tests do) for anything else.
package packet
