// Package afpacket is the AF_PACKET fallback datapath: a link.Queue over
// Linux packet sockets, for hosts or interfaces where an XDP program cannot
// be attached (and so AF_XDP cannot be used).
//
// Per interface (port) a Queue holds two sockets:
//
//   - RX: a TPACKET_V3 ring (PACKET_RX_RING), bound with ETH_P_ALL to the
//     interface, PACKET_IGNORE_OUTGOING set so neither our own transmissions
//     nor the host's appear, optionally in a PACKET_FANOUT hash group so that
//     several Queues (one per worker) share an interface flow by flow.
//   - TX: a TPACKET_V2 ring (PACKET_TX_RING) with PACKET_QDISC_BYPASS and
//     PACKET_LOSS, kicked with one sendto(MSG_DONTWAIT) per port per batch.
//
// Read copies every frame out of the ring into a buffer the Queue owns, at
// offset link.Headroom, re-inserting an 802.1Q tag the kernel stripped, and
// hands each ring block back to the kernel as soon as its frames are copied.
// So the director may grow a frame in place, and Write never holds ring
// memory. A frame the kernel marks TP_STATUS_CSUMNOTREADY (sent by a local
// socket through a veth, its TCP/UDP checksum left to offload that never
// happens) gets its checksum completed in the copy, so a forwarded frame
// is valid on the wire.
//
// The kernel hands an RX block over when it is full or BlockTimeout after
// it was opened, whichever comes first; at low rates each block holds only
// a few frames, so a ring can absorb a reader stall of only about
// Blocks × BlockTimeout (32ms with the defaults) before it drops (counted
// in Stats.RxDropped). GSO/GRO super-frames from local senders over veth
// (up to 64 KiB) do not fit BufSize and are skipped (DriverStats.RxOversize): turn off TSO,
// GSO and GRO on veths that feed a Queue. The copy costs about as much as the rest of the per-packet work
// in user space; it is the price of AF_PACKET (the ring block is shared by
// many frames and cannot be lent out frame by frame).
//
// When not to use it: where XDP attaches, use the AF_XDP driver. AF_PACKET
// is a tap: the kernel stack still receives every frame a Queue reads, so a
// separate ingress guard (tc BPF or nftables netdev) must keep service
// traffic away from the host stack, and Pass verdicts need no action here.
// Frames are copied twice (ring → buffer → TX ring), and every Read that
// finds nothing waits in ppoll.
//
// Linux only; Open fails elsewhere. Opening needs CAP_NET_RAW.
package afpacket
