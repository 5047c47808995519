package vsadmtest

import (
	"strings"
	"testing"
)

// TestExplain: vsadm --explain against the real control server: a
// service made with vsadm, the rr pick shown twice the same, a persistent
// service's answer, a packet that is not for a service, and a daemon-side
// refusal; the connection table stays empty.
func TestExplain(t *testing.T) {
	d := newDaemon(t)
	d.mustRun(t, "", "-A", "-t", "10.0.0.1:80", "-s", "rr")
	d.mustRun(t, "", "-a", "-t", "10.0.0.1:80", "-r", "10.1.1.1:8080", "-m")
	d.mustRun(t, "", "-a", "-t", "10.0.0.1:80", "-r", "10.1.1.2:8080", "-m")
	first := d.mustRun(t, "", "--explain", "-t", "10.0.0.1:80", "--client", "192.0.2.7:40000")
	again := d.mustRun(t, "", "--explain", "-t", "10.0.0.1:80", "--client", "192.0.2.7:40000")
	if first != again || !strings.HasPrefix(first, "-> 10.1.1.") || !strings.Contains(first, ":8080 Masq  (scheduler)\nwhy: ") {
		t.Fatalf("explained\n%s\nthen\n%s", first, again)
	}
	out := d.mustRun(t, "", "--explain", "-t", "10.0.0.1:81", "--client", "192.0.2.7:40000")
	if out != "-> the host's own stack  (no-service)\nwhy: no virtual service matches TCP 10.0.0.1:81: the packet goes to the host's own stack\n" {
		t.Fatalf("port 81:\n%s", out)
	}
	d.mustRun(t, "", "-A", "-u", "10.0.0.1:53", "-s", "wlc", "-p", "300")
	out = d.mustRun(t, "", "--explain", "-u", "10.0.0.1:53", "--client", "192.0.2.7:5353")
	if out != "-> ICMP port unreachable to the client  (no-destination)\nwhy: the scheduler finds no real server available: the client gets ICMP port unreachable\n" {
		t.Fatalf("empty UDP service:\n%s", out)
	}
	_, errs, code := d.run("", "--explain", "-t", "10.0.0.1:80", "--client", "192.0.2.7:1", "--tcp-flags", "SYN,NOPE")
	if code != 255 || errs != "explain: flags: \"NOPE\" is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)\n" {
		t.Fatalf("bad flags: exit %d, %q", code, errs)
	}
	if n := d.srv.Engine.Table().Len(); n != 0 {
		t.Fatalf("explains left %d entries", n)
	}
}
