// Package benchlab is `make bench-datapath`: a side-by-side benchmark of
// load-balancing datapaths on one throw-away testbed of network namespaces
// (internal/netns). A client namespace runs the load generators (a batched
// AF_PACKET UDP generator of our own, and wrk), three real-server
// namespaces run nginx and count UDP arrivals, and a director namespace in
// between runs one candidate at a time: plain kernel routing, kernel
// nftables DNAT (`numgen inc mod 3`), vsd on AF_XDP, vsd on AF_PACKET, and
// HAProxy in TCP mode. Generator and real servers are pinned to CPU0, all
// director work (processes by taskset, veth receive by RPS) to CPU1, and
// the director's cost is CPU1's whole busy time from /proc/stat.
//
// The figures: UDP packets/s at saturation (with the generator's own
// rate), director CPU per packet at a fixed offered rate, and with wrk
// against nginx the director CPU per request (keep-alive) and per
// connection (`Connection: close`), requests/s, p99 latency and failed
// requests; each a median of several runs with min–max.
//
// The pure parts (wrk output parsing, medians, frame building, CPU
// arithmetic, the report) work anywhere; Run needs root, a 2-CPU or larger
// machine, and the tools nginx, wrk, nft, ethtool, haproxy and taskset.
//
// Not for: absolute performance claims about real NICs (veth in one VM
// measures wake-ups and copies between two virtual CPUs), or for tests
// that must be quick and deterministic — it is a measurement, with ±10 %
// run-to-run noise on this machine kind.
package benchlab
