package listing

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// fakeScheduler stands in for package sched so the listing tests do not
// depend on real schedulers: it only remembers its name.
type fakeScheduler struct{ name string }

func (f *fakeScheduler) Name() string                            { return f.name }
func (f *fakeScheduler) Update([]*service.Dest)                  {}
func (f *fakeScheduler) Schedule(*service.Request) *service.Dest { return nil }

func newFakeScheduler(name string, _ service.Flags) (service.Scheduler, error) {
	return &fakeScheduler{name: name}, nil
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// demoDest is one destination of the demo table with its counters.
type demoDest struct {
	p                        service.DestParams
	active, inactive, persis int32
}

type demoService struct {
	cfg   service.ServiceConfig
	dests []demoDest // in the order ipvsadm lists them
}

var (
	keyWeb   = service.Key{Proto: packet.ProtoTCP, Addr: addr("207.175.44.110"), Port: 80}
	keyTLS   = service.Key{Proto: packet.ProtoTCP, Addr: addr("10.0.0.1"), Port: 443}
	keyDNS   = service.Key{Proto: packet.ProtoUDP, Addr: addr("10.0.0.1"), Port: 53}
	keyDiam  = service.Key{Proto: packet.ProtoSCTP, Addr: addr("10.0.0.1"), Port: 3868}
	keyWeb6  = service.Key{Proto: packet.ProtoTCP, Addr: addr("2001:db8::80"), Port: 80}
	keyMark1 = service.Key{FwMark: 1, Addr: netip.IPv4Unspecified()}
)

// demoTable is the configuration behind the captured listings of
// interfaces.md §2.2–2.8, in the order ipvsadm prints it:
//
//	-A -t 207.175.44.110:80 -s rr; two -m servers, one -w 3 -x 100 -y 50
//	-A -t 10.0.0.1:443 -p; two -g servers, one -w 0
//	-A -u 10.0.0.1:53 -s sh -b sh-port,sh-fallback -o; one -i server
//	-A --sctp-service 10.0.0.1:3868 -s wrr; a GUE and a GRE tunnel server
//	-A -t [2001:db8::80]:80 -s rr; one -m server
//	-A -f 1 -s wlc -p 600 -M 255.255.255.0; one -g server with port 0
//
// Counters: the first server of each service 3 active / 17 inactive / 1
// persistent, the second 6 / 34 / 2 (the --persistent-conn capture).
var demoTable = []demoService{
	{service.ServiceConfig{Key: keyWeb, Sched: "rr"}, []demoDest{
		{service.DestParams{Addr: addr("192.168.10.1"), Port: 80, Weight: 1, Method: service.Masq}, 3, 17, 1},
		{service.DestParams{Addr: addr("192.168.10.2"), Port: 8080, Weight: 3, UThreshold: 100, LThreshold: 50, Method: service.Masq}, 6, 34, 2},
	}},
	{service.ServiceConfig{Key: keyTLS, Sched: "wlc", Flags: service.FlagPersistent, Timeout: 360}, []demoDest{
		{service.DestParams{Addr: addr("10.0.0.21"), Port: 443, Weight: 1, Method: service.Route}, 3, 17, 1},
		{service.DestParams{Addr: addr("10.0.0.22"), Port: 443, Weight: 0, Method: service.Route}, 6, 34, 2},
	}},
	{service.ServiceConfig{Key: keyDNS, Sched: "sh", Flags: service.FlagSched1 | service.FlagSched2 | service.FlagOnePacket}, []demoDest{
		{service.DestParams{Addr: addr("10.0.0.31"), Port: 53, Weight: 1, Method: service.Tunnel, TunType: service.TunIPIP}, 3, 17, 1},
	}},
	{service.ServiceConfig{Key: keyDiam, Sched: "wrr"}, []demoDest{
		{service.DestParams{Addr: addr("10.0.0.51"), Port: 3868, Weight: 1, Method: service.Tunnel, TunType: service.TunGUE, TunPort: 6080, TunFlags: service.TunFlagCsum}, 3, 17, 1},
		{service.DestParams{Addr: addr("10.0.0.52"), Port: 3868, Weight: 1, Method: service.Tunnel, TunType: service.TunGRE}, 6, 34, 2},
	}},
	{service.ServiceConfig{Key: keyWeb6, Sched: "rr"}, []demoDest{
		{service.DestParams{Addr: addr("2001:db8::a0a0"), Port: 80, Weight: 1, Method: service.Masq}, 3, 17, 1},
	}},
	{service.ServiceConfig{Key: keyMark1, Sched: "wlc", Flags: service.FlagPersistent, Timeout: 600, Netmask: 24}, []demoDest{
		{service.DestParams{Addr: addr("10.0.0.41"), Port: 0, Weight: 5, Method: service.Route}, 3, 17, 1},
	}},
}

// buildSet makes a service.Set holding services, each with its
// destinations and counters.
func buildSet(t testing.TB, services []demoService) *service.Set {
	t.Helper()
	set := service.NewSet(newFakeScheduler)
	for _, s := range services {
		if err := set.AddService(s.cfg); err != nil {
			t.Fatalf("AddService(%v): %v", s.cfg.Key, err)
		}
		// AddDest puts a destination at the head of the list, so add them
		// last first to get the listed order.
		for i := len(s.dests) - 1; i >= 0; i-- {
			if err := set.AddDest(s.cfg.Key, s.dests[i].p); err != nil {
				t.Fatalf("AddDest(%v, %v): %v", s.cfg.Key, s.dests[i].p.Addr, err)
			}
		}
	}
	snap := set.Snapshot()
	for _, s := range services {
		svc := snap.Find(s.cfg.Key)
		if svc == nil {
			t.Fatalf("service %v missing from the snapshot", s.cfg.Key)
		}
		if len(svc.Dests) != len(s.dests) {
			t.Fatalf("service %v has %d destinations, want %d", s.cfg.Key, len(svc.Dests), len(s.dests))
		}
		for i, d := range svc.Dests {
			want := s.dests[i]
			if d.Addr != want.p.Addr || d.Port != want.p.Port {
				t.Fatalf("service %v destination %d is %v:%d, want %v:%d", s.cfg.Key, i, d.Addr, d.Port, want.p.Addr, want.p.Port)
			}
			d.Active.Store(want.active)
			d.Inactive.Store(want.inactive)
			d.Persist.Store(want.persis)
		}
	}
	return set
}

// checkGolden compares got with testdata/name, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\n%s", path, lineDiff(string(got), string(want)))
	}
}

