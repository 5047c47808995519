package sched

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// SipHash-2-4 reference vectors (github.com/veorq/SipHash, vectors.h):
// key 00 01 .. 0f, message 00 01 .. (i−1) for i = 0..63.
var sipHash24Vectors = [64]uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
}

// hsiphash vectors of the Linux kernel self-test for 64-bit machines
// (SipHash-1-3 truncated to 32 bits), same key and messages.
var hsipHashVectors = [64]uint32{
	0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67,
	0xc59f22a7, 0x9bb11140, 0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352,
	0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c,
	0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123,
	0x67349c8c, 0x705b0979, 0xca9913a5, 0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4,
	0x43c5e663, 0x8c21d1bc, 0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91,
	0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392, 0x99e41531, 0x3f1ad944,
	0xc8138825, 0xc28949a6, 0xfaf8876b, 0x9f042196, 0x68b1d623, 0x8b5114fd,
	0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0,
	0x73f0bce6, 0x70a7e980, 0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148,
	0xf7a644ee, 0x0f1837f2, 0x4b6694e0, 0xb7bbb3a8,
}

var vectorKey = sipKey{K0: 0x0706050403020100, K1: 0x0f0e0d0c0b0a0908}

func TestSipHashVectors(t *testing.T) {
	var msg [64]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	for i := range 64 {
		if got := vectorKey.Sum(msg[:i], 2, 4); got != sipHash24Vectors[i] {
			t.Errorf("SipHash-2-4 len %d = %#016x, want %#016x", i, got, sipHash24Vectors[i])
		}
		if got := uint32(vectorKey.Sum(msg[:i], 1, 3)); got != hsipHashVectors[i] {
			t.Errorf("SipHash-1-3 len %d = %#08x, want %#08x", i, got, hsipHashVectors[i])
		}
	}
	// The 4-byte fast path against the vector for message 00 01 02 03.
	if got := vectorKey.Hash4(0x03020100); got != hsipHashVectors[4] {
		t.Errorf("hash4 = %#08x, want %#08x", got, hsipHashVectors[4])
	}
}

func TestSipHash4MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 10000 {
		k := sipKey{K0: rng.Uint64(), K1: rng.Uint64()}
		v := rng.Uint32()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		if got, want := k.Hash4(v), uint32(k.Sum(b[:], 1, 3)); got != want {
			t.Fatalf("key %x v %#x: hash4 %#x, generic %#x", k, v, got, want)
		}
	}
}

// referenceMaglev builds the table the way the Maglev paper writes it:
// permutation[i][j] = (offset_i + j·skip_i) mod M, each destination taking
// `turns` entries per round in list order.
func referenceMaglev(ds []*service.Dest, m uint32) []*service.Dest {
	hash := func(k sipKey, d *service.Dest) uint32 {
		a := d.Addr.As4()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], binary.BigEndian.Uint32(a[:])+uint32(d.Port))
		return uint32(k.Sum(b[:], 1, 3))
	}
	g := new(big.Int)
	maxW := int64(0)
	for _, d := range ds {
		if lw := int64(d.Config().LastWeight); lw > 0 {
			g.GCD(nil, nil, g, big.NewInt(lw))
			maxW = max(maxW, lw)
		}
	}
	table := make([]*service.Dest, m)
	if g.Sign() == 0 {
		return table
	}
	shift := 0
	for (maxW/g.Int64())>>shift >= 1<<6 {
		shift++
	}
	turns := make([]int64, len(ds))
	for i, d := range ds {
		lw := int64(d.Config().LastWeight)
		turns[i] = (lw / g.Int64()) >> shift
		if turns[i] == 0 && lw > 0 {
			turns[i] = 1
		}
	}
	next := make([]uint64, len(ds))
	filled := uint32(0)
	for filled < m {
		for i, d := range ds {
			offset, skip := uint64(hash(mhKey1, d)%m), uint64(hash(mhKey2, d)%(m-1)+1)
			for k := int64(0); k < turns[i] && filled < m; k++ {
				for {
					c := (offset + next[i]*skip) % uint64(m)
					next[i]++
					if table[c] == nil {
						table[c] = d
						filled++
						break
					}
				}
			}
		}
	}
	return table
}

