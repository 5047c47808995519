package packet

import (
	"math/rand/v2"
	"testing"
)

// TestFoldMatchesLoop compares the two-step Fold with folding until no
// carry is left, on the edges and on random sums.
func TestFoldMatchesLoop(t *testing.T) {
	loop := func(s uint32) uint16 {
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return uint16(s)
	}
	in := []uint32{0, 1, 0xffff, 0x10000, 0x1fffe, 0x1ffff, 0xfffeffff, 0xffff0000, 0xffffffff}
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 10000; i++ {
		in = append(in, r.Uint32())
	}
	for _, s := range in {
		if got, want := Fold(s), loop(s); got != want {
			t.Fatalf("Fold(%#x) = %#x, want %#x", s, got, want)
		}
	}
}
