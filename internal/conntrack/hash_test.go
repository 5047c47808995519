package conntrack

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

// TestHashDistribution puts 4 keys per bucket from structured key sets and
// checks the bucket counts look like a uniform random assignment (chi-square
// within 6 standard deviations, no long chain).
func TestHashDistribution(t *testing.T) {
	const bits = 12
	const nb = 1 << bits
	const n = 4 * nb
	sets := []struct {
		name string
		key  func(i int) (v6 bool, a [16]byte, port uint16)
	}{
		{"v4 sequential clients", func(i int) (bool, [16]byte, uint16) {
			return false, v4Addr(binary.LittleEndian.Uint32(be32(10<<24 | uint32(i)))), 40000
		}},
		{"v4 clients step 256", func(i int) (bool, [16]byte, uint16) {
			return false, v4Addr(binary.LittleEndian.Uint32(be32(uint32(i) << 8))), 1234
		}},
		{"one client all ports", func(i int) (bool, [16]byte, uint16) {
			return false, addr("198.51.100.7"), uint16(i + 1)
		}},
		{"v4 few clients many ports", func(i int) (bool, [16]byte, uint16) {
			return false, v4Addr(binary.LittleEndian.Uint32(be32(0xc0000200 | uint32(i%16)))), uint16(i / 16)
		}},
		{"v6 sequential", func(i int) (bool, [16]byte, uint16) {
			a := addr("2001:db8::")
			binary.BigEndian.PutUint32(a[12:], uint32(i))
			return true, a, 443
		}},
		{"v6 prefixes", func(i int) (bool, [16]byte, uint16) {
			a := addr("2001:db8::1")
			binary.BigEndian.PutUint32(a[4:], uint32(i))
			return true, a, 443
		}},
		{"v6 one client ports", func(i int) (bool, [16]byte, uint16) {
			return true, addr("2001:db8::42"), uint16(i)
		}},
	}
	tb, _ := newTestTable(t, Config{Bits: bits, MaxEntries: 16, Seed: 12345})
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			var counts [nb]int
			for i := 0; i < n; i++ {
				v6, a, port := set.key(i)
				counts[tb.Hash(v6, packet.ProtoTCP, &a, port)]++
			}
			const lambda = float64(n) / nb
			chi2, longest := 0.0, 0
			for _, c := range counts {
				d := float64(c) - lambda
				chi2 += d * d / lambda
				longest = max(longest, c)
			}
			limit := nb - 1 + 6*math.Sqrt(2*(nb-1))
			t.Logf("chi2 %.0f longest %d", chi2, longest)
			if chi2 > limit || longest > 20 {
				t.Errorf("chi2 %.0f (limit %.0f), longest chain %d", chi2, limit, longest)
			}
		})
	}
}

func be32(x uint32) []byte { return binary.BigEndian.AppendUint32(nil, x) }

func TestHashInputs(t *testing.T) {
	a, b := newTestTable(t, Config{Bits: 16, MaxEntries: 16, Seed: 1})
	_ = b
	other, _ := newTestTable(t, Config{Bits: 16, MaxEntries: 16, Seed: 2})
	c := addr("198.51.100.7")
	h := a.Hash(false, packet.ProtoTCP, &c, 1000)
	if h != a.Hash(false, packet.ProtoTCP, &c, 1000) {
		t.Fatal("hash not deterministic")
	}
	// The hash covers family, protocol, address and port: changing any one of
	// them moves most keys (checked over many keys, since a single key may
	// collide by chance).
	moved := map[string]int{}
	same := 0
	for i := 0; i < 1000; i++ {
		c := v4Addr(uint32(i) * 2654435761)
		h := a.Hash(false, packet.ProtoTCP, &c, 1000)
		if a.Hash(false, packet.ProtoUDP, &c, 1000) != h {
			moved["proto"]++
		}
		if a.Hash(false, packet.ProtoTCP, &c, 1001) != h {
			moved["port"]++
		}
		if a.Hash(true, packet.ProtoTCP, &c, 1000) != h {
			moved["family"]++
		}
		c2 := c
		c2[15] ^= 1
		if a.Hash(false, packet.ProtoTCP, &c2, 1000) != h {
			moved["addr"]++
		}
		if other.Hash(false, packet.ProtoTCP, &c, 1000) == h {
			same++
		}
	}
	for _, what := range []string{"proto", "port", "family", "addr"} {
		if moved[what] < 990 {
			t.Errorf("changing %s moved only %d of 1000 keys", what, moved[what])
		}
	}
	if same > 10 {
		t.Errorf("%d of 1000 keys in the same bucket under another seed", same)
	}
	// IPv4 hashing reads only the last four bytes of the mapped form.
	c3 := c
	c3[0] = 0xff
	if a.Hash(false, packet.ProtoTCP, &c3, 1000) != h {
		t.Error("IPv4 hash depends on the mapped prefix")
	}
}
