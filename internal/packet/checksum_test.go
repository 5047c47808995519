package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestSumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(0, b)); got != 0xddf2 {
		t.Errorf("Fold(Sum) = %#x, want 0xddf2", got)
	}
	if got := Checksum(0, b); got != 0x220d {
		t.Errorf("Checksum = %#x, want 0x220d", got)
	}
}

func TestSumOddLengthAndSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 70; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		// A word-by-word reference.
		var ref uint32
		for i := 0; i < n; i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < n {
				w |= uint32(b[i+1])
			}
			ref += w
		}
		if got, want := Fold(Sum(0, b)), Fold(ref); got != want {
			t.Fatalf("n=%d: Fold(Sum) = %#x, want %#x", n, got, want)
		}
		// Splitting at an even offset gives the same sum.
		if n >= 2 {
			k := r.IntN(n/2) * 2
			if got, want := Fold(Sum(Sum(0, b[:k]), b[k:])), Fold(ref); got != want {
				t.Fatalf("n=%d split %d: %#x, want %#x", n, k, got, want)
			}
		}
	}
}

func TestPseudoSum(t *testing.T) {
	src, dst := a16(client4), a16(vip4)
	// IPv4 pseudo-header: src, dst, zero, protocol, length.
	ph := make([]byte, 12)
	copy(ph[0:4], src[12:])
	copy(ph[4:8], dst[12:])
	ph[9] = byte(ProtoTCP)
	binary.BigEndian.PutUint16(ph[10:], 1234)
	if got, want := Fold(PseudoSum(false, &src, &dst, ProtoTCP, 1234)), Fold(Sum(0, ph)); got != want {
		t.Errorf("IPv4 PseudoSum = %#x, want %#x", got, want)
	}
	// IPv6 pseudo-header: src, dst, 32-bit length, 3 zero bytes, next header.
	s6, d6 := a16(client6), a16(vip6)
	ph6 := make([]byte, 40)
	copy(ph6[0:16], s6[:])
	copy(ph6[16:32], d6[:])
	binary.BigEndian.PutUint32(ph6[32:], 70000)
	ph6[39] = byte(ProtoUDP)
	if got, want := Fold(PseudoSum(true, &s6, &d6, ProtoUDP, 70000)), Fold(Sum(0, ph6)); got != want {
		t.Errorf("IPv6 PseudoSum = %#x, want %#x", got, want)
	}
}

// TestIncrementalUpdatesMatchRecomputation applies random RFC 1624 updates
// (16-bit, 32-bit, 4- and 16-byte fields) and checks after each one that
// the updated checksum equals a full recomputation.
func TestIncrementalUpdatesMatchRecomputation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		n := 2 * (10 + r.IntN(40))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		seed := r.Uint32() & 0xffff
		c := Checksum(seed, b)
		for step := 0; step < 50; step++ {
			switch r.IntN(4) {
			case 0:
				off := 2 * r.IntN(n/2)
				old := binary.BigEndian.Uint16(b[off:])
				nw := uint16(r.Uint32())
				if r.IntN(8) == 0 {
					nw = 0 // zero and all-ones words are the interesting corners
				} else if r.IntN(8) == 0 {
					nw = 0xffff
				}
				binary.BigEndian.PutUint16(b[off:], nw)
				c = Update16(c, old, nw)
			case 1:
				off := 2 * r.IntN(n/2-1)
				old := binary.BigEndian.Uint32(b[off:])
				nw := r.Uint32()
				binary.BigEndian.PutUint32(b[off:], nw)
				c = Update32(c, old, nw)
			default:
				l := 4
				if r.IntN(2) == 0 {
					l = 16
				}
				off := 2 * r.IntN((n-l)/2+1)
				old := append([]byte(nil), b[off:off+l]...)
				nw := make([]byte, l)
				for i := range nw {
					nw[i] = byte(r.Uint32())
				}
				copy(b[off:], nw)
				c = UpdateBytes(c, old, nw)
			}
			if want := Checksum(seed, b); c != want {
				t.Fatalf("round %d step %d: incremental %#04x, recomputed %#04x", round, step, c, want)
			}
		}
	}
}

func TestSCTPChecksumReference(t *testing.T) {
	// RFC 3720 B.4: CRC32c of 32 zero bytes is transmitted as aa 36 91 8a.
	// The bitwise reference crc32c must reproduce that vector; SCTPChecksum
	// (hash/crc32, skipping the checksum field) must agree with it.
	var zeros [32]byte
	if got := crc32c(zeros[:]); got != 0x8a9136aa {
		t.Fatalf("reference crc32c(zeros) = %#x, want 0x8a9136aa", got)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 100; i++ {
		b := make([]byte, 16+4*r.IntN(50))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		z := append([]byte(nil), b...)
		clear(z[8:12])
		if got, want := SCTPChecksum(b), crc32c(z); got != want {
			t.Fatalf("SCTPChecksum = %#x, bitwise reference %#x", got, want)
		}
		SCTP(b).UpdateChecksum()
		if !SCTP(b).IsChecksumValid() {
			t.Fatal("UpdateChecksum did not make the packet valid")
		}
		// The field is stored least significant byte first (RFC 4960 App. B).
		c := crc32c(z)
		if b[8] != byte(c) || b[11] != byte(c>>24) {
			t.Fatalf("checksum bytes % x for crc %#x", b[8:12], c)
		}
	}
}

// crc32c is a bitwise CRC32c (reflected polynomial 0x82F63B78), written
// independently of hash/crc32 as a reference.
func crc32c(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}
