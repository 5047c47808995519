package forward

import (
	"bytes"
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

func TestDecTTL(t *testing.T) {
	tests := []struct {
		name string
		in   spec
		ok   bool
	}{
		{"tcp4-64", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, df: true}, true},
		{"udp4-vlan-2", spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 2, payload: http}, true},
		{"tcp4-ipopts-255", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, ipOpts: []byte{0x94, 4, 0, 0}, sport: cport, dport: vport, ttl: 255}, true},
		{"tcp4-1", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 1}, false},
		{"tcp4-0", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 0}, false},
		{"tcp6-64", spec{src: client6, dst: vip6, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64}, true},
		{"sctp6-vlan-2", spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoSCTP, sport: cport, dport: vport, ttl: 2}, true},
		{"udp6-1", spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 1}, false},
		{"udp6-0", spec{src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.in.bytes()
			p := decode(t, f)
			ok := DecTTL(f, &p)
			if ok != tc.ok {
				t.Fatalf("DecTTL = %v, want %v", ok, tc.ok)
			}
			want := tc.in
			if ok {
				want.ttl--
			}
			equalBytes(t, "frame", f, want.bytes())
			checkParsed(t, f, &p)
			verifyChecksums(t, f)
		})
	}
}

func TestSetMACs(t *testing.T) {
	for _, in := range []spec{
		{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64},
		{vlan: true, src: client6, dst: vip6, proto: packet.ProtoUDP, sport: cport, dport: vport, ttl: 64},
	} {
		f := in.bytes()
		SetMACs(f, macDirector, macServer)
		want := in.frame()
		want.Ethernet.Src, want.Ethernet.Dst = macDirector, macServer
		equalBytes(t, "frame", f, packet.AppendFrame(nil, want))
	}
	short := []byte{1, 2, 3}
	SetMACs(short, macDirector, macServer) // must not panic
	if !bytes.Equal(short, []byte{1, 2, 3}) {
		t.Error("short frame changed")
	}
}

// TestDirectRouting is the whole of DR: DecTTL and SetMACs leave the IP
// packet (VIP as destination) intact apart from the TTL.
func TestDirectRouting(t *testing.T) {
	in := spec{src: client4, dst: vip4, proto: packet.ProtoTCP, sport: cport, dport: vport, ttl: 64, payload: http}
	f := in.bytes()
	p := decode(t, f)
	if !DecTTL(f, &p) {
		t.Fatal("DecTTL refused")
	}
	SetMACs(f, macDirector, macServer)
	want := in
	want.ttl--
	wf := want.frame()
	wf.Ethernet.Src, wf.Ethernet.Dst = macDirector, macServer
	equalBytes(t, "frame", f, packet.AppendFrame(nil, wf))
	verifyChecksums(t, f)
}

func TestTooBig(t *testing.T) {
	big := make([]byte, 1500-20-20)
	big6 := make([]byte, 1500-40-20)
	tests := []struct {
		name string
		in   spec
		mtu  int
		want bool
	}{
		{"v4-df-fits", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, df: true, payload: big}, 1500, false},
		{"v4-df-too-big", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, df: true, payload: big}, 1499, true},
		{"v4-no-df", spec{src: client4, dst: vip4, proto: packet.ProtoTCP, payload: big}, 1400, false},
		{"v4-vlan-df-fits", spec{vlan: true, src: client4, dst: vip4, proto: packet.ProtoTCP, df: true, payload: big}, 1500, false},
		{"v6-fits", spec{src: client6, dst: vip6, proto: packet.ProtoTCP, payload: big6}, 1500, false},
		{"v6-too-big", spec{vlan: true, src: client6, dst: vip6, proto: packet.ProtoTCP, payload: big6}, 1480, true},
	}
	for _, tc := range tests {
		f := tc.in.bytes()
		p := decode(t, f)
		if got := TooBig(&p, tc.mtu); got != tc.want {
			t.Errorf("%s: TooBig(mtu %d) = %v, want %v", tc.name, tc.mtu, got, tc.want)
		}
	}
}
