package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/packet"
)

// TestExplainRoundTrip: api.Client.Explain over the control socket, for a
// new connection (the rr pick, the same twice), a service that does not
// exist and a bad request (an error naming the field); nothing changes in
// the table.
func TestExplainRoundTrip(t *testing.T) {
	s := newServer(t)
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: tcpSvc(80)},
		{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 8080, 1)},
		{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip2, 8080, 1)}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vsd.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer serve(t, s, ln)()
	c := api.NewClient(path)
	defer c.Close()
	ctx := context.Background()
	req := api.ExplainRequest{Protocol: api.TCP, Client: netip.MustParseAddrPort("192.0.2.7:40000"), Virtual: netip.AddrPortFrom(vip, 80)}
	a, err := c.Explain(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Explain(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != api.ExplainScheduler || a.Action != api.ActionForward || a.Method != api.Masq || a.Server.Port() != 8080 ||
		(a.Server.Addr() != rip1 && a.Server.Addr() != rip2) || a.Service == nil || a.Service.Port != 80 || !strings.Contains(a.Why, "rr scheduler") {
		t.Fatalf("explained %+v", a)
	}
	if b.Server != a.Server {
		t.Fatalf("explained to %v, then to %v", a.Server, b.Server)
	}
	req.Virtual = netip.AddrPortFrom(vip, 81)
	if e, err := c.Explain(ctx, req); err != nil || e.Kind != api.ExplainNoService || e.Action != api.ActionHost || e.Service != nil {
		t.Fatalf("port 81: %+v, %v", e, err)
	}
	req.TCPFlags = "SYN,BOGUS"
	if _, err := c.Explain(ctx, req); err == nil || err.Error() != `explain: flags: "BOGUS" is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)` {
		t.Fatalf("bad flags: %v", err)
	}
	if n := s.Engine.Table().Len(); n != 0 {
		t.Fatalf("explains left %d entries", n)
	}
}

// TestParseExplainQuery: every field read, every bad one named.
func TestParseExplainQuery(t *testing.T) {
	q, err := ParseExplainQuery(url.Values{"proto": {"TCP"}, "client": {"[::ffff:192.0.2.1]:5"}, "virtual": {"10.0.0.1:80"},
		"fwmark": {"0x10"}, "flags": {"fin|ack"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Proto != packet.ProtoTCP || q.Client != netip.MustParseAddrPort("192.0.2.1:5") || q.FwMark != 16 || q.TCPFlags != packet.TCPFin|packet.TCPAck {
		t.Fatalf("parsed %+v", q)
	}
	for _, c := range []struct{ query, want string }{
		{"client=1.2.3.4:5&virtual=10.0.0.1:80", "explain: proto: missing"},
		{"proto=icmp&client=1.2.3.4:5&virtual=10.0.0.1:80", `explain: proto: "icmp"`},
		{"proto=tcp&virtual=10.0.0.1:80", "explain: client: missing"},
		{"proto=tcp&client=1.2.3.4&virtual=10.0.0.1:80", `explain: client: "1.2.3.4" is not ADDR:PORT`},
		{"proto=tcp&client=1.2.3.4:0&virtual=10.0.0.1:80", "explain: client: 1.2.3.4:0 has port 0"},
		{"proto=tcp&client=1.2.3.4:5&virtual=10.0.0.1", "explain: virtual:"},
		{"proto=tcp&client=[2001:db8::1]:5&virtual=10.0.0.1:80", "different address families"},
		{"proto=tcp&client=1.2.3.4:5&virtual=10.0.0.1:80&fwmark=0", "explain: fwmark:"},
		{"proto=tcp&client=1.2.3.4:5&virtual=10.0.0.1:80&fwmark=4294967296", "explain: fwmark:"},
		{"proto=udp&client=1.2.3.4:5&virtual=10.0.0.1:80&flags=SYN", "explain: flags: TCP flags given for UDP"},
		{"proto=tcp&client=1.2.3.4:5&virtual=10.0.0.1:80&flags=,", "explain: flags:"},
		{"proto=tcp&client=1.2.3.4:5&virtual=10.0.0.1:80&port=1", `explain: unknown parameter "port"`},
		{"proto=tcp&proto=udp&client=1.2.3.4:5&virtual=10.0.0.1:80", "explain: proto: given 2 times"},
	} {
		v, _ := url.ParseQuery(c.query)
		if _, err := ParseExplainQuery(v); err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.query, err, c.want)
		}
	}
}

// FuzzExplainQuery feeds arbitrary query strings to GET /v1/explain: no
// panic, 200 with a known kind or 400 with a message starting
// "explain: ", and never an entry in the table.
func FuzzExplainQuery(f *testing.F) {
	for _, seed := range []string{
		"proto=tcp&client=192.0.2.7:40000&virtual=10.0.0.1:80",
		"proto=udp&client=[2001:db8::7]:53&virtual=[2001:db8::1]:53",
		"proto=sctp&client=192.0.2.7:1&virtual=10.0.0.1:80&fwmark=7",
		"proto=tcp&client=192.0.2.7:1&virtual=10.0.0.1:80&flags=ACK",
		"proto=tcp&client=192.0.2.7:1&virtual=10.0.0.1:80&flags=fin|ack",
		"proto=tcp&client=1.2.3.4&virtual=10.0.0.1:80",
		"proto=tcp&client=[fe80::1%25eth0]:5&virtual=10.0.0.1:80",
		"proto=%ff&client=&virtual=&x=1",
	} {
		f.Add(seed)
	}
	s := newServer(&testing.T{})
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: tcpSvc(80)},
		{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 8080, 1)}}); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	kinds := map[string]bool{api.ExplainConnection: true, api.ExplainTemplate: true, api.ExplainScheduler: true, api.ExplainNoService: true,
		api.ExplainNoDestination: true, api.ExplainNotCreated: true, api.ExplainRefused: true}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/explain", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		body := rec.Body.String()
		switch rec.Code {
		case http.StatusOK:
			if !strings.Contains(body, `"kind":"`) {
				t.Fatalf("%q: 200 with %q", query, body)
			}
			k := body[strings.Index(body, `"kind":"`)+8:]
			if k = k[:strings.IndexByte(k, '"')]; !kinds[k] {
				t.Fatalf("%q: kind %q", query, k)
			}
		case http.StatusBadRequest:
			if !strings.HasPrefix(body, "explain: ") {
				t.Fatalf("%q: 400 with %q", query, body)
			}
		default:
			t.Fatalf("%q: status %d %q", query, rec.Code, body)
		}
		if n := s.Engine.Table().Len(); n != 0 {
			t.Fatalf("%q: the table has %d entries", query, n)
		}
	})
}
