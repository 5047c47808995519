package listing

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
)

func TestBuiltinResolver(t *testing.T) {
	r := BuiltinResolver()
	for _, tt := range []struct {
		proto api.Protocol
		port  uint16
		want  string
	}{
		{api.TCP, 80, "http"}, {api.TCP, 443, "https"}, {api.UDP, 53, "domain"}, {api.TCP, 8080, "http-alt"},
		{api.UDP, 80, ""}, {api.SCTP, 3868, ""}, {api.SCTP, 5672, "amqp"}, {"", 80, ""},
	} {
		got, ok := r.Port(tt.proto, tt.port)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Port(%s, %d) = %q, %v; want %q", tt.proto, tt.port, got, ok, tt.want)
		}
	}
	if name, ok := r.Host(netip.MustParseAddr("127.0.0.1")); ok {
		t.Errorf("Host named 127.0.0.1 %q; the built-in resolver names no host", name)
	}
}

// testResolver is a SystemResolver reading the given files, with a fake
// reverse lookup that counts its calls.
func testResolver(t *testing.T, services, hosts string, lookup func(ctx context.Context, addr string) ([]string, error)) *systemResolver {
	t.Helper()
	dir := t.TempDir()
	r := SystemResolver().(*systemResolver)
	r.servicesPath = filepath.Join(dir, "services")
	r.hostsPath = filepath.Join(dir, "hosts")
	if services != "" {
		if err := os.WriteFile(r.servicesPath, []byte(services), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if hosts != "" {
		if err := os.WriteFile(r.hostsPath, []byte(hosts), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.lookupAddr = lookup
	return r
}

const testServices = `# comment line
http		80/tcp		www		# WorldWideWeb HTTP
www-alt		80/tcp
web		80/udp
kerberos	88/tcp		kerberos5 krb5
diam		3868/sctp
broken		99999/tcp
broken2		12/xyz
nothing
odd		abc/tcp
`

func TestSystemResolverPorts(t *testing.T) {
	r := testResolver(t, testServices, "", nil)
	for _, tt := range []struct {
		proto api.Protocol
		port  uint16
		want  string
	}{
		{api.TCP, 80, "http"}, // first entry wins
		{api.UDP, 80, "web"},
		{api.TCP, 88, "kerberos"},
		{api.SCTP, 3868, "diam"},
		{api.TCP, 443, ""}, // not in this file: no fallback to the built-in table
	} {
		got, ok := r.Port(tt.proto, tt.port)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Port(%s, %d) = %q, %v; want %q", tt.proto, tt.port, got, ok, tt.want)
		}
	}
	// Without the file: the built-in table.
	r = testResolver(t, "", "", nil)
	if got, ok := r.Port(api.TCP, 443); got != "https" || !ok {
		t.Errorf("missing services file: Port(TCP, 443) = %q, %v; want the built-in https", got, ok)
	}
}

func TestSystemResolverHosts(t *testing.T) {
	var calls atomic.Int32
	lookup := func(ctx context.Context, addr string) ([]string, error) {
		calls.Add(1)
		switch addr {
		case "192.0.2.7":
			return []string{"seven.example.", "alias.example."}, nil
		case "2001:db8::9":
			return []string{"nine.example"}, nil
		}
		return nil, errors.New("no such host")
	}
	hosts := "127.0.0.1 localhost\n127.0.0.1 other # second line for the same address\n::1 ip6-localhost ip6-loopback\nnot-an-address foo\n10.0.0.1\n"
	r := testResolver(t, "", hosts, lookup)
	for _, tt := range []struct{ a, want string }{
		{"127.0.0.1", "localhost"},
		{"::1", "ip6-localhost"},
		{"192.0.2.7", "seven.example"},
		{"2001:db8::9", "nine.example"},
		{"192.0.2.8", ""},
		{"10.0.0.1", ""},
	} {
		for range 2 {
			got, ok := r.Host(netip.MustParseAddr(tt.a))
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Host(%s) = %q, %v; want %q", tt.a, got, ok, tt.want)
			}
		}
	}
	// Each address not in the hosts file is looked up once: the second
	// round came from the cache.
	if n := calls.Load(); n != 4 {
		t.Errorf("%d reverse lookups, want 4 (one per address missing from the hosts file)", n)
	}

	// A listing through the resolver puts IPv6 names in brackets.
	var b strings.Builder
	tab := &api.Table{Services: []api.Service{{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: netip.MustParseAddr("2001:db8::9"), Port: 80}, Scheduler: "rr"}}}
	r.ports = map[portKey]string{{api.TCP, 80}: "http"}
	r.portsOnce.Do(func() {})
	if err := WriteSave(&b, tab, Options{Names: r}); err != nil {
		t.Fatal(err)
	}
	if want := "-A -t [nine.example]:http -s rr\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestSystemResolverTimeout: a reverse lookup that does not answer is
// given up after the timeout and the address printed numerically.
func TestSystemResolverTimeout(t *testing.T) {
	r := testResolver(t, "", "", func(ctx context.Context, addr string) ([]string, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r.timeout = 50 * time.Millisecond
	start := time.Now()
	if name, ok := r.Host(netip.MustParseAddr("192.0.2.1")); ok {
		t.Errorf("got name %q from a lookup that timed out", name)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lookup took %v", d)
	}
	if SystemResolver().(*systemResolver).timeout != time.Second {
		t.Error("SystemResolver's lookup timeout is not 1 s")
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", maxLine+1)
	if _, err := parseServices(strings.NewReader("http 80/tcp\n" + long)); err == nil || !strings.Contains(err.Error(), "services") {
		t.Errorf("parseServices of an overlong line: %v, want an error", err)
	}
	m, err := parseHosts(strings.NewReader("10.0.0.1 a\n" + long))
	if err == nil || !strings.Contains(err.Error(), "hosts") || m[netip.MustParseAddr("10.0.0.1")] != "a" {
		t.Errorf("parseHosts of an overlong line: %v, %v; want an error and the lines before it", m, err)
	}
}