// lineDiff shows the first differing lines with spaces made visible.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var sb strings.Builder
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			sb.WriteString("line " + strconv.Itoa(i+1) + ":\n got  " + visible(gl) + "\n want " + visible(wl) + "\n")
		}
	}
	return sb.String()
}

func visible(s string) string { return strings.ReplaceAll(s, " ", "·") + "⏎" }

func TestWriteTableGolden(t *testing.T) {
	snap := buildSet(t, demoTable).Snapshot()
	tests := []struct {
		golden string
		opt    Options
	}{
		{"table_numeric.golden", Options{Numeric: true}},                    // ipvsadm -L -n
		{"table_names.golden", Options{Numeric: false}},                     // ipvsadm -L
		{"table_numeric.golden", Options{Numeric: true, TableSize: 4096}},   // explicit default
		{"table_names.golden", Options{Numeric: false, TableSize: 1 << 12}}, // explicit default
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTable(&buf, snap, tt.opt); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.golden, buf.Bytes())
		})
	}
}

func TestWriteServiceGolden(t *testing.T) {
	snap := buildSet(t, demoTable).Snapshot()
	svc := snap.Find(keyTLS)
	if svc == nil {
		t.Fatal("TCP 10.0.0.1:443 not found")
	}
	var buf bytes.Buffer
	if err := WriteService(&buf, svc, Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "service_numeric.golden", buf.Bytes())
}

