package vsadmtest

import (
	"strings"
	"testing"
)

const baseRules = `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.2:8080 -m -w 3
-A -u 10.0.0.1:53 -s wlc -p 600
-a -u 10.0.0.1:53 -r 192.168.0.3:53 -g -w 1
`

// TestBadInputChangesNothing: a refused command, or a restore with one bad
// line (refused by vsadm's checks or by the daemon), leaves the table
// exactly as it was, checked with -S before and after.
func TestBadInputChangesNothing(t *testing.T) {
	d := newDaemon(t)
	d.mustRun(t, baseRules, "-R")
	before := d.mustRun(t, "", "-S", "-n")
	if before != baseRules {
		t.Fatalf("restore of the base rules gave:\n%s", before)
	}
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"duplicate service", "", []string{"-A", "-t", "10.0.0.1:80"}, 255, "Service already exists\n"},
		{"bad weight", "", []string{"-a", "-t", "10.0.0.1:80", "-r", "192.168.0.9", "-w", "-3"}, 2, "illegal weight specified\n"},
		{"unknown server", "", []string{"-e", "-t", "10.0.0.1:80", "-r", "192.168.0.9:80", "-m"}, 255, "No such destination\n"},
		{"restore, validation error on line 3", "-C\n-A -t 10.0.0.9:80 -s rr\n-a -t 10.0.0.9:80 -r 1.2.3.4 -w many\n-D -t 10.0.0.1:80\n", []string{"-R"}, 2, "illegal weight specified\n"},
		{"restore, kernel error on the last line", "-C\n-A -t 10.0.0.9:80 -s rr\n-A -t 10.0.0.9:80 -s rr\n", []string{"-R"}, 255, "Service already exists\n"},
		{"restore, unknown scheduler", "-D -t 10.0.0.1:80\n-A -t 10.0.0.7:80 -s bogus\n", []string{"-R"}, 255, "Scheduler or persistence engine not found\n"},
	} {
		_, stderr, code := d.run(tt.stdin, tt.args...)
		if code != tt.code || !strings.HasSuffix(stderr, tt.msg) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d ending %q", tt.name, code, stderr, tt.code, tt.msg)
		}
		if after := d.mustRun(t, "", "-S", "-n"); after != before {
			t.Errorf("%s changed the table:\nbefore:\n%s\nafter:\n%s", tt.name, before, after)
		}
	}
}

// TestSysctl: vsadm --sysctl sets tunables atomically through the daemon,
// lists them, and refuses bad values with a precise message and no change.
func TestSysctl(t *testing.T) {
	d := newDaemon(t)
	d.mustRun(t, "", "--sysctl", "drop_entry=1", "secure_tcp=3", "timeout_tcp_syn_recv=10")
	out := d.mustRun(t, "", "--sysctl")
	for _, want := range []string{"drop_entry = 1\n", "secure_tcp = 3\n", "timeout_tcp_syn_recv = 10\n", "amemthresh = 1024\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--sysctl lacks %q:\n%s", want, out)
		}
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--sysctl", "drop_packet=3", "drop_entry=4"}, 255, "drop_entry 4: out of range 0..3\n"},
		{[]string{"--sysctl", "amemthresh=-5"}, 255, "amemthresh -5: out of range 0..1099511627776\n"},
		{[]string{"--sysctl", "drop_entry"}, 2, "--sysctl: `drop_entry' is not NAME=VALUE\n"},
		{[]string{"--sysctl", "drop_entry=on"}, 2, "--sysctl: drop_entry: `on' is not a whole number\n"},
	} {
		_, stderr, code := d.run("", tt.args...)
		if code != tt.code || stderr != tt.msg {
			t.Errorf("%v: exit %d %q, want %d %q", tt.args, code, stderr, tt.code, tt.msg)
		}
	}
	if again := d.mustRun(t, "", "--sysctl"); again != out {
		t.Errorf("a refused --sysctl changed the tunables:\n%s", again)
	}
}
