// Package sim is an in-memory network for testing the director end to end
// without root: virtual clients, a director slot and virtual real servers
// on one simulated L2 segment, driven by a deterministic event queue on a
// virtual clock. It is what the director's end-to-end tests and the
// `vsd sim` command run; 10,000 client sessions over 10 virtual minutes
// take about a second of real time.
//
// The pieces:
//
//   - Network: the switch (frames are delivered by destination MAC one
//     fixed latency later), a directory standing in for ARP/NDP (Resolve;
//     VIPs resolve to the director), the event queue (Run, Step, Schedule;
//     ties run in insertion order) and a seeded PCG generator, so a run is
//     reproducible for a seed. Frame buffers are pooled.
//   - Director slot (AddDirector): frames that reach the director's MACs at
//     the same instant are handed to Director.Process in batches (at most
//     MaxBatch) with link.Headroom bytes of headroom; Tx verdicts are
//     forwarded by their rewritten destination MAC, Pass and Drop counted.
//   - Clients (AddClient, StartSession, or a Scenario): IPv4 and IPv6 TCP
//     with a real minimal state machine (SYN retransmission with backoff,
//     data retransmission, both close orders, TIME_WAIT, RST) and UDP,
//     running HTTP/1.0, HTTP/1.1 keep-alive, telnet-like, FTP-like and UDP
//     request/response sessions. Every received frame is decoded with
//     packet.Decode and its checksums verified.
//   - Real servers (AddServer) in NAT, DR or TUN (IPIP and GUE) mode: a
//     minimal TCP server and UDP echo that write their name and the client
//     address they saw into every answer, log client addresses, and can be
//     stopped, resumed and restarted.
//   - Report: connections opened / completed / failed, per-server share,
//     "switches" (a later answer of a connection from another server), and
//     Problems(): the invariants a correct director never breaks.
//
// Not for: measuring the director's real packet rate (the sim is
// single-threaded and spends most of its time in its own hosts), or
// anything beyond one segment (no routing, no ARP packets, no
// fragmentation, no congestion control). Hosts are not safe for concurrent
// use; drive a Network from one goroutine.
package sim
