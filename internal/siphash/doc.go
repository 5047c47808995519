// Package siphash is SipHash (Aumasson and Bernstein), the keyed hash the
// kernel uses where an attacker must not be able to predict or steer a
// hash: the Maglev scheduler's hsiphash and the SYN proxy's cookies. Use it
// for keyed hashing of short inputs; for unkeyed table hashing a cheaper
// mix will do.
package siphash