func TestMHTableMatchesReference(t *testing.T) {
	for _, ws := range [][]int32{{1}, {1, 1, 1}, {1, 2, 3, 4}, {5, 0, 10}, {1000, 1, 7}, {3, 6, 9}} {
		ds := newTestDests(ws...)
		for _, m := range []uint32{251, MaglevTableSize} {
			got := buildMaglev(ds, m).slots
			want := referenceMaglev(ds, m)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("weights %v M %d: slot %d = %s, reference %s", ws, m, i, destName(ds, got[i]), destName(ds, want[i]))
				}
			}
		}
	}
}

func TestMHDeterministic(t *testing.T) {
	a, b := mustNew(t, "mh", 0).(*maglev), mustNew(t, "mh", 0).(*maglev)
	a.Update(newTestDests(1, 2, 3))
	b.Update(newTestDests(1, 2, 3)) // different Dest objects, same addresses
	ta, tb := a.table.Load().slots, b.table.Load().slots
	if len(ta) != MaglevTableSize {
		t.Fatalf("table size %d", len(ta))
	}
	for i := range ta {
		if ta[i].Addr != tb[i].Addr {
			t.Fatalf("slot %d differs: %v vs %v", i, ta[i].Addr, tb[i].Addr)
		}
	}
}

// mhClients are the request sources used to measure remapping.
func mhClients(n int) []*service.Request {
	out := make([]*service.Request, n)
	for i := range out {
		out[i] = v4Request(clientAddr(i*7919), netip.MustParseAddr("192.0.2.1"), uint16(i), 0)
	}
	return out
}

func TestMHMinimalDisruption(t *testing.T) {
	const n = 10
	ds := newTestDests(make([]int32, n)...)
	for _, d := range ds {
		setWeight(d, 1)
	}
	s := mustNew(t, "mh", 0)
	s.Update(ds)
	clients := mhClients(20000)
	before := make([]*service.Dest, len(clients))
	for i, r := range clients {
		before[i] = s.Schedule(r)
	}
	for removed := range n {
		rest := append(append([]*service.Dest{}, ds[:removed]...), ds[removed+1:]...)
		s.Update(rest)
		changed, survivorsMoved := 0, 0
		for i, r := range clients {
			after := s.Schedule(r)
			if after == nil || after == ds[removed] {
				t.Fatalf("client %d scheduled to %v", i, after)
			}
			if after != before[i] {
				changed++
				if before[i] != ds[removed] {
					survivorsMoved++
				}
			}
		}
		frac := float64(changed) / float64(len(clients))
		t.Logf("removed %d: changed %.2f%%, survivors moved %.2f%%", removed, 100*frac, 100*float64(survivorsMoved)/float64(len(clients)))
		if frac > 1.0/n+0.05 {
			t.Errorf("removing %d of %d moved %.1f%% of clients", removed, n, 100*frac)
		}
		if moved := float64(survivorsMoved) / float64(len(clients)); moved > 0.03 {
			t.Errorf("removing %d moved %.1f%% of the surviving destinations' clients", removed, 100*moved)
		}
		// Adding it back restores the original table.
		s.Update(ds)
		for i, r := range clients[:2000] {
			if s.Schedule(r) != before[i] {
				t.Fatalf("re-adding %d: client %d differs", removed, i)
			}
		}
	}
}

func TestMHWeights(t *testing.T) {
	ws := []int32{1, 2, 3, 4}
	ds := newTestDests(ws...)
	tab := buildMaglev(ds, MaglevTableSize).slots
	counts := map[*service.Dest]int{}
	for _, d := range tab {
		counts[d]++
	}
	for i, d := range ds {
		want := float64(MaglevTableSize) * float64(ws[i]) / 10
		if got := float64(counts[d]); got < want-float64(ws[i])-1 || got > want+float64(ws[i])+1 {
			t.Errorf("weight %d: %d slots, want about %.0f", ws[i], counts[d], want)
		}
	}
	// max/gcd = 1000 needs 10 bits: shifted right by 4, turns 62 and 1.
	ds = newTestDests(1000, 1)
	tab = buildMaglev(ds, MaglevTableSize).slots
	small := 0
	for _, d := range tab {
		if d == ds[1] {
			small++
		}
	}
	if want := MaglevTableSize / 63; small < want-1 || small > want+2 {
		t.Errorf("weights 1000:1 → B has %d slots, want about %d", small, want)
	}
}

