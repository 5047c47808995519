package conntrack

// Benchmarks. The heavy ones build tables of 1M and 10M entries and are
// never run by plain `go test`; the 10M ones run only when -bench names
// "10M". Commands (2-core AMD EPYC KVM guest, 24 GiB):
//
//	go test ./internal/conntrack -run '^$' -bench 'LookupEstablished1M|Insert|Churn' -benchmem -count 3
//	go test ./internal/conntrack -run '^$' -bench 'MemoryPerEntry/1M' -benchtime 1x
//	go test ./internal/conntrack -run '^$' -bench 'MemoryPerEntry/10M' -benchtime 1x
//	go test ./internal/conntrack -run '^$' -bench 'Lookup10M|GoMapLookup10M' -benchmem -count 3 -timeout 30m
//	go test ./internal/conntrack -run '^$' -bench 'Reap/1M' -benchtime 3x
//	go test ./internal/conntrack -run '^$' -bench 'Reap/10M' -benchtime 3x
//
// Figures measured there (ranges over runs; the VM is noisy and its memory
// is slow: a dependent random load costs 250-340 ns once the working set
// passes 16 MB, independent ones ~40 ns each, so everything here is
// bound by cache misses, two per lookup: bucket head, then entry):
//
//	LookupEstablished1M  v4 585-727 ns, v4 batch32 231-254 ns,
//	                     v6 585-603 ns, v6 batch32 267-320 ns, 0 allocs
//	Insert (miss+insert) plain 442-530 ns, batch32 259-301 ns, 0 allocs
//	                     (32 B/op is the slab chunk, 2 MiB per 65536 slots)
//	Churn1M (insert+delete at 1M live) 1175-1229 ns, 0 B/op
//	MemoryPerEntry       1M 37.9 B, 1M-v6 69.4 B, 10M 35.5 B (heap in use / entries)
//	Lookup10M            plain 636-993 ns, batch32 245-258 ns, 35.5 B/entry
//	GoMapLookup10M       read 788-846 ns, update 871-970 ns, 120.9 B/entry
//	Reap (full pass)     1M 58-97 ms, 10M 0.78-0.93 s

import (
	"encoding/binary"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// benchKey returns the key of flow i: client 10.x.y.z:port → 192.0.2.1:80.
func benchKey(i int) Key {
	k := Key{Proto: packet.ProtoTCP, Vport: 80}
	k.Caddr[10], k.Caddr[11] = 0xff, 0xff
	binary.BigEndian.PutUint32(k.Caddr[12:], 10<<24|uint32(i))
	k.Cport = uint16(i*7919) | 1
	k.Vaddr = [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}
	return k
}

// benchKey6 is benchKey for IPv6: 2001:db8::/64 clients, 2001:db8:1::1 VIP.
func benchKey6(i int) Key {
	k := Key{V6: true, Proto: packet.ProtoTCP, Vport: 80}
	k.Caddr = [16]byte{0x20, 0x01, 0x0d, 0xb8}
	binary.BigEndian.PutUint64(k.Caddr[8:], uint64(i)*0x9e3779b97f4a7c15)
	k.Cport = uint16(i*7919) | 1
	k.Vaddr = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: 1}
	return k
}

// strideFor returns an odd stride near n/φ that is coprime with n (n is a
// power of ten or of two here), for a pseudo-random visiting order.
func strideFor(n int) int {
	s := n*618/1000 | 1
	for s%5 == 0 {
		s += 2
	}
	return s
}

func bitsFor(n int) int {
	b := MinBits
	for 1<<b < n && b < MaxBits {
		b++
	}
	return b
}

