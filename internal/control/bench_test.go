package control

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vsd/vsd/api"
)

// benchServer has n TCP services of 10 NAT real servers each.
func benchServer(b *testing.B, n int) *Server {
	s := newServer(&testing.T{})
	var ops []api.Op
	for i := range n {
		svc := &api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80}, Scheduler: "wlc"}
		ops = append(ops, api.Op{Kind: api.AddService, Service: svc})
		for j := range 10 {
			ops = append(ops, api.Op{Kind: api.AddDest, Service: svc, Dest: masq(netip.AddrFrom4([4]byte{172, 16, byte(i), byte(j + 1)}), 80, 1)})
		}
	}
	if err := s.Apply(ops); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkApplyOneEdit is what an ldirectord weight change costs the
// daemon: one edit-server batch, dry run included, on a table of
// 100 or 1000 services × 10 real servers.
func BenchmarkApplyOneEdit(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			s := benchServer(b, n)
			svc := &api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: netip.AddrFrom4([4]byte{10, 0, 0, 0}), Port: 80}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				d := masq(netip.AddrFrom4([4]byte{172, 16, 0, 1}), 80, int32(i%5))
				if err := s.Apply([]api.Op{{Kind: api.EditDest, Service: svc, Dest: d}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTable is the cost of one GET /v1/table view (what every
// `vsadm -L` asks for), without the JSON.
func BenchmarkTable(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			s := benchServer(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if t := s.Table(); len(t.Services) != n {
					b.Fatal(len(t.Services))
				}
			}
		})
	}
}
