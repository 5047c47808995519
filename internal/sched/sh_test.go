package sched

import (
	"net/netip"
	"testing"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

func TestSHBucketLayout(t *testing.T) {
	ds := newTestDests(3, 1, 0, 2) // C quiesced still gets one bucket per cycle
	s := mustNew(t, "sh", 0).(*sourceHash)
	s.Update(ds)
	pattern := "AAABCDD"
	tab := s.table.Load()
	for i := range shSize {
		if got, want := destName(ds, tab[i]), string(pattern[i%len(pattern)]); got != want {
			t.Fatalf("bucket %d = %s, want %s", i, got, want)
		}
	}
	s.Update(nil)
	for i, d := range s.table.Load() {
		if d != nil {
			t.Fatalf("empty service: bucket %d set", i)
		}
	}
}

func TestSHSameSourceSameDest(t *testing.T) {
	ds := newTestDests(1, 2, 3, 1)
	s := mustNew(t, "sh", 0).(*sourceHash)
	s.Update(ds)
	tab := s.table.Load()
	dst := netip.MustParseAddr("192.0.2.1")
	seen := map[*service.Dest]bool{}
	for i := range 2000 {
		src := clientAddr(i)
		d1 := s.Schedule(v4Request(src, dst, uint16(i), 0))
		d2 := s.Schedule(v4Request(src, dst, uint16(i*7+1), 0))
		if d1 == nil || d1 != d2 {
			t.Fatalf("client %v: %v then %v", src, d1, d2)
		}
		// The bucket is hash_32(source, 8).
		a := src.As4()
		key := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		if want := tab[uint32(uint64(key)*0x61C88647)>>24]; d1 != want {
			t.Fatalf("client %v got %s, bucket holds %s", src, destName(ds, d1), destName(ds, want))
		}
		seen[d1] = true
	}
	if len(seen) != len(ds) {
		t.Fatalf("only %d of %d destinations used", len(seen), len(ds))
	}
}

func TestSHIPv6Key(t *testing.T) {
	ds := newTestDests(1, 1, 1, 1, 1)
	s := mustNew(t, "sh", 0).(*sourceHash)
	s.Update(ds)
	src := netip.MustParseAddr("2001:db8::1:2")
	r := &service.Request{V6: true, Proto: packet.ProtoTCP, Src: src.As16(), SrcPort: 999}
	key := uint32(0x20010db8) ^ 0 ^ 0 ^ 0x00010002
	if got, want := s.Schedule(r), s.table.Load()[hash32(key, 8)]; got != want {
		t.Fatalf("IPv6 client got %s, want %s", destName(ds, got), destName(ds, want))
	}
}

func TestSHPort(t *testing.T) {
	ds := newTestDests(1, 1, 1, 1)
	s := mustNew(t, "sh", service.FlagSched2).(*sourceHash)
	s.Update(ds)
	tab := s.table.Load()
	src := netip.MustParseAddr("198.51.100.7")
	dst := netip.MustParseAddr("192.0.2.1")
	seen := map[*service.Dest]bool{}
	for port := uint16(1000); port < 1100; port++ {
		r := v4Request(src, dst, port, 0)
		got := s.Schedule(r)
		if want := tab[hash32(uint32(port)+0xC6336407, 8)]; got != want {
			t.Fatalf("port %d: got %s, want %s", port, destName(ds, got), destName(ds, want))
		}
		seen[got] = true
		// ICMP has no ports: the port is not mixed in.
		r.Proto = packet.ProtoICMP
		if got, want := s.Schedule(r), tab[hash32(0xC6336407, 8)]; got != want {
			t.Fatalf("ICMP: got %s, want %s", destName(ds, got), destName(ds, want))
		}
	}
	if len(seen) < 2 {
		t.Fatal("sh-port: the source port does not change the destination")
	}
}

// clientsOn returns up to n clients whose sh (or mh) bucket holds d.
func clientsOn(s service.Scheduler, d *service.Dest, n int) []*service.Request {
	var out []*service.Request
	dst := netip.MustParseAddr("192.0.2.1")
	for i := 0; len(out) < n && i < 1_000_000; i++ {
		r := v4Request(clientAddr(i), dst, 0, 0)
		if s.Schedule(r) == d {
			out = append(out, r)
		}
	}
	return out
}

func TestSHFallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disable func(t *testing.T, d *service.Dest)
	}{
		{"quiesced", func(t *testing.T, d *service.Dest) { setWeight(d, 0) }},
		{"overloaded", func(t *testing.T, d *service.Dest) { setOverloaded(t, d, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Layout AAABCDD: the kernel's probe order (2·ihash, ...)
			// lands on D for B's clients, a plain walk on C.
			ds := newTestDests(3, 1, 1, 2)
			plain := mustNew(t, "sh", 0)
			fb := mustNew(t, "sh", service.FlagSched1)
			plain.Update(ds)
			fb.Update(ds)
			victims := clientsOn(plain, ds[1], 50)
			others := clientsOn(plain, ds[0], 50)
			if len(victims) < 50 || len(others) < 50 {
				t.Fatal("not enough clients")
			}
			tc.disable(t, ds[1])
			plain.Update(ds)
			fb.Update(ds)
			for _, r := range victims {
				if d := plain.Schedule(r); d != nil {
					t.Fatalf("without fallback a client of the disabled dest got %s", destName(ds, d))
				}
				d := fb.Schedule(r)
				if d == nil || d == ds[1] {
					t.Fatalf("with fallback a client of the disabled dest got %s", destName(ds, d))
				}
				if want := shFallbackReference(fb.(*sourceHash), r); d != want {
					t.Fatalf("fallback picked %s, want %s", destName(ds, d), destName(ds, want))
				}
			}
			for _, r := range others {
				if d := fb.Schedule(r); d != ds[0] {
					t.Fatalf("with fallback another client moved to %s", destName(ds, d))
				}
			}
			// Nothing eligible: fallback gives up.
			for _, d := range ds {
				setWeight(d, 0)
			}
			fb.Update(ds)
			if d := fb.Schedule(victims[0]); d != nil {
				t.Fatalf("all quiesced: got %s", destName(ds, d))
			}
		})
	}
}

