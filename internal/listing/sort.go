package listing

import (
	"net/netip"

	"github.com/vsd/vsd/api"
)

// Sort puts t's services, and each service's real servers, in the order
// ipvsadm lists them by default, in place. It is libipvs's order with its
// quirks kept for byte-identical listings:
//
//   - services by firewall mark, then address family (IPv4 first), then
//     protocol number (TCP 6, UDP 17, SCTP 132), then address, then port;
//     real servers by address, then port;
//   - marks and addresses (as 32-bit words) are compared by subtracting
//     them and keeping the difference in a signed 32-bit int, so two values
//     2^31 or more apart compare "backwards": 207.175.44.110 sorts before
//     10.0.0.1, and a mark of 2^31+1 before the non-fwmark services;
//   - because that comparison is not transitive, the result depends on the
//     algorithm: this is glibc's qsort (a top-down merge sort), so a cycle
//     comes out as ipvsadm prints it.
func Sort(t *api.Table) {
	if t == nil {
		return
	}
	glibcMergeSort(t.Services, compareServices)
	for i := range t.Services {
		glibcMergeSort(t.Services[i].Dests, compareDests)
	}
}

// sortedCopy returns a copy of t sorted by Sort; t is not modified (the
// services and their real-server lists are copied).
func sortedCopy(t *api.Table) *api.Table {
	c := *t
	c.Services = make([]api.Service, len(t.Services))
	copy(c.Services, t.Services)
	for i := range c.Services {
		c.Services[i].Dests = sortedDests(c.Services[i].Dests)
	}
	glibcMergeSort(c.Services, compareServices)
	return &c
}

// sortedDests returns a sorted copy of ds.
func sortedDests(ds []api.Dest) []api.Dest {
	if ds == nil {
		return nil
	}
	c := make([]api.Dest, len(ds))
	copy(c, ds)
	glibcMergeSort(c, compareDests)
	return c
}

// Kernel protocol numbers and address families, the keys of libipvs's
// comparison.
const (
	afInet  = 2
	afInet6 = 10
)

func protoNumber(p api.Protocol) int {
	switch p {
	case api.TCP:
		return 6
	case api.UDP:
		return 17
	case api.SCTP:
		return 132
	}
	return 0
}

// words is an address as the four host-order 32-bit words of the kernel's
// union nf_inet_addr: an IPv4 address fills the first, the rest are zero.
func words(a netip.Addr) [4]uint32 {
	var w [4]uint32
	switch {
	case a.Is4():
		b := a.As4()
		w[0] = be32(b[:])
	case a.Is6():
		b := a.As16()
		for i := range w {
			w[i] = be32(b[4*i:])
		}
	}
	return w
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// diff32 is libipvs's "int r = a - b" of two unsigned 32-bit values.
func diff32(a, b uint32) int { return int(int32(a - b)) }

// compareAddr compares as libipvs does: all four words when the first
// entry is IPv6, else only the first word.
func compareAddr(a, b netip.Addr) int {
	wa, wb := words(a), words(b)
	n := 1
	if a.Is6() {
		n = 4
	}
	r := 0
	for i := 0; r == 0 && i < n; i++ {
		r = diff32(wa[i], wb[i])
	}
	return r
}

// compareServices is libipvs's ipvs_cmp_services.
func compareServices(a, b *api.Service) int {
	if r := diff32(a.FwMark, b.FwMark); r != 0 {
		return r
	}
	if r := family(a.Is6()) - family(b.Is6()); r != 0 {
		return r
	}
	if r := protoNumber(nameProto(a)) - protoNumber(nameProto(b)); r != 0 {
		return r
	}
	if r := compareAddr(svcAddr(a), svcAddr(b)); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// svcAddr is the address the kernel holds for a service: zeros of the
// right family for a firewall-mark service.
func svcAddr(s *api.Service) netip.Addr {
	if s.IsFwMark() {
		if s.IPv6 {
			return netip.IPv6Unspecified()
		}
		return netip.IPv4Unspecified()
	}
	return s.Addr
}

func family(v6 bool) int {
	if v6 {
		return afInet6
	}
	return afInet
}

// compareDests is libipvs's ipvs_cmp_dests.
func compareDests(a, b *api.Dest) int {
	if r := compareAddr(a.Addr, b.Addr); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// glibcMergeSort sorts s the way glibc's qsort does for arrays that fit
// in memory (msort.c, glibc up to 2.36 as in Debian 12): split at n/2,
// sort both halves, merge taking from the first half while cmp <= 0. With
// a consistent comparator this is just a stable sort; with libipvs's
// non-transitive one it reproduces ipvsadm's order exactly.
func glibcMergeSort[T any](s []T, cmp func(a, b *T) int) {
	if len(s) < 2 {
		return
	}
	tmp := make([]T, len(s))
	msort(s, tmp, cmp)
}

func msort[T any](s, tmp []T, cmp func(a, b *T) int) {
	n := len(s)
	if n <= 1 {
		return
	}
	n1 := n / 2
	msort(s[:n1], tmp, cmp)
	msort(s[n1:], tmp, cmp)
	i, j, k := 0, n1, 0
	for i < n1 && j < n {
		if cmp(&s[i], &s[j]) <= 0 {
			tmp[k] = s[i]
			i++
		} else {
			tmp[k] = s[j]
			j++
		}
		k++
	}
	// What is left of the first half goes after the merged part; what is
	// left of the second half is already in place.
	k += copy(tmp[k:], s[i:n1])
	copy(s, tmp[:k])
}
