package sched

import (
	"encoding/binary"
	"math/bits"
)

// sipKey is a 128-bit SipHash key as two 64-bit words (the kernel's
// hsiphash_key_t on a 64-bit machine).
type sipKey struct{ k0, k1 uint64 }

// SipHash initialisation constants ("somepseudorandomlygeneratedbytes").
const (
	sipC0 = 0x736f6d6570736575
	sipC1 = 0x646f72616e646f6d
	sipC2 = 0x6c7967656e657261
	sipC3 = 0x7465646279746573
)

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sum is SipHash-c-d of msg with the 64-bit result. The schedulers use
// c=1, d=3 through hash4; sum exists so the construction can be checked
// against published vectors for both SipHash-2-4 and SipHash-1-3.
func (k sipKey) sum(msg []byte, c, d int) uint64 {
	v0, v1, v2, v3 := k.k0^sipC0, k.k1^sipC1, k.k0^sipC2, k.k1^sipC3
	b := uint64(len(msg)) << 56
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
	}
	for i, x := range msg {
		b |= uint64(x) << (8 * i)
	}
	v3 ^= b
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= b
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// hash4 is the kernel's hsiphash(&v, 4, key) on a little-endian 64-bit
// machine: SipHash-1-3 of the four bytes of v, truncated to 32 bits.
func (k sipKey) hash4(v uint32) uint32 {
	b := uint64(4)<<56 | uint64(v)
	v0, v1, v2, v3 := k.k0^sipC0, k.k1^sipC1, k.k0^sipC2, k.k1^sipC3^b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