func TestDH(t *testing.T) {
	ds := newTestDests(1, 5, 1) // weight ignored: one bucket per dest per cycle
	s := mustNew(t, "dh", 0)
	s.Update(ds)
	src := netip.MustParseAddr("198.51.100.7")
	seen := map[*service.Dest]bool{}
	for i := range 1000 {
		dst := clientAddr(i)
		r := v4Request(src, dst, uint16(i), 0)
		d := s.Schedule(r)
		a := dst.As4()
		key := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		if want := ds[hash32(key, 8)%3]; d != want {
			t.Fatalf("dst %v: got %s, want %s", dst, destName(ds, d), destName(ds, want))
		}
		r.Src = clientAddr(i + 5000).As16() // the source does not matter
		if s.Schedule(r) != d {
			t.Fatalf("dst %v: destination changed with the source", dst)
		}
		seen[d] = true
	}
	if len(seen) != 3 {
		t.Fatalf("%d destinations used", len(seen))
	}
}

func TestDHUnusableBucket(t *testing.T) {
	ds, remove := unavailableDests(t, 1, 1)
	s := mustNew(t, "dh", 0)
	s.Update(ds)
	var onA *service.Request
	for i := 0; onA == nil; i++ {
		r := v4Request(netip.MustParseAddr("198.51.100.7"), clientAddr(i), 1, 0)
		if s.Schedule(r) == ds[0] {
			onA = r
		}
	}
	setOverloaded(t, ds[0], true)
	if d := s.Schedule(onA); d != nil {
		t.Fatalf("overloaded: got %s (dh has no fallback)", destName(ds, d))
	}
	setOverloaded(t, ds[0], false)
	setWeight(ds[0], 0)
	if d := s.Schedule(onA); d != nil {
		t.Fatalf("quiesced: got %s", destName(ds, d))
	}
	setWeight(ds[0], 1)
	if s.Schedule(onA) != ds[0] {
		t.Fatal("not back after weight restored")
	}
	remove(ds[0]) // our dh still has it in its table (no Update yet)
	if d := s.Schedule(onA); d != nil {
		t.Fatalf("removed: got %s", destName(ds, d))
	}
}

// shFallbackReference: the kernel probes bucket(roffset) with roffset =
// (offset + ihash) mod 256, and bucket(x) = (x + ihash) mod 256, so the
// probes are simply 2·ihash, 2·ihash+1, ... (mod 256).
func shFallbackReference(s *sourceHash, r *service.Request) *service.Dest {
	tab := s.table.Load()
	a := r.Src
	ihash := int(hash32(uint32(a[12])<<24|uint32(a[13])<<16|uint32(a[14])<<8|uint32(a[15]), 8))
	for k := range 256 {
		d := tab[(2*ihash+k)%256]
		if d == nil {
			return nil
		}
		if d.Weight() > 0 && !d.Overloaded() {
			return d
		}
	}
	return nil
}
