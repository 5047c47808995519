package vsadmtest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// demoCommands build the table of interfaces.md §2.2 the way an operator
// would, through vsadm and the daemon. The GRE server is left out: vsd
// refuses GRE (checked below).
var demoCommands = [][]string{
	{"-A", "-t", "207.175.44.110:80", "-s", "rr"},
	{"-a", "-t", "207.175.44.110:80", "-r", "192.168.10.1:80", "-m"},
	{"-a", "-t", "207.175.44.110:80", "-r", "192.168.10.2:8080", "-m", "-w", "3", "-x", "100", "-y", "50"},
	{"-A", "-t", "10.0.0.1:443", "-p"},
	{"-a", "-t", "10.0.0.1:443", "-r", "10.0.0.21"},
	{"-a", "-t", "10.0.0.1:443", "-r", "10.0.0.22", "-w", "0"},
	{"-A", "-u", "10.0.0.1:53", "-s", "sh", "-b", "sh-port,sh-fallback", "-o"},
	{"-a", "-u", "10.0.0.1:53", "-r", "10.0.0.31", "-i"},
	{"-A", "--sctp-service", "10.0.0.1:3868", "-s", "wrr"},
	{"-a", "--sctp-service", "10.0.0.1:3868", "-r", "10.0.0.51", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum"},
	{"-A", "-t", "[2001:db8::80]:80", "-s", "rr"},
	{"-a", "-t", "[2001:db8::80]:80", "-r", "[2001:db8::a0a0]:80", "-m"},
	{"-A", "-f", "1", "-s", "wlc", "-p", "600", "-M", "255.255.255.0"},
	{"-a", "-f", "1", "-r", "10.0.0.41:0", "-w", "5"},
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../listing/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutGRE drops the GRE server's line from a captured listing.
func withoutGRE(s string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.Contains(l, "10.0.0.52") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestCapturedConfiguration: the same configuration as the captured
// ipvsadm examples, made with vsadm commands, gives the captured -S text
// byte for byte (with and without -n), and the captured -L -n and
// --thresholds text once the connection counts (3/17, 6/34 in the capture;
// 0 here, no traffic) are set aside.
func TestCapturedConfiguration(t *testing.T) {
	d := newDaemon(t)
	for _, c := range demoCommands {
		d.mustRun(t, "", c...)
	}
	_, stderr, code := d.run("", "-a", "--sctp-service", "10.0.0.1:3868", "-r", "10.0.0.52", "-i", "--tun-type", "gre")
	if code != 255 || !strings.HasPrefix(stderr, "Invalid operation.") {
		t.Errorf("GRE server: exit %d %q; vsd has no GRE, want the kernel's EINVAL refusal", code, stderr)
	}
	if got, want := d.mustRun(t, "", "-S", "-n"), withoutGRE(golden(t, "save_numeric.golden")); got != want {
		t.Errorf("-S -n:\n%s\nwant:\n%s", got, want)
	}
	if got, want := d.mustRun(t, "", "-S"), withoutGRE(golden(t, "save_names.golden")); got != want {
		t.Errorf("-S:\n%s\nwant:\n%s", got, want)
	}
	counts := regexp.MustCompile(`(?m)^(  -> .*)(3          17        |6          34        )$`)
	zero := "${1}0          0         "
	for _, tt := range []struct{ golden, view string }{
		{"table_numeric.golden", ""},
		{"table_thresholds.golden", "--thresholds"},
		{"table_tun_info.golden", "--tun-info"},
	} {
		args := []string{"-L", "-n"}
		if tt.view != "" {
			args = append(args, tt.view)
		}
		got := d.mustRun(t, "", args...)
		want := counts.ReplaceAllString(withoutGRE(golden(t, tt.golden)), zero)
		if got != want {
			t.Errorf("ipvsadm %s:\n%q\nwant:\n%q", strings.Join(args, " "), got, want)
		}
	}
}