// TestHeaderLines checks what ldirectord relies on: exactly three lines
// before the first service in the full table, two in the single-service
// form, and the table size in the version line.
func TestHeaderLines(t *testing.T) {
	const title = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	empty := service.NewSet(newFakeScheduler).Snapshot()
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		want  string
	}{
		{"empty set", func(b *bytes.Buffer) error { return WriteTable(b, empty, Options{Numeric: true}) },
			"IP Virtual Server version 1.2.1 (size=4096)\n" + title},
		{"nil snapshot", func(b *bytes.Buffer) error { return WriteTable(b, nil, Options{}) },
			"IP Virtual Server version 1.2.1 (size=4096)\n" + title},
		{"table size", func(b *bytes.Buffer) error { return WriteTable(b, empty, Options{TableSize: 1 << 20}) },
			"IP Virtual Server version 1.2.1 (size=1048576)\n" + title},
		{"nil service", func(b *bytes.Buffer) error { return WriteService(b, nil, Options{}) },
			title},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", lineDiff(buf.String(), tt.want), tt.want)
			}
		})
	}
}

// TestServiceLines covers service-line forms the demo table does not show.
func TestServiceLines(t *testing.T) {
	v6 := addr("2001:db8::1")
	tests := []struct {
		name string
		cfg  service.ServiceConfig
		opt  Options
		want string
	}{
		{"mh flags", service.ServiceConfig{Key: keyWeb, Sched: "mh", Flags: service.FlagSched1 | service.FlagSched2},
			Options{Numeric: true}, "TCP  207.175.44.110:80 mh (mh-fallback,mh-port)"},
		{"sh port only", service.ServiceConfig{Key: keyWeb, Sched: "sh", Flags: service.FlagSched2},
			Options{Numeric: true}, "TCP  207.175.44.110:80 sh (sh-port)"},
		{"sh flag-3", service.ServiceConfig{Key: keyWeb, Sched: "sh", Flags: service.FlagSched1 | service.FlagSched3},
			Options{Numeric: true}, "TCP  207.175.44.110:80 sh (sh-fallback,flag-3)"},
		{"generic flags", service.ServiceConfig{Key: keyWeb, Sched: "rr", Flags: service.FlagSched1 | service.FlagSched2 | service.FlagSched3},
			Options{Numeric: true}, "TCP  207.175.44.110:80 rr (flag-1,flag-2,flag-3)"},
		{"generic flag-2", service.ServiceConfig{Key: keyWeb, Sched: "wlc", Flags: service.FlagSched2},
			Options{Numeric: true}, "TCP  207.175.44.110:80 wlc (flag-2)"},
		{"default scheduler", service.ServiceConfig{Key: keyWeb},
			Options{Numeric: true}, "TCP  207.175.44.110:80 wlc"},
		{"flags then persistent then ops", service.ServiceConfig{Key: keyDNS, Sched: "sh", Flags: service.FlagSched1 | service.FlagPersistent | service.FlagOnePacket, Timeout: 30, Netmask: 16},
			Options{Numeric: true}, "UDP  10.0.0.1:53 sh (sh-fallback) persistent 30 mask 255.255.0.0 ops"},
		{"netmask without persistence is not shown", service.ServiceConfig{Key: keyWeb, Sched: "rr", Netmask: 24},
			Options{Numeric: true}, "TCP  207.175.44.110:80 rr"},
		{"persistent /32 has no mask", service.ServiceConfig{Key: keyWeb, Sched: "rr", Flags: service.FlagPersistent, Timeout: 360, Netmask: 32},
			Options{Numeric: true}, "TCP  207.175.44.110:80 rr persistent 360"},
		{"odd IPv4 mask", service.ServiceConfig{Key: keyWeb, Sched: "rr", Flags: service.FlagPersistent, Timeout: 1, Netmask: 1},
			Options{Numeric: true}, "TCP  207.175.44.110:80 rr persistent 1 mask 128.0.0.0"},
		{"IPv6 persistent mask", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: v6, Port: 443}, Sched: "rr", Flags: service.FlagPersistent, Timeout: 360, Netmask: 64},
			Options{Numeric: true}, "TCP  [2001:db8::1]:443 rr persistent 360 mask 64"},
		{"IPv6 persistent /128 has no mask", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: v6, Port: 443}, Sched: "rr", Flags: service.FlagPersistent, Timeout: 360},
			Options{Numeric: true}, "TCP  [2001:db8::1]:443 rr persistent 360"},
		{"IPv6 named port", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: v6, Port: 443}, Sched: "rr"},
			Options{}, "TCP  [2001:db8::1]:https rr"},
		{"UDP port without a UDP name", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoUDP, Addr: addr("10.1.2.3"), Port: 80}, Sched: "rr"},
			Options{}, "UDP  10.1.2.3:80 rr"},
		{"SCTP port stays numeric", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoSCTP, Addr: addr("10.1.2.3"), Port: 80}, Sched: "rr"},
			Options{}, "SCTP 10.1.2.3:80 rr"},
		{"port 0", service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: addr("10.1.2.3"), Port: 0}, Sched: "rr"},
			Options{}, "TCP  10.1.2.3:0 rr"},
		{"FWM IPv6", service.ServiceConfig{Key: service.Key{FwMark: 7, Addr: netip.IPv6Unspecified()}, Sched: "rr"},
			Options{Numeric: true}, "FWM  7 IPv6 rr"},
		{"FWM mark printed as signed like ipvsadm's %d", service.ServiceConfig{Key: service.Key{FwMark: 0xffffffff, Addr: netip.IPv4Unspecified()}, Sched: "rr"},
			Options{Numeric: true}, "FWM  -1 rr"},
		{"FWM large mark", service.ServiceConfig{Key: service.Key{FwMark: 0x7fffffff, Addr: netip.IPv4Unspecified()}, Sched: "rr"},
			Options{Numeric: true}, "FWM  2147483647 rr"},
		{"FWM IPv6 persistent mask", service.ServiceConfig{Key: service.Key{FwMark: 2, Addr: netip.IPv6Unspecified()}, Sched: "wlc", Flags: service.FlagPersistent, Timeout: 60, Netmask: 48},
			Options{Numeric: true}, "FWM  2 IPv6 wlc persistent 60 mask 48"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := buildSet(t, []demoService{{cfg: tt.cfg}}).Snapshot()
			if len(snap.Services) != 1 {
				t.Fatalf("%d services", len(snap.Services))
			}
			var buf bytes.Buffer
			if err := WriteService(&buf, snap.Services[0], tt.opt); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(buf.String(), "\n")
			if len(lines) != 4 || lines[3] != "" {
				t.Fatalf("want 2 title lines and one service line, got %q", buf.String())
			}
			if lines[2] != tt.want {
				t.Errorf("service line\n got  %q\n want %q", lines[2], tt.want)
			}
		})
	}
}

