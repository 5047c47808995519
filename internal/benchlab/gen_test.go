package benchlab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestGenArgsRoundTrip(t *testing.T) {
	c := GenConfig{Iface: "eth0", DstMAC: "02:00:00:00:00:02", Src: netip.MustParseAddr("10.0.0.2"),
		Dst: netip.MustParseAddr("10.0.9.80"), DstPort: 9, Rate: 300000, Duration: 2500 * time.Millisecond}
	got, err := ParseGenArgs(genArgs(c))
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("round trip: %+v; want %+v", got, c)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--iface", "eth0", "--dst-mac", "02:00:00:00:00:02", "--src", "10.0.0.2", "--dst", "::1"}, "--dst"},
		{[]string{"--iface", "eth0", "--dst-mac", "zz", "--src", "10.0.0.2", "--dst", "10.0.0.1"}, "--dst-mac"},
		{[]string{"--dst-mac", "02:00:00:00:00:02", "--src", "10.0.0.2", "--dst", "10.0.0.1"}, "--iface"},
		{[]string{"--iface", "e", "--dst-mac", "02:00:00:00:00:02", "--src", "10.0.0.2", "--dst", "10.0.0.1", "--rate", "-5"}, "--rate"},
		{[]string{"--iface", "e", "--dst-mac", "02:00:00:00:00:02", "--src", "10.0.0.2", "--dst", "10.0.0.1", "--duration", "0s"}, "--duration"},
		{[]string{"--iface", "e", "--dst-mac", "02:00:00:00:00:02", "--src", "10.0.0.2", "--dst", "10.0.0.1", "--port", "70000"}, "--port"},
		{[]string{"--bogus"}, "bogus"},
	} {
		if _, err := ParseGenArgs(bad.args); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseGenArgs(%q): %v; want an error about %s", bad.args, err, bad.want)
		}
	}
}

func TestParseGenResult(t *testing.T) {
	r := GenResult{Sent: 1500000, Refused: 3, Elapsed: 3 * time.Second, Syscalls: 23438}
	got, err := ParseGenResult([]byte("noise from a tool\n" + MarshalGenResult(r) + "\n"))
	if err != nil || got != r {
		t.Fatalf("ParseGenResult = %+v, %v; want %+v", got, err, r)
	}
	if got.SentRate() != 500000 {
		t.Errorf("SentRate %v; want 500000", got.SentRate())
	}
	if _, err := ParseGenResult([]byte("gen: sendmmsg: boom\n")); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("bad output: %v", err)
	}
}
