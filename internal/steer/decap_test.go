package steer

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vsd/vsd/internal/packet"
)

const guePort = 6080

var (
	director4 = netip.MustParseAddr("10.0.2.1")
	realSrv4  = netip.MustParseAddr("10.0.2.9")
	director6 = netip.MustParseAddr("2001:db8:2::1")
	realSrv6  = netip.MustParseAddr("2001:db8:2::9")
)

// refDecap is a Go implementation of the decapsulator's rules: the frame
// it should produce, or nil when b must pass unchanged.
func refDecap(b []byte, vips map[key]struct{}, gue uint16) []byte {
	if len(b) < 14 {
		return nil
	}
	et, ethLen := binary.BigEndian.Uint16(b[12:]), 14
	if et == 0x8100 {
		if len(b) < 18 {
			return nil
		}
		et, ethLen = binary.BigEndian.Uint16(b[16:]), 18
	}
	var proto uint8
	var next int
	switch et {
	case 0x0800:
		ip := b[ethLen:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&15 < 5 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return nil
		}
		proto, next = ip[9], ethLen+int(ip[0]&15)*4
	case 0x86dd:
		ip := b[ethLen:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return nil
		}
		proto, next = ip[6], ethLen+40
	default:
		return nil
	}
	if proto == protoUDP && gue != 0 {
		if len(b) < next+12 || binary.BigEndian.Uint16(b[next+2:]) != gue || b[next+8]&0xe0 != 0 {
			return nil
		}
		proto = b[next+9]
		next += 12 + int(b[next+8]&0x1f)*4
	}
	var k key
	var innerET uint16
	switch proto {
	case protoIPIP:
		if len(b) < next+20 || b[next]>>4 != 4 {
			return nil
		}
		k, innerET = vipKey(netip.AddrFrom4([4]byte(b[next+16:next+20]))), 0x0800
	case protoIPv6:
		if len(b) < next+40 || b[next]>>4 != 6 {
			return nil
		}
		k, innerET = vipKey(netip.AddrFrom16([16]byte(b[next+24:next+40]))), 0x86dd
	default:
		return nil
	}
	if _, ok := vips[k]; !ok {
		return nil
	}
	out := append([]byte(nil), b[:ethLen]...)
	binary.BigEndian.PutUint16(out[ethLen-2:], innerET)
	return append(out, b[next:]...)
}

func decapVIPs() []netip.Addr { return []netip.Addr{vip4, vip6} }