// TestDestLines covers destination-line forms the demo table does not show.
func TestDestLines(t *testing.T) {
	tunV4 := service.ServiceConfig{Key: keyWeb, Sched: "rr"}
	tests := []struct {
		name   string
		svc    service.ServiceConfig
		dest   service.DestParams
		active int32
		inact  int32
		opt    Options
		want   string
	}{
		{"local", tunV4, service.DestParams{Addr: addr("10.9.9.9"), Port: 80, Weight: 100000, Method: service.Local}, 0, 0,
			Options{Numeric: true}, "  -> 10.9.9.9:80                  Local   100000 0          0         "},
		{"wide numbers push the columns", tunV4, service.DestParams{Addr: addr("10.9.9.9"), Port: 80, Weight: 2147483647, Method: service.Masq}, 2147483647, 12345678,
			Options{Numeric: true}, "  -> 10.9.9.9:80                  Masq    2147483647 2147483647 12345678  "},
		{"negative counter printed as %u", tunV4, service.DestParams{Addr: addr("10.9.9.9"), Port: 80, Weight: 1, Method: service.Masq}, -1, 0,
			Options{Numeric: true}, "  -> 10.9.9.9:80                  Masq    1      4294967295 0         "},
		{"long IPv4 label is padded", tunV4, service.DestParams{Addr: addr("255.255.255.254"), Port: 65535, Weight: 1, Method: service.Route}, 0, 0,
			Options{Numeric: true}, "  -> 255.255.255.254:65535        Route   1      0          0         "},
		{"IPv6 tunnel server of an IPv4 service is never cut", tunV4,
			service.DestParams{Addr: addr("2001:db8:1234:5678:9abc:def0:1234:5678"), Port: 80, Weight: 1, Method: service.Tunnel}, 0, 0,
			Options{Numeric: true}, "  -> [2001:db8:1234:5678:9abc:def0:1234:5678]:80 Tunnel  1      0          0         "},
		{"named port of the service's protocol", tunV4, service.DestParams{Addr: addr("10.9.9.9"), Port: 443, Weight: 1, Method: service.Masq}, 0, 0,
			Options{}, "  -> 10.9.9.9:https               Masq    1      0          0         "},
		{"UDP service names UDP ports", service.ServiceConfig{Key: keyDNS, Sched: "rr"},
			service.DestParams{Addr: addr("10.9.9.9"), Port: 123, Weight: 1, Method: service.Masq}, 0, 0,
			Options{}, "  -> 10.9.9.9:ntp                 Masq    1      0          0         "},
		{"TCP service leaves a UDP-only port numeric", tunV4,
			service.DestParams{Addr: addr("10.9.9.9"), Port: 123, Weight: 1, Method: service.Masq}, 0, 0,
			Options{}, "  -> 10.9.9.9:123                 Masq    1      0          0         "},
		{"FWM service names ports as TCP", service.ServiceConfig{Key: keyMark1, Sched: "rr"},
			service.DestParams{Addr: addr("10.9.9.9"), Port: 8080, Weight: 1, Method: service.Route}, 0, 0,
			Options{}, "  -> 10.9.9.9:http-alt            Route   1      0          0         "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := buildSet(t, []demoService{{tt.svc, []demoDest{{tt.dest, tt.active, tt.inact, 0}}}}).Snapshot()
			var buf bytes.Buffer
			if err := WriteService(&buf, snap.Services[0], tt.opt); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(buf.String(), "\n")
			if len(lines) != 5 || lines[4] != "" {
				t.Fatalf("want 2 title lines, a service and a destination, got %q", buf.String())
			}
			if lines[3] != tt.want {
				t.Errorf("destination line\n got  %s\n want %s", visible(lines[3]), visible(tt.want))
			}
		})
	}
}