// fillTable builds a table with n flows (IPv4, or IPv6 when v6).
func fillTable(tb testing.TB, n, bits int, v6 bool) *Table {
	tb.Helper()
	slots := n
	if v6 {
		slots = 2 * n
	}
	t, err := New(Config{Bits: bits, MaxEntries: slots + slots/16 + 1<<16, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	now := clock.Seconds(1)
	for i := 0; i < n; i++ {
		k := benchKey(i)
		if v6 {
			k = benchKey6(i)
		}
		c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
			Dport: 8080, Dest: uint32(1 + i%8), Flags: FwdMasq, State: 1, Expires: now.Add(time.Hour)}
		h := t.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
		t.Lock(h)
		_, ok := t.InsertLocked(h, &c, now)
		t.Unlock(h)
		if !ok {
			tb.Fatalf("insert %d refused", i)
		}
	}
	return t
}

func benchLookup(b *testing.B, t *Table, n int, key func(int) Key) {
	now := clock.Seconds(2)
	stride := strideFor(n)
	j := 0
	misses := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j += stride
		if j >= n {
			j -= n
		}
		k := key(j)
		h := t.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
		t.Lock(h)
		if idx := t.LookupInLocked(h, &k, now); idx != 0 {
			e := t.At(idx)
			e.CountInPkt()
			e.Touch(now, 900*time.Second)
		} else {
			misses++
		}
		t.Unlock(h)
	}
	b.StopTimer()
	if misses != 0 {
		b.Fatalf("%d misses", misses)
	}
}

// cachedTables keeps the big tables between the calls the testing package
// makes to one benchmark (it calls it again with growing b.N).
var cachedTables = map[string]*Table{}

func cachedTable(b *testing.B, name string, n, bits int, v6 bool) *Table {
	if t := cachedTables[name]; t != nil {
		return t
	}
	before := heapInuse()
	t := fillTable(b, n, bits, v6)
	cachedHeap[name] = float64(heapInuse()-before) / float64(n)
	cachedTables[name] = t
	return t
}

var cachedHeap = map[string]float64{}

// BenchmarkLookupEstablished1M: lookup + touch of established flows in a
// pseudo-random order, 1M flows, 2^20 buckets; one packet at a time, and in
// batches of 32 with Prefetch/PrefetchChains as a worker would do.
func BenchmarkLookupEstablished1M(b *testing.B) {
	const n = 1_000_000
	for _, v6 := range []bool{false, true} {
		name := "v4"
		key := benchKey
		if v6 {
			name, key = "v6", benchKey6
		}
		b.Run(name, func(b *testing.B) {
			benchLookup(b, cachedTable(b, "1M"+name, n, 20, v6), n, key)
		})
		b.Run(name+"-batch32", func(b *testing.B) {
			benchLookupBatch(b, cachedTable(b, "1M"+name, n, 20, v6), n, key, 32)
		})
	}
	clear(cachedTables)
}

// BenchmarkInsert: a new connection as the engine does it (hash, lock,
// inbound miss, insert, unlock) into a table that grows to b.N entries, with
// about one bucket per entry at the end; one at a time, and in batches of 32
// with prefetching.
func BenchmarkInsert(b *testing.B) {
	for _, batch := range []int{1, 32} {
		name := "plain"
		if batch > 1 {
			name = fmt.Sprintf("batch%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			now := clock.Seconds(1)
			t, err := New(Config{Bits: bitsFor(b.N), MaxEntries: b.N + 1<<16, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]Key, batch)
			hs := make([]uint32, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				m := min(batch, b.N-i)
				for x := 0; x < m; x++ {
					keys[x] = benchKey(i + x)
					hs[x] = t.Hash(false, keys[x].Proto, &keys[x].Caddr, keys[x].Cport)
				}
				if batch > 1 {
					t.Prefetch(hs[:m])
					t.PrefetchChains(hs[:m])
				}
				for x := 0; x < m; x++ {
					k, h := &keys[x], hs[x]
					t.Lock(h)
					if t.LookupInLocked(h, k, now) == 0 {
						c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
							Dport: 8080, Dest: 1, Flags: FwdMasq | FlagInactive, Expires: now.Add(3 * time.Second)}
						if _, ok := t.InsertLocked(h, &c, now); !ok {
							b.Fatal("refused")
						}
					}
					t.Unlock(h)
				}
			}
		})
	}
}

