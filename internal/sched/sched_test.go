package sched

import (
	"errors"
	"slices"
	"testing"

	"github.com/vsd/vsd/internal/service"
)

func TestNewKnowsEveryName(t *testing.T) {
	want := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "none"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		s, err := New(name, 0)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if s.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, s.Name())
		}
		// Before any Update and with an empty list nothing is picked.
		if d := s.Schedule(&service.Request{}); d != nil {
			t.Errorf("%s: picked %v with no destinations", name, d.Addr)
		}
		s.Update(nil)
		if d := s.Schedule(&service.Request{}); d != nil {
			t.Errorf("%s: picked %v after Update(nil)", name, d.Addr)
		}
	}
	n := Names()
	n[0] = "changed"
	if Names()[0] != "rr" {
		t.Fatal("Names returns shared storage")
	}
}

func TestNewUnknown(t *testing.T) {
	for _, name := range []string{"foo", "", "RR", "sh-port"} {
		s, err := New(name, 0)
		if s != nil || err == nil {
			t.Fatalf("New(%q) = %v, %v; want an error", name, s, err)
		}
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("New(%q) error %v does not wrap ErrUnknown", name, err)
		}
	}
	_, err := New("foo", 0)
	if got, want := err.Error(), `unknown scheduler "foo"`; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
}

func TestNoneNeverPicks(t *testing.T) {
	s := mustNew(t, "none", 0)
	s.Update(newTestDests(1, 2, 3))
	if d := s.Schedule(&service.Request{}); d != nil {
		t.Fatalf("none picked %v", d.Addr)
	}
}

func TestCacheInterface(t *testing.T) {
	for _, name := range Names() {
		_, isCache := mustNew(t, name, 0).(Cache)
		if want := name == "lblc" || name == "lblcr"; isCache != want {
			t.Errorf("%s implements Cache: %v, want %v", name, isCache, want)
		}
	}
}

func TestHash32(t *testing.T) {
	// hash_32 written out in 64-bit arithmetic.
	ref := func(v uint32, bits uint) uint32 { return uint32((uint64(v)*0x61C88647)&0xffffffff) >> (32 - bits) }
	for _, v := range []uint32{0, 1, 0xC0000201, 0xffffffff, 0x0a000001, 12345678} {
		for _, b := range []uint{8, 10} {
			if got, want := hash32(v, b), ref(v, b); got != want {
				t.Errorf("hash32(%#x, %d) = %d, want %d", v, b, got, want)
			}
		}
	}
}

func TestFoldAddr(t *testing.T) {
	v4 := [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}
	if got := foldAddr(false, &v4); got != 0xC0000201 {
		t.Errorf("IPv4 fold = %#x", got)
	}
	v6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4}
	if got, want := foldAddr(true, &v6), uint32(0x20010db8^1^2^4); got != want {
		t.Errorf("IPv6 fold = %#x, want %#x", got, want)
	}
}
