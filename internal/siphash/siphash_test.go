package siphash

import "testing"

// The reference vectors of the SipHash paper's appendix (key 00..0f,
// message 00..len-1): SipHash-2-4 of the empty and the 8-byte message.
func TestReferenceVectors(t *testing.T) {
	k := Key{K0: 0x0706050403020100, K1: 0x0f0e0d0c0b0a0908}
	msg := []byte{0, 1, 2, 3, 4, 5, 6, 7}
	if got := k.Sum(nil, 2, 4); got != 0x726fdb47dd0e0e31 {
		t.Errorf("SipHash-2-4(empty) = %#x", got)
	}
	if got := k.Sum(msg, 2, 4); got != 0x93f5f5799a932462 {
		t.Errorf("SipHash-2-4(00..07) = %#x", got)
	}
	if got, want := k.Hash4(0x03020100), uint32(k.Sum(msg[:4], 1, 3)); got != want {
		t.Errorf("Hash4 = %#x, Sum(1,3) = %#x", got, want)
	}
}