// BenchmarkChurn1M: steady state at 1M live flows: every operation inserts
// a new flow (miss + insert) and deletes the oldest one, so slots are
// recycled through the free lists.
func BenchmarkChurn1M(b *testing.B) {
	const n = 1_000_000
	t := fillTable(b, n, 20, false)
	now := clock.Seconds(2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := benchKey(n + i)
		h := t.Hash(false, k.Proto, &k.Caddr, k.Cport)
		t.Lock(h)
		if t.LookupInLocked(h, &k, now) == 0 {
			c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport,
				Dport: 8080, Dest: 1, Flags: FwdMasq | FlagInactive, Expires: now.Add(3 * time.Second)}
			if _, ok := t.InsertLocked(h, &c, now); !ok {
				b.Fatal("refused")
			}
		}
		t.Unlock(h)
		old := benchKey(i)
		h = t.Hash(false, old.Proto, &old.Caddr, old.Cport)
		t.Lock(h)
		if idx := t.LookupInLocked(h, &old, now); idx == 0 || !t.DeleteLocked(h, idx) {
			b.Fatal("old flow not found")
		}
		t.Unlock(h)
	}
}

// named10M reports whether the -bench pattern names the 10M cases
// explicitly; they need GiBs and minutes, so `-bench .` leaves them out.
func named10M() bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), "10M")
}

// heapInuse returns the memory in use after two GCs: HeapInuse plus what
// the table mapped outside the Go heap (huge pages, see hugemem.go), so
// that a table and a Go map are measured the same way.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	// Unmapping happens in cleanups that run after a GC, on their own
	// goroutine: wait until the mapped total stops changing.
	for i, last := 0, int64(-1); i < 50 && mappedBytes.Load() != last; i++ {
		last = mappedBytes.Load()
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + uint64(mappedBytes.Load())
}

// BenchmarkMemoryPerEntry reports the heap the table holds per entry
// (HeapInuse delta / entries, bucket array and everything included), with
// about one bucket per entry. The 10M case runs only when -bench names it.
func BenchmarkMemoryPerEntry(b *testing.B) {
	cases := []struct {
		name string
		n    int
		v6   bool
	}{
		{"1M", 1_000_000, false},
		{"1M-v6", 1_000_000, true},
		{"10M", 10_000_000, false},
	}
	for _, c := range cases {
		if c.n >= 10_000_000 && !named10M() {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			bits := bitsFor(c.n)
			if c.n == 10_000_000 {
				bits = 23 // 8M buckets: 1.2 entries per bucket
			}
			for i := 0; i < b.N; i++ {
				before := heapInuse()
				t := fillTable(b, c.n, bits, c.v6)
				after := heapInuse()
				b.ReportMetric(float64(after-before)/float64(c.n), "heap-B/entry")
				b.ReportMetric(float64(t.BytesInUse())/float64(c.n), "table-B/entry")
				runtime.KeepAlive(t)
			}
		})
	}
}

// mapValue is what a Go map needs besides the key to hold the same
// information as an IPv4 entry: 32 bytes minus the 13 key bytes (caddr,
// vaddr, cport, vport, proto) = 19 bytes.
type mapValue struct {
	dport   uint16
	flags   uint16
	state   uint8
	inPkts  uint8
	dest    uint32
	expires uint32
	ctl     uint32
	_       [1]byte
}

const lookup10M = 10_000_000

