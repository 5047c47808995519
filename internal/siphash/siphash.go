package siphash

import (
	"encoding/binary"
	"math/bits"
)

// Key is a 128-bit SipHash key as two 64-bit words (the kernel's
// hsiphash_key_t on a 64-bit machine).
type Key struct{ K0, K1 uint64 }

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

// Sum is SipHash-c-d of msg with the 64-bit result: c=2, d=4 is
// SipHash-2-4, c=1, d=3 the kernel's hsiphash on 64-bit machines. It
// allocates nothing.
func (k Key) Sum(msg []byte, c, d int) uint64 {
	v0, v1, v2, v3 := k.K0^sipC0, k.K1^sipC1, k.K0^sipC2, k.K1^sipC3
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

// Hash4 is the kernel's hsiphash(&v, 4, key) on a little-endian 64-bit
// machine: SipHash-1-3 of the four bytes of v, truncated to 32 bits.
func (k Key) Hash4(v uint32) uint32 {
	b := uint64(4)<<56 | uint64(v)
	v0, v1, v2, v3 := k.K0^sipC0, k.K1^sipC1, k.K0^sipC2, k.K1^sipC3^b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
