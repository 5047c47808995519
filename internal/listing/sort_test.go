package listing

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

func svcAt(proto api.Protocol, a string, port uint16) api.Service {
	return api.Service{ServiceKey: api.ServiceKey{Protocol: proto, Addr: netip.MustParseAddr(a), Port: port}}
}

func labels(svcs []api.Service) []string {
	var s []string
	for _, x := range svcs {
		s = append(s, x.ServiceKey.String())
	}
	return s
}

// TestSortComparatorQuirk: libipvs subtracts addresses into a signed int,
// so 207.175.44.110 (0xCFAF2C6E) sorts before 10.0.0.1 (0x0A000001): the
// difference 0xC5AF2C6D is negative as an int32. Addresses less than 2^31
// apart sort normally.
func TestSortComparatorQuirk(t *testing.T) {
	tab := &api.Table{Services: []api.Service{
		svcAt(api.TCP, "10.0.0.1", 80),
		svcAt(api.TCP, "207.175.44.110", 80),
		svcAt(api.TCP, "10.0.0.2", 80),
		svcAt(api.TCP, "100.0.0.1", 80),
	}}
	Sort(tab)
	want := []string{"TCP 207.175.44.110:80", "TCP 10.0.0.1:80", "TCP 10.0.0.2:80", "TCP 100.0.0.1:80"}
	if got := labels(tab.Services); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, &api.Table{Services: []api.Service{svcAt(api.TCP, "10.0.0.1", 80), svcAt(api.TCP, "207.175.44.110", 80)}}, Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(buf.String(), "207.175.44.110"), strings.Index(buf.String(), "10.0.0.1"); i < 0 || j < 0 || i > j {
		t.Errorf("WriteTable does not list 207.175.44.110 first:\n%s", buf.String())
	}
}

// TestSortKeys: fwmark (0 first), family (IPv4 first), protocol number
// (TCP, UDP, SCTP), address, port; real servers by address then port.
func TestSortKeys(t *testing.T) {
	dest := func(a string, port uint16) api.Dest {
		return api.Dest{DestKey: api.DestKey{Addr: netip.MustParseAddr(a), Port: port}}
	}
	tab := &api.Table{Services: []api.Service{
		{ServiceKey: api.ServiceKey{FwMark: 2}},
		{ServiceKey: api.ServiceKey{FwMark: 1, IPv6: true}},
		{ServiceKey: api.ServiceKey{FwMark: 1}},
		svcAt(api.SCTP, "10.0.0.1", 80),
		svcAt(api.TCP, "2001:db8::1", 80),
		svcAt(api.UDP, "10.0.0.1", 80),
		svcAt(api.TCP, "10.0.0.1", 443),
		svcAt(api.TCP, "10.0.0.1", 80),
		svcAt(api.TCP, "2001:db8::1", 22),
		svcAt(api.TCP, "2001:db8:0:0:8000:1::", 22), // word 2 is 2^31+1 above: backwards
		svcAt(api.TCP, "2001:db8::2", 22),
	}}
	tab.Services[3].Dests = []api.Dest{dest("10.0.0.3", 80), dest("10.0.0.2", 90), dest("10.0.0.2", 80), dest("2001:db8::1", 1), dest("200.0.0.1", 1)}
	Sort(tab)
	want := []string{"TCP 10.0.0.1:80", "TCP 10.0.0.1:443", "UDP 10.0.0.1:80", "SCTP 10.0.0.1:80",
		"TCP [2001:db8::8000:1:0:0]:22", "TCP [2001:db8::1]:22", "TCP [2001:db8::1]:80", "TCP [2001:db8::2]:22",
		"FWM 1", "FWM 1 IPv6", "FWM 2"}
	if got := labels(tab.Services); !reflect.DeepEqual(got, want) {
		t.Errorf("services\n got  %q\n want %q", got, want)
	}
	var dests []string
	for _, d := range tab.Services[3].Dests {
		dests = append(dests, netip.AddrPortFrom(d.Addr, d.Port).String())
	}
	// 200.0.0.1 is 2^31 or more above the 10.0.0.x and 0x20010db8 (the
	// first word of 2001:db8::1): it sorts first. Between an IPv4 and an
	// IPv6 server only the first word is compared when the IPv4 one comes
	// first, all four when the IPv6 one does (the other's are zero).
	wantDests := []string{"200.0.0.1:1", "10.0.0.2:80", "10.0.0.2:90", "10.0.0.3:80", "[2001:db8::1]:1"}
	if !reflect.DeepEqual(dests, wantDests) {
		t.Errorf("servers\n got  %q\n want %q", dests, wantDests)
	}
}

// TestSortFwMarkQuirk: marks are subtracted too, so a mark more than 2^31
// above 0 sorts before the non-fwmark services. (Values exactly 2^31 apart
// compare "less" both ways; the order of such a pair depends on the input
// order, as in ipvsadm.)
func TestSortFwMarkQuirk(t *testing.T) {
	tab := &api.Table{Services: []api.Service{
		svcAt(api.TCP, "10.0.0.1", 80),
		{ServiceKey: api.ServiceKey{FwMark: 1}},
		{ServiceKey: api.ServiceKey{FwMark: 0x80000002}},
	}}
	Sort(tab)
	want := []string{"FWM 2147483650", "TCP 10.0.0.1:80", "FWM 1"}
	if got := labels(tab.Services); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestSortCycle: the comparator is not transitive (a < b < c < a for
// 0.0.0.1, 112.0.0.1, 224.0.0.1), so the order depends on the algorithm.
// glibc's merge sort, worked by hand:
//
//	[a b c]: halves [a] [b c]; b<c; merge a<b → a b c
//	[c b a]: halves [c] [b a]; a<b → [a b]; merge c<a → c a b
//	[b c a]: halves [b] [c a]; c<a → [c a]; merge b<c → b c a
func TestSortCycle(t *testing.T) {
	a, b, c := svcAt(api.TCP, "0.0.0.1", 1), svcAt(api.TCP, "112.0.0.1", 1), svcAt(api.TCP, "224.0.0.1", 1)
	tests := []struct{ in, want []api.Service }{
		{[]api.Service{a, b, c}, []api.Service{a, b, c}},
		{[]api.Service{c, b, a}, []api.Service{c, a, b}},
		{[]api.Service{b, c, a}, []api.Service{b, c, a}},
	}
	for _, tt := range tests {
		tab := &api.Table{Services: tt.in}
		Sort(tab)
		if got, want := labels(tab.Services), labels(tt.want); !reflect.DeepEqual(got, want) {
			t.Errorf("Sort(%q) = %q, want %q", labels(tt.in), got, want)
		}
	}
}

// TestMergeSortStable: with a consistent comparator the merge sort is a
// stable sort (checked against a simple insertion sort on many inputs).
func TestMergeSortStable(t *testing.T) {
	type kv struct{ k, i int }
	cmp := func(a, b *kv) int { return a.k - b.k }
	for n := 0; n < 40; n++ {
		s := make([]kv, n)
		for i := range s {
			s[i] = kv{(i * 7919) % 5, i}
		}
		want := append([]kv(nil), s...)
		for i := 1; i < len(want); i++ {
			for j := i; j > 0 && cmp(&want[j-1], &want[j]) > 0; j-- {
				want[j-1], want[j] = want[j], want[j-1]
			}
		}
		glibcMergeSort(s, cmp)
		if !reflect.DeepEqual(s, want) && n > 0 {
			t.Fatalf("n=%d: got %v, want %v", n, s, want)
		}
	}
}

func TestSortNil(t *testing.T) {
	Sort(nil)
	Sort(&api.Table{})
}