// TestLabelCuts checks ipvsadm's cuts: IPv4 service labels at 33 bytes and
// IPv4 destination labels at 28; IPv6 labels are never cut. With numeric
// output no IPv4 label is long enough, so a long port name is planted.
func TestLabelCuts(t *testing.T) {
	const longName = "a-very-long-service-name-xyz"
	key := portKey{packet.ProtoTCP, 4242}
	wellKnownPorts[key] = longName
	t.Cleanup(func() { delete(wellKnownPorts, key) })

	tests := []struct {
		name string
		cfg  service.ServiceConfig
		dest service.DestParams
		want []string // service line, destination line
	}{
		{"IPv4 cut",
			service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: addr("10.0.0.1"), Port: 4242}, Sched: "rr"},
			service.DestParams{Addr: addr("10.0.0.2"), Port: 4242, Weight: 1, Method: service.Masq},
			[]string{
				"TCP  10.0.0.1:a-very-long-service rr",
				"  -> 10.0.0.2:a-very-long-service Masq    1      0          0         ",
			}},
		{"IPv6 not cut",
			service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: addr("2001:db8::1"), Port: 4242}, Sched: "rr"},
			service.DestParams{Addr: addr("2001:db8::2"), Port: 4242, Weight: 1, Method: service.Masq},
			[]string{
				"TCP  [2001:db8::1]:a-very-long-service-name-xyz rr",
				"  -> [2001:db8::2]:a-very-long-service-name-xyz Masq    1      0          0         ",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := buildSet(t, []demoService{{tt.cfg, []demoDest{{tt.dest, 0, 0, 0}}}}).Snapshot()
			var buf bytes.Buffer
			if err := WriteService(&buf, snap.Services[0], Options{}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(buf.String(), "\n")
			if len(lines) != 5 {
				t.Fatalf("got %q", buf.String())
			}
			if lines[2] != tt.want[0] || lines[3] != tt.want[1] {
				t.Errorf("got\n%s\n%s\nwant\n%s\n%s", visible(lines[2]), visible(lines[3]), visible(tt.want[0]), visible(tt.want[1]))
			}
		})
	}
}