func TestMHQuiescedAndFallback(t *testing.T) {
	// B's weight 3 matters to the gcd (1): quiescing it must not change
	// the table, so the gcd must come from last weights (else 2).
	ds := newTestDests(2, 3, 4)
	plain, fb := mustNew(t, "mh", 0), mustNew(t, "mh", service.FlagSched1)
	plain.Update(ds)
	fb.Update(ds)
	before := plain.(*maglev).table.Load().slots
	victims := clientsOn(plain, ds[1], 50)
	others := clientsOn(plain, ds[2], 50)
	setWeight(ds[1], 0) // last weight stays 3: B keeps its slots
	plain.Update(ds)
	fb.Update(ds)
	after := plain.(*maglev).table.Load().slots
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("quiescing changed slot %d", i)
		}
	}
	for _, r := range victims {
		if d := plain.Schedule(r); d != nil {
			t.Fatalf("without fallback a client of the quiesced dest got %s", destName(ds, d))
		}
		d := fb.Schedule(r)
		if d == nil || d == ds[1] {
			t.Fatalf("with fallback a client of the quiesced dest got %s", destName(ds, d))
		}
		if want := mhFallbackReference(fb.(*maglev), r); d != want {
			t.Fatalf("fallback picked %s, want %s", destName(ds, d), destName(ds, want))
		}
	}
	for _, r := range others {
		if d := fb.Schedule(r); d != ds[2] {
			t.Fatalf("with fallback another client moved to %s", destName(ds, d))
		}
	}
	// Overloaded (no Update needed) works the same.
	setWeight(ds[1], 3)
	setOverloaded(t, ds[2], true)
	for _, r := range others {
		if d := plain.Schedule(r); d != nil {
			t.Fatalf("overloaded without fallback: got %s", destName(ds, d))
		}
		if d := fb.Schedule(r); d == nil || d == ds[2] {
			t.Fatalf("overloaded with fallback: got %s", destName(ds, d))
		}
	}
	// Never weighted (last weight 0): no slots at all.
	z := newTestDests(0, 0)
	plain.Update(z)
	if d := plain.Schedule(victims[0]); d != nil {
		t.Fatal("table of weightless destinations is not empty")
	}
}

func TestMHPortAndIPv6(t *testing.T) {
	ds := newTestDests(1, 1, 1, 1)
	s := mustNew(t, "mh", service.FlagSched2).(*maglev)
	s.Update(ds)
	tab := s.table.Load().slots
	src := netip.MustParseAddr("2001:db8::5")
	seen := map[*service.Dest]bool{}
	for port := uint16(1); port < 200; port++ {
		r := &service.Request{V6: true, Proto: packet.ProtoUDP, Src: src.As16(), SrcPort: port}
		got := s.Schedule(r)
		if want := tab[mhKey1.Hash4(uint32(port)+(0x20010db8^5))%MaglevTableSize]; got != want {
			t.Fatalf("port %d: %s, want %s", port, destName(ds, got), destName(ds, want))
		}
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Fatal("mh-port: the port does not change the destination")
	}
	plain := mustNew(t, "mh", 0)
	plain.Update(ds)
	r1 := &service.Request{V6: true, Proto: packet.ProtoUDP, Src: src.As16(), SrcPort: 1}
	r2 := *r1
	r2.SrcPort = 2
	if plain.Schedule(r1) != plain.Schedule(&r2) {
		t.Fatal("without mh-port the port changed the destination")
	}
}

func TestMHMoreDestsThanSlots(t *testing.T) {
	ws := make([]int32, 300)
	for i := range ws {
		ws[i] = 1
	}
	ds := newTestDests(ws...)
	tab := buildMaglev(ds, 251).slots
	for i, d := range tab {
		if d == nil {
			t.Fatalf("slot %d empty", i)
		}
	}
}

// mhFallbackReference walks the kernel's probe sequence with the generic
// SipHash: slot_k = hsiphash(addr + port + (k + ihash) mod M) mod M.
func mhFallbackReference(s *maglev, r *service.Request) *service.Dest {
	tab := s.table.Load().slots
	m := uint64(len(tab))
	addr := uint64(binary.BigEndian.Uint32(r.Src[12:]))
	h := func(v uint64) uint64 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		return uint64(uint32(mhKey1.Sum(b[:], 1, 3)))
	}
	ihash := h(addr) % m
	for k := range m {
		d := tab[h(addr+(k+ihash)%m)%m]
		if d == nil {
			return nil
		}
		if d.Weight() > 0 && !d.Overloaded() {
			return d
		}
	}
	return nil
}
