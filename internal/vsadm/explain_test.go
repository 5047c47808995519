package vsadm

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

// TestExplainParse: every option form is read into the request the
// daemon gets.
func TestExplainParse(t *testing.T) {
	for _, c := range []struct {
		line string
		want api.ExplainRequest
	}{
		{"--explain -t 10.0.0.1:80 --client 192.0.2.7:40000",
			api.ExplainRequest{Protocol: api.TCP, Virtual: netip.MustParseAddrPort("10.0.0.1:80"), Client: netip.MustParseAddrPort("192.0.2.7:40000")}},
		{"--explain --client=192.0.2.7:1 -u10.0.0.1:53",
			api.ExplainRequest{Protocol: api.UDP, Virtual: netip.MustParseAddrPort("10.0.0.1:53"), Client: netip.MustParseAddrPort("192.0.2.7:1")}},
		{"--explain --sctp-service [2001:db8::1]:5060 --client [2001:db8:c::7]:9 -f 16",
			api.ExplainRequest{Protocol: api.SCTP, Virtual: netip.MustParseAddrPort("[2001:db8::1]:5060"), Client: netip.MustParseAddrPort("[2001:db8:c::7]:9"), FwMark: 16}},
		{"--explain --tcp-service=10.0.0.1:80 --client 192.0.2.7:5 --tcp-flags ACK --fwmark-service=7",
			api.ExplainRequest{Protocol: api.TCP, Virtual: netip.MustParseAddrPort("10.0.0.1:80"), Client: netip.MustParseAddrPort("192.0.2.7:5"), FwMark: 7, TCPFlags: "ACK"}},
	} {
		be := &fakeBackend{}
		r := run(c.line, be)
		if r.code != 0 || len(be.explained) != 1 || be.explained[0] != c.want {
			t.Errorf("%s: exit %d %q, sent %+v, want %+v", c.line, r.code, r.stderr, be.explained, c.want)
		}
	}
}

// TestExplainErrors: a bad command line exits 2 with a message naming the
// bad thing, before connecting; a refusal by the daemon exits 255 with its
// message.
func TestExplainErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"--explain", "--explain needs -t, -u or --sctp-service VIP:PORT"},
		{"--explain -t 10.0.0.1:80", "--explain needs --client ADDR:PORT"},
		{"--explain -t 10.0.0.1 --client 192.0.2.7:1", "illegal virtual server address:port `10.0.0.1'"},
		{"--explain -t 10.0.0.1:80 --client 192.0.2.7:0", "illegal client address:port `192.0.2.7:0'"},
		{"--explain -t 10.0.0.1:80 --client", "option --client needs a value"},
		{"--explain -t 10.0.0.1:80 -u 10.0.0.1:53 --client 192.0.2.7:1", "more than one of -t, -u, --sctp-service"},
		{"--explain -t 10.0.0.1:80 --client [2001:db8::7]:1", "different address families"},
		{"--explain -t 10.0.0.1:80 --client 192.0.2.7:1 -f 0", "invalid fwmark value `0'"},
		{"--explain -u 10.0.0.1:53 --client 192.0.2.7:1 --tcp-flags SYN", "--tcp-flags given for a UDP packet"},
		{"--explain -t 10.0.0.1:80 --client 192.0.2.7:1 --tcp-flags ,", "--tcp-flags `,' names no flag"},
		{"--explain -t 10.0.0.1:80 --client 192.0.2.7:1 -n", "unknown option or argument `-n'"},
		{"--explain=1", "--explain takes no value"},
	} {
		r := run(c.line, &fakeBackend{})
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) || r.connected || r.stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, connected %v; want exit 2 and %q", c.line, r.code, r.stderr, r.connected, c.want)
		}
	}
	be := &fakeBackend{listErr: errors.New(`explain: flags: "X" is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)`)}
	r := run("--explain -t 10.0.0.1:80 --client 192.0.2.7:1 --tcp-flags X", be)
	if r.code != ExitRefused || r.stderr != "explain: flags: \"X\" is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)\n" {
		t.Errorf("daemon refusal: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("--explain -t 10.0.0.1:80 --client 192.0.2.7:1", nil); r.code != ExitUsage || !strings.Contains(r.stderr, "Are you sure that vsd is running?") {
		t.Errorf("no daemon: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestExplainOutput: the lines printed for each kind of answer.
func TestExplainOutput(t *testing.T) {
	for _, c := range []struct {
		ex   api.Explanation
		want string
	}{
		{api.Explanation{Kind: api.ExplainScheduler, Action: api.ActionForward, Server: netip.MustParseAddrPort("10.1.1.1:8080"), Method: api.Masq,
			Why:   "no connection or persistence template exists: the rr scheduler picks 10.1.1.1:8080 (Masq) for a new connection",
			Notes: []string{"rr moves on with every new connection: this is the pick for the next one"}},
			"-> 10.1.1.1:8080 Masq  (scheduler)\n" +
				"why: no connection or persistence template exists: the rr scheduler picks 10.1.1.1:8080 (Masq) for a new connection\n" +
				"note: rr moves on with every new connection: this is the pick for the next one\n"},
		{api.Explanation{Kind: api.ExplainConnection, Action: api.ActionForward, Server: netip.MustParseAddrPort("[2001:db8::5]:80"), Method: api.Route,
			State: "ESTABLISHED", Expires: 899, Why: "an existing connection (TCP ESTABLISHED, expires in 14m59s) goes to [2001:db8::5]:80 by Route"},
			"-> [2001:db8::5]:80 Route  (connection)\nwhy: an existing connection (TCP ESTABLISHED, expires in 14m59s) goes to [2001:db8::5]:80 by Route\n"},
		{api.Explanation{Kind: api.ExplainNoService, Action: api.ActionHost, Why: "no virtual service matches TCP 10.0.0.1:81: the packet goes to the host's own stack"},
			"-> the host's own stack  (no-service)\nwhy: no virtual service matches TCP 10.0.0.1:81: the packet goes to the host's own stack\n"},
		{api.Explanation{Kind: api.ExplainNoDestination, Action: api.ActionUnreachable, Why: "the scheduler finds no real server available: the client gets ICMP port unreachable"},
			"-> ICMP port unreachable to the client  (no-destination)\nwhy: the scheduler finds no real server available: the client gets ICMP port unreachable\n"},
		{api.Explanation{Kind: api.ExplainRefused, Action: api.ActionDrop, Why: "the connection table is full"},
			"-> dropped  (refused)\nwhy: the connection table is full\n"},
	} {
		be := &fakeBackend{explanation: c.ex}
		r := run("--explain -t 10.0.0.1:80 --client 192.0.2.7:1", be)
		if r.code != 0 || r.stdout != c.want || r.stderr != "" {
			t.Errorf("%s: exit %d, stderr %q, printed\n%s\nwant\n%s", c.ex.Kind, r.code, r.stderr, r.stdout, c.want)
		}
	}
}
