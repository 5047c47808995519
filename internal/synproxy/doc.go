// Package synproxy holds the pieces of the SYN proxy for NAT services
// that need no connection state: SYN cookies (the director answers a
// client's SYN itself, and recognises the client's ACK as the answer to
// its own SYN+ACK without having kept anything), and the in-place rewrites
// of the packets the proxy sends — the SYN+ACK to the client, the SYN to
// the real server, the ACK that completes the real server's handshake —
// and the sequence-number shift of the connection's later segments.
//
// The cookie carries no TCP options but the MSS (8 values): the proxied
// connection runs without window scaling, SACK and timestamps, as Linux's
// syncookies do when the client has no timestamps. The director (package
// director) decides when to use each piece and keeps the per-connection
// sequence offset in the connection entry.
package synproxy