func loadTestDecap(t testing.TB, gue uint16) *Decap {
	t.Helper()
	needRoot(t)
	d, err := LoadDecap(decapVIPs(), gue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// tunnel wraps inner (a frame description without outer headers) in the
// outer headers given; it returns the tunnelled frame and the frame the
// decapsulator must produce.
func tunnel(inner *packet.Frame, outer4 *packet.IPv4Fields, outer6 *packet.IPv6Fields, gue *packet.GUEFields) (in, want []byte) {
	want = build(inner)
	f := *inner
	f.OuterIPv4, f.OuterIPv6, f.GUE = outer4, outer6, gue
	if gue != nil {
		f.OuterUDP = &packet.UDPFields{SrcPort: 40000, DstPort: guePort}
	}
	return build(&f), want
}

// decapCase is a frame in and what the decapsulator makes of it.
type decapCase struct {
	name     string
	in, want []byte // want nil: unchanged
}

func decapCases() []decapCase {
	tcp4 := func() *packet.Frame { return l4Frame(protoTCP, client, 1234, vip4, 80) }
	tcp6 := func() *packet.Frame { return l4Frame(protoTCP, cli6, 1234, vip6, 80) }
	o4 := func() *packet.IPv4Fields { return ip4(director4, realSrv4) }
	o6 := func() *packet.IPv6Fields { return ip6(director6, realSrv6) }
	var cases []decapCase
	add := func(name string, in, want []byte) { cases = append(cases, decapCase{name, in, want}) }
	in, want := tunnel(tcp4(), o4(), nil, nil)
	add("ipip", in, want)
	in, want = tunnel(withVLAN(tcp4()), o4(), nil, nil)
	add("ipip over vlan", in, want)
	o := o4()
	o.Options = []byte{1, 1, 1, 1, 1, 1, 1, 1}
	in, want = tunnel(tcp4(), o, nil, nil)
	add("ipip, outer options", in, want)
	in, want = tunnel(tcp6(), o4(), nil, nil)
	add("6in4", in, want)
	in, want = tunnel(tcp4(), nil, o6(), nil)
	add("4in6", in, want)
	in, want = tunnel(tcp6(), nil, o6(), nil)
	add("ip6ip6", in, want)
	in, want = tunnel(tcp4(), o4(), nil, &packet.GUEFields{})
	add("gue v4 outer, inner v4", in, want)
	in, want = tunnel(tcp6(), o4(), nil, &packet.GUEFields{})
	add("gue v4 outer, inner v6", in, want)
	in, want = tunnel(tcp4(), nil, o6(), &packet.GUEFields{})
	add("gue v6 outer, inner v4", in, want)
	in, want = tunnel(withVLAN(tcp6()), nil, o6(), &packet.GUEFields{Options: make([]byte, 8)})
	add("gue v6 outer, options, vlan", in, want)
	in, want = tunnel(l4Frame(protoUDP, client, 1234, vip4, 53), o4(), nil, &packet.GUEFields{Options: []byte{1, 2, 3, 4}})
	add("gue with options, inner udp", in, want)

	// Unchanged.
	in, _ = tunnel(l4Frame(protoTCP, client, 1234, other4, 80), o4(), nil, nil)
	add("ipip to a non-vip", in, nil)
	in, _ = tunnel(l4Frame(protoTCP, cli6, 1234, other6, 80), nil, o6(), nil)
	add("ip6ip6 to a non-vip", in, nil)
	in, _ = tunnel(l4Frame(protoTCP, client, 1234, other4, 80), o4(), nil, &packet.GUEFields{})
	add("gue to a non-vip", in, nil)
	in, _ = tunnel(tcp4(), o4(), nil, &packet.GUEFields{})
	binary.BigEndian.PutUint16(in[14+20+2:], guePort+1)
	add("gue, other port", in, nil)
	in, _ = tunnel(tcp4(), o4(), nil, &packet.GUEFields{Version: 1})
	add("gue version 1", in, nil)
	in, _ = tunnel(tcp4(), o4(), nil, &packet.GUEFields{Control: true, Proto: 4})
	add("gue control message", in, nil)
	in, _ = tunnel(tcp4(), o4(), nil, &packet.GUEFields{})
	in[14+20+8+1] = 47
	add("gue, inner proto 47", in, nil)
	in, _ = tunnel(tcp4(), o4(), nil, nil)
	in[14+20] = 0x65 // inner version 6 under protocol 4
	add("ipip, inner version mismatch", in, nil)
	o = o4()
	o.MF = true
	in, _ = tunnel(tcp4(), o, nil, nil)
	add("ipip, outer fragment", in, nil)
	add("plain tcp to vip", build(tcp4()), nil)
	add("plain tcp6 to vip", build(tcp6()), nil)
	add("arp", arpFrame(1, vip4, false), nil)

	return cases
}

func TestDecap(t *testing.T) {
	d := loadTestDecap(t, guePort)
	d0 := loadTestDecap(t, 0)
	cases := decapCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vk := map[key]struct{}{vipKey(vip4): {}, vipKey(vip6): {}}
			ref := refDecap(c.in, vk, guePort)
			if !bytes.Equal(ref, c.want) {
				t.Fatalf("reference decap disagrees with the test's expectation:\n got  %x\n want %x", ref, c.want)
			}
			checkDecap(t, d.Program(), c.in, c.want)
			// Without a GUE port, GUE frames pass unchanged.
			want0 := refDecap(c.in, vk, 0)
			if strings.HasPrefix(c.name, "gue") && want0 != nil {
				t.Fatal("reference decapsulates GUE without a GUE port")
			}
			checkDecap(t, d0.Program(), c.in, want0)
		})
	}

	// Every prefix of every frame: XDP_PASS, and the output is the input
	// or its reference decapsulation.
	vk := map[key]struct{}{vipKey(vip4): {}, vipKey(vip6): {}}
	n := 0
	for _, c := range cases {
		for l := 14; l < len(c.in); l++ {
			b := c.in[:l]
			checkDecap(t, d.Program(), b, refDecap(b, vk, guePort))
			n++
			if t.Failed() {
				t.Fatalf("%s truncated to %d bytes", c.name, l)
			}
		}
	}
	t.Logf("%d truncated frames", n)
}

// checkDecap runs prog on in: the verdict must be XDP_PASS and the output
// want (nil: in, unchanged).
func checkDecap(t testing.TB, prog *ebpf.Program, in, want []byte) {
	t.Helper()
	if want == nil {
		want = in
	}
	ret, out := run(t, prog, in)
	if ret != xdpPass {
		t.Errorf("verdict %d, want XDP_PASS", ret)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("output frame (%d bytes)\n %x\nwant (%d bytes)\n %x", len(out), out, len(want), want)
	}
}

func TestLoadDecapErrors(t *testing.T) {
	for _, vips := range [][]netip.Addr{nil, {{}}} {
		if _, err := LoadDecap(vips, 0); err == nil {
			t.Errorf("LoadDecap(%v) succeeded", vips)
		}
	}
}
