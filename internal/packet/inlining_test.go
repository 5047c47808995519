package packet

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestInlining fails when a small per-packet helper stops being inlinable
// (after a change that raises its cost above the compiler's budget), as
// net/netip's inlining_test does.
func TestInlining(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package with -gcflags=-m; skipped in -short mode")
	}
	goBin := runtime.GOROOT() + "/bin/go"
	out, err := exec.Command(goBin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, fn, ok := strings.Cut(line, ": can inline "); ok {
			fn, _, _ = strings.Cut(fn, " ")
			got[fn] = true
		}
	}
	want := []string{
		"Fold", "Update16", "Update32", "UpdateBytes", "Flags.Has", "(*Parsed).PseudoSum",
		"DecodeIP", "DecodeEmbedded",
		"Ethernet.Destination", "Ethernet.SetDestination", "Ethernet.SetSource", "Ethernet.EtherType",
		"IPv4.HeaderLen", "IPv4.TotalLength", "IPv4.Checksum", "IPv4.SetChecksum", "IPv4.Source", "IPv4.Destination",
		"IPv4.SetSource", "IPv4.SetDestination", "IPv4.TTL", "IPv4.DecrementTTL", "IPv4.SetTTLWithChecksum",
		"IPv6.Source", "IPv6.Destination", "IPv6.SetSource", "IPv6.SetDestination", "IPv6.DecrementHopLimit",
		"TCP.SourcePort", "TCP.DestinationPort", "TCP.Flags", "TCP.Checksum", "TCP.SetChecksum",
		"TCP.SetSourcePortWithChecksum", "TCP.SetDestinationPortWithChecksum",
		"UDP.SourcePort", "UDP.DestinationPort", "UDP.Checksum", "UDP.SetChecksum",
		"SCTP.SourcePort", "SCTP.DestinationPort", "SCTP.SetChecksum", "ICMP.Type", "ICMP.Code", "ICMP.SetChecksum",
	}
	for _, fn := range want {
		if !got[fn] {
			t.Errorf("%s is no longer inlinable", fn)
		}
	}
}
