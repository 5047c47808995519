package packet

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// Addresses used throughout the tests (documentation ranges).
var (
	client4 = netip.MustParseAddr("198.51.100.7")
	vip4    = netip.MustParseAddr("192.0.2.10")
	real4   = netip.MustParseAddr("10.1.0.5")
	dir4    = netip.MustParseAddr("10.1.0.1")
	client6 = netip.MustParseAddr("2001:db8:c::7")
	vip6    = netip.MustParseAddr("2001:db8:f::10")
	real6   = netip.MustParseAddr("2001:db8:1::5")
	dir6    = netip.MustParseAddr("2001:db8:1::1")

	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// a16 returns a in the 16-byte layout of Parsed.
func a16(a netip.Addr) [16]byte {
	if a.Is4() {
		return as16(a, false)
	}
	return a.As16()
}

// unhex decodes hex text, ignoring spaces, newlines and "|" separators.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

func tcp4Frame() *Frame {
	return &Frame{
		Ethernet: EthernetFields{Dst: macA, Src: macB},
		IPv4:     &IPv4Fields{TTL: 64, ID: 0x1234, DF: true, Src: client4, Dst: vip4},
		TCP:      &TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: TCPSyn, Window: 65535},
		Payload:  []byte("hello"),
	}
}

func tcp6Frame() *Frame {
	return &Frame{
		Ethernet: EthernetFields{Dst: macA, Src: macB},
		IPv6:     &IPv6Fields{HopLimit: 64, TrafficClass: 0x28, FlowLabel: 0x12345, Src: client6, Dst: vip6},
		TCP:      &TCPFields{SrcPort: 40000, DstPort: 443, Seq: 7, Ack: 9, Flags: TCPAck | TCPPsh, Window: 512},
		Payload:  []byte("hello, world"),
	}
}

// frame builds f with AppendFrame.
func frame(f *Frame) []byte { return AppendFrame(nil, f) }

// with returns a copy of b with bytes set from off.
func with(b []byte, off int, v ...byte) []byte {
	c := append([]byte(nil), b...)
	copy(c[off:], v)
	return c
}
