package flood

import (
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		in          string
		first, last string
		size        uint64
	}{
		{"10.0.0.0/8", "10.0.0.0", "10.255.255.255", 1 << 24},
		{"10.1.2.3/8", "10.0.0.0", "10.255.255.255", 1 << 24},
		{"192.168.1.7/32", "192.168.1.7", "192.168.1.7", 1},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", 1 << 32},
		{"10.0.0.1-10.15.255.255", "10.0.0.1", "10.15.255.255", 0xfffff},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5", 1},
		{"10.0.0.5-10.0.0.5", "10.0.0.5", "10.0.0.5", 1},
		{"2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", math.MaxUint64},
		{"2001:db8::/65", "2001:db8::", "2001:db8::7fff:ffff:ffff:ffff", 1 << 63},
		{"2001:db8::/120", "2001:db8::", "2001:db8::ff", 256},
		{"2001:db8::1-2001:db8::1:0", "2001:db8::1", "2001:db8::1:0", 0x10000},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", math.MaxUint64},
	} {
		r, err := ParseRange(c.in)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", c.in, err)
			continue
		}
		if r.First != a(c.first) || r.Last != a(c.last) || r.Size() != c.size {
			t.Errorf("ParseRange(%q) = %s (size %d), want %s-%s (size %d)", c.in, r, r.Size(), c.first, c.last, c.size)
		}
		if c.size < math.MaxUint64 && r.Nth(c.size-1) != r.Last {
			t.Errorf("%q: Nth(size-1) = %s, want %s", c.in, r.Nth(c.size-1), r.Last)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"10.0.0.0/33", "10.0.0.0/33"},
		{"10.0.0.9-10.0.0.1", "comes after"},
		{"10.0.0.1-2001:db8::1", "different families"},
		{"fe80::1%eth0", "zones"},
		{"::ffff:10.0.0.1", "IPv4-mapped"},
		{"::ffff:10.0.0.0/104", "IPv4-mapped"},
		{"10.0.0.1-", "10.0.0.1-"},
		{"banana", "banana"},
		{"10.0.0.1-10.0.0.2-10.0.0.3", "10.0.0.2-10.0.0.3"},
	} {
		_, err := ParseRange(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "address range") {
			t.Errorf("ParseRange(%q) = %v, want an error about %q", c.in, err, c.want)
		}
	}
}

func TestNthCarry(t *testing.T) {
	r, err := ParseRange("2001:db8::ffff:ffff:ffff:fffe-2001:db8:0:1::1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != 4 {
		t.Errorf("size %d, want 4", r.Size())
	}
	if got := r.Nth(2); got != netip.MustParseAddr("2001:db8:0:1::") {
		t.Errorf("Nth(2) = %s, want 2001:db8:0:1::", got)
	}
}

func TestParsePorts(t *testing.T) {
	for in, want := range map[string]PortRange{"1024-65535": {1024, 65535}, "80": {80, 80}, "1-1": {1, 1}} {
		if got, err := ParsePorts(in); err != nil || got != want {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65536", "9-8", "a-b", "1-", "-5", "1-2-3", "+80"} {
		if _, err := ParsePorts(in); err == nil || !strings.Contains(err.Error(), "port range") {
			t.Errorf("ParsePorts(%q) = %v, want a port range error", in, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1-10.15.255.255", "2001:db8::/64", "::/0", "1.2.3.4", "a-b", "1.2.3.4-1.2.3.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		if !r.First.IsValid() || r.First.Is4() != r.Last.Is4() || r.Last.Less(r.First) || r.Size() == 0 {
			t.Fatalf("ParseRange(%q) = %s, not a range", s, r)
		}
		if n := r.Size(); n < math.MaxUint64 && r.Nth(n-1) != r.Last {
			t.Fatalf("ParseRange(%q): Nth(%d) = %s, want %s", s, n-1, r.Nth(n-1), r.Last)
		}
		if r2, err := ParseRange(r.String()); err != nil || r2 != r {
			t.Fatalf("ParseRange(%q) = %s, which reads back as %s, %v", s, r, r2, err)
		}
	})
}