// BenchmarkLookup10M: lookup + touch at 10M entries (2^23 buckets), one
// packet at a time and in batches of 32. Compare with
// BenchmarkGoMapLookup10M in the same run.
func BenchmarkLookup10M(b *testing.B) {
	if !named10M() {
		b.Skip("needs -bench naming 10M")
	}
	b.Run("plain", func(b *testing.B) {
		t := cachedTable(b, "10M", lookup10M, 23, false)
		benchLookup(b, t, lookup10M, benchKey)
		b.ReportMetric(cachedHeap["10M"], "heap-B/entry")
	})
	b.Run("batch32", func(b *testing.B) {
		t := cachedTable(b, "10M", lookup10M, 23, false)
		benchLookupBatch(b, t, lookup10M, benchKey, 32)
		b.ReportMetric(cachedHeap["10M"], "heap-B/entry")
	})
	clear(cachedTables)
}

var cachedMap map[Key]mapValue
var cachedMapHeap float64

// BenchmarkGoMapLookup10M: the same flows in a map[Key]mapValue without any
// locking: "read" is a lookup only, "update" is lookup + touch (read,
// modify, write back).
func BenchmarkGoMapLookup10M(b *testing.B) {
	if !named10M() {
		b.Skip("needs -bench naming 10M")
	}
	for _, update := range []bool{false, true} {
		name := "read"
		if update {
			name = "update"
		}
		b.Run(name, func(b *testing.B) {
			if cachedMap == nil {
				before := heapInuse()
				cachedMap = make(map[Key]mapValue)
				for i := 0; i < lookup10M; i++ {
					cachedMap[benchKey(i)] = mapValue{dport: 8080, dest: uint32(1 + i%8), expires: 1}
				}
				cachedMapHeap = float64(heapInuse()-before) / lookup10M
			}
			m := cachedMap
			stride := strideFor(lookup10M)
			j := 0
			var sink uint32
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j += stride
				if j >= lookup10M {
					j -= lookup10M
				}
				k := benchKey(j)
				v, ok := m[k]
				if !ok {
					b.Fatal("miss")
				}
				if update {
					v.expires++
					v.inPkts++
					m[k] = v
				} else {
					sink += v.dest
				}
			}
			b.StopTimer()
			b.ReportMetric(cachedMapHeap, "heap-B/entry")
			if sink == 1 {
				b.Log(sink)
			}
		})
	}
	cachedMap = nil
}

// BenchmarkReap measures one full reaper pass over 1M live (unexpired)
// entries and 10M when named: the cost of keeping a 1 s pass.
func BenchmarkReap(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		if n >= 10_000_000 && !named10M() {
			continue
		}
		b.Run(fmt.Sprintf("%dM", n/1_000_000), func(b *testing.B) {
			bits := bitsFor(n)
			if n == 10_000_000 {
				bits = 23
			}
			t := fillTable(b, n, bits, false)
			now := clock.Seconds(2)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if freed := t.Reap(now, t.Buckets()); freed != 0 {
					b.Fatalf("freed %d live entries", freed)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}

// benchLookupBatch is benchLookup done as a worker with batches would:
// hash the batch, Prefetch, PrefetchChains, then the locked lookups.
func benchLookupBatch(b *testing.B, t *Table, n int, key func(int) Key, batch int) {
	now := clock.Seconds(2)
	stride := strideFor(n)
	j := 0
	misses := 0
	keys := make([]Key, batch)
	hs := make([]uint32, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		m := min(batch, b.N-i)
		for x := 0; x < m; x++ {
			j += stride
			if j >= n {
				j -= n
			}
			keys[x] = key(j)
			k := &keys[x]
			hs[x] = t.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
		}
		t.Prefetch(hs[:m])
		t.PrefetchChains(hs[:m])
		for x := 0; x < m; x++ {
			h := hs[x]
			t.Lock(h)
			if idx := t.LookupInLocked(h, &keys[x], now); idx != 0 {
				e := t.At(idx)
				e.CountInPkt()
				e.Touch(now, 900*time.Second)
			} else {
				misses++
			}
			t.Unlock(h)
		}
	}
	b.StopTimer()
	if misses != 0 {
		b.Fatalf("%d misses", misses)
	}
}