// TestIPv6Text checks addresses against glibc inet_ntop, which ipvsadm
// uses: RFC 5952 compression, lower case, and the dotted tail for
// IPv4-compatible (::a.b.c.d) and IPv4-mapped addresses.
func TestIPv6Text(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2001:db8::80", "2001:db8::80"},
		{"2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"}, // first of two equal runs
		{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
		{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"}, // longest run wins
		{"::", "::"},
		{"::1", "::1"},
		{"::2:3", "::0.2.0.3"},
		{"::102:304", "::1.2.3.4"},
		{"::1:0", "::0.1.0.0"},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"::ffff:0:0", "::ffff:0.0.0.0"},
		{"::1:0:0:0", "::1:0:0:0"},
		{"fe80::1%eth0", "fe80::1"},
	}
	for _, tt := range tests {
		got := string(appendIPv6(nil, netip.MustParseAddr(tt.in)))
		if got != tt.want {
			t.Errorf("appendIPv6(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDestWithoutConfig: a Dest that never got a configuration prints
// zeros instead of panicking.
func TestDestWithoutConfig(t *testing.T) {
	svc := &service.Service{Key: keyWeb, SchedName: "rr", Dests: []*service.Dest{{Addr: addr("10.0.0.9"), Port: 80}}}
	var buf bytes.Buffer
	if err := WriteService(&buf, svc, Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	want := "  -> 10.0.0.9:80                  Masq    0      0          0         \n"
	if !strings.HasSuffix(buf.String(), want) {
		t.Errorf("got %q, want suffix %q", buf.String(), want)
	}
}

// TestSchedNameFallback: a hand-made Service without SchedName shows its
// scheduler's name.
func TestSchedNameFallback(t *testing.T) {
	svc := &service.Service{Key: keyWeb, Sched: &fakeScheduler{name: "lblcr"}}
	var buf bytes.Buffer
	if err := WriteService(&buf, svc, Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	if want := "TCP  207.175.44.110:80 lblcr\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("got %q, want suffix %q", buf.String(), want)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	snap := buildSet(t, demoTable).Snapshot()
	if err := WriteTable(failingWriter{boom}, snap, Options{}); !errors.Is(err, boom) {
		t.Errorf("WriteTable error = %v, want %v", err, boom)
	}
	if err := WriteService(failingWriter{boom}, snap.Services[0], Options{}); !errors.Is(err, boom) {
		t.Errorf("WriteService error = %v, want %v", err, boom)
	}
}

// TestCountersAreLive: the listing reads the destination counters at the
// time of the call, not the ones of the snapshot's creation.
func TestCountersAreLive(t *testing.T) {
	snap := buildSet(t, demoTable).Snapshot()
	d := snap.Find(keyWeb6).Dests[0]
	d.Active.Store(42)
	d.Inactive.Store(7)
	var buf bytes.Buffer
	if err := WriteTable(&buf, snap, Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	want := "  -> [2001:db8::a0a0]:80          Masq    1      42         7         \n"
	if !strings.Contains(buf.String(), want) {
		t.Errorf("listing lacks %q:\n%s", want, buf.String())
	}
}

func BenchmarkWriteTable(b *testing.B) {
	snap := buildSet(b, demoTable).Snapshot()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteTable(&buf, snap, Options{Numeric: true}); err != nil {
			b.Fatal(err)
		}
	}
}
