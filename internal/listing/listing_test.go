package listing

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output (the committed files are the bytes of interfaces.md)")

func addr(s string) netip.Addr         { return netip.MustParseAddr(s) }
func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Counters of the demo table: the real server that ipvsadm lists first in
// a service has the "one" values, the second the "two" values (the
// stand-in's canned numbers of interfaces.md §2.3/§2.4).
var (
	statsOne = api.Stats{Conns: 1234, InPkts: 98765, OutPkts: 87654, InBytes: 6543210, OutBytes: 123456789012}
	statsTwo = api.Stats{Conns: 2468, InPkts: 197530, OutPkts: 175308, InBytes: 13086420, OutBytes: 246913578024}
	ratesOne = api.Rates{CPS: 2, InPPS: 40, OutPPS: 38, InBPS: 3000, OutBPS: 250000}
	ratesTwo = api.Rates{CPS: 4, InPPS: 80, OutPPS: 76, InBPS: 6000, OutBPS: 500000}
)

func destOne(d api.Dest) api.Dest {
	d.ActiveConns, d.InactConns, d.PersistConns = 3, 17, 1
	d.Stats, d.Rates = statsOne, ratesOne
	return d
}

func destTwo(d api.Dest) api.Dest {
	d.ActiveConns, d.InactConns, d.PersistConns = 6, 34, 2
	d.Stats, d.Rates = statsTwo, ratesTwo
	return d
}

func sumStats(a, b api.Stats) api.Stats {
	return api.Stats{Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes}
}

func sumRates(a, b api.Rates) api.Rates {
	return api.Rates{CPS: a.CPS + b.CPS, InPPS: a.InPPS + b.InPPS, OutPPS: a.OutPPS + b.OutPPS,
		InBPS: a.InBPS + b.InBPS, OutBPS: a.OutBPS + b.OutBPS}
}

// withTotals sets a service's counters to the sum of its real servers'.
func withTotals(s api.Service) api.Service {
	for _, d := range s.Dests {
		s.Stats = sumStats(s.Stats, d.Stats)
		s.Rates = sumRates(s.Rates, d.Rates)
	}
	return s
}

// hexU parses the hex numbers of the generated proc examples.
func hexU(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// demoTable is the configuration behind the captured listings of
// interfaces.md §2.2–2.8, in the kernel's order (the order of §3.1:
// services as added, each service's real servers newest first), so that
// every sorted listing exercises Sort:
//
//	-A -t 207.175.44.110:80 -s rr; two -m servers, 192.168.10.2:8080 -w 3 -x 100 -y 50
//	-A -t 10.0.0.1:443 -p; two -g servers, one -w 0
//	-A -u 10.0.0.1:53 -s sh -b sh-port,sh-fallback -o; one -i server
//	-A --sctp-service 10.0.0.1:3868 -s wrr; a GUE (port 6080, csum) and a GRE tunnel server
//	-A -t [2001:db8::80]:80 -s rr; one -m server
//	-A -f 1 -s wlc -p 600 -M 255.255.255.0; one -g server with port 0 and weight 5
//
// The totals of the table are those of /proc/net/ip_vs_stats in §3.4 (the
// first service's) and the per-worker counters those of §3.5.
func demoTable(t testing.TB) *api.Table {
	tab := &api.Table{
		Services: []api.Service{
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("207.175.44.110"), Port: 80}, Scheduler: "rr",
				Dests: []api.Dest{
					destTwo(api.Dest{DestKey: api.DestKey{Addr: addr("192.168.10.2"), Port: 8080}, Method: api.Masq, Weight: 3, UThreshold: 100, LThreshold: 50}),
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("192.168.10.1"), Port: 80}, Method: api.Masq, Weight: 1}),
				},
			}),
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("10.0.0.1"), Port: 443}, Scheduler: "wlc",
				Persistent: true, Timeout: 360,
				Dests: []api.Dest{
					destTwo(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.22"), Port: 443}, Method: api.Route, Weight: 0}),
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.21"), Port: 443}, Method: api.Route, Weight: 1}),
				},
			}),
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{Protocol: api.UDP, Addr: addr("10.0.0.1"), Port: 53}, Scheduler: "sh",
				SchedFlags: api.SchedFlag1 | api.SchedFlag2, OnePacket: true,
				Dests: []api.Dest{
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.31"), Port: 53}, Method: api.Tunnel, Weight: 1}),
				},
			}),
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{Protocol: api.SCTP, Addr: addr("10.0.0.1"), Port: 3868}, Scheduler: "wrr",
				Dests: []api.Dest{
					destTwo(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.52"), Port: 3868}, Method: api.Tunnel, Weight: 1, TunType: api.TunGRE}),
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.51"), Port: 3868}, Method: api.Tunnel, Weight: 1,
						TunType: api.TunGUE, TunPort: 6080, TunCsum: api.CsumOn}),
				},
			}),
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("2001:db8::80"), Port: 80}, Scheduler: "rr",
				Dests: []api.Dest{
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("2001:db8::a0a0"), Port: 80}, Method: api.Masq, Weight: 1}),
				},
			}),
			withTotals(api.Service{
				ServiceKey: api.ServiceKey{FwMark: 1}, Scheduler: "wlc", Persistent: true, Timeout: 600, Netmask: 24,
				Dests: []api.Dest{
					destOne(api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.41"), Port: 0}, Method: api.Route, Weight: 5}),
				},
			}),
		},
	}
	tab.Stats = tab.Services[0].Stats
	tab.Rates = tab.Services[0].Rates
	tab.PerWorker = []api.Stats{
		{Conns: hexU(t, "76C"), InPkts: hexU(t, "249F0"), OutPkts: hexU(t, "1FBD0"), InBytes: hexU(t, "970FE0"), OutBytes: hexU(t, "2C3CE1EC00")},
		{Conns: hexU(t, "70A"), InPkts: hexU(t, "23B77"), OutPkts: hexU(t, "20762"), InBytes: hexU(t, "94765E"), OutBytes: hexU(t, "29FEE9623C")},
	}
	return tab
}

// connsShown is the /proc/net/ip_vs_conn input of interfaces.md §2.9.
var connsShown = []api.Conn{
	{Protocol: "TCP", Client: addrPort("10.0.0.2:54321"), Virtual: addrPort("207.175.44.110:80"), Dest: addrPort("192.168.10.1:80"), State: "ESTABLISHED", Expires: 897},
	{Protocol: "TCP", Client: addrPort("10.0.0.2:54323"), Virtual: addrPort("207.175.44.110:80"), Dest: addrPort("192.168.10.2:8080"), State: "TIME_WAIT", Expires: 65},
	{Protocol: "TCP", Client: addrPort("10.0.0.2:0"), Virtual: addrPort("10.0.0.1:443"), Dest: addrPort("10.0.0.21:443"), State: "NONE", Expires: 359},
	{Protocol: "TCP", Client: addrPort("10.0.0.2:54336"), Virtual: addrPort("10.0.0.1:443"), Dest: addrPort("10.0.0.21:443"), State: "FIN_WAIT", Expires: 118},
	{Protocol: "UDP", Client: addrPort("10.0.0.3:41394"), Virtual: addrPort("10.0.0.1:53"), Dest: addrPort("10.0.0.31:53"), State: "UDP", Expires: 295},
	{Protocol: "IP", Client: addrPort("10.0.0.4:0"), Virtual: addrPort("0.0.0.1:0"), Dest: addrPort("10.0.0.41:0"), State: "NONE", Expires: 598},
	{Protocol: "TCP", Client: addrPort("[2001:db8::2]:50000"), Virtual: addrPort("[2001:db8::80]:80"), Dest: addrPort("[2001:db8::a0a0]:80"), State: "SYN_RECV", Expires: 59},
	{Protocol: "UDP", Client: addrPort("10.0.0.3:5060"), Virtual: addrPort("10.0.0.1:5060"), Dest: addrPort("10.0.0.51:5060"), State: "UDP", Expires: 178,
		PEName: "sip", PEData: "3a1f7c@example.com"},
}

// connsProc is the example of interfaces.md §3.2 (the same entries as
// §2.9 without the FIN_WAIT one, the IPv6 entry last).
func connsProc() []api.Conn {
	c := []api.Conn{}
	for i, e := range connsShown {
		if i != 3 && i != 6 {
			c = append(c, e)
		}
	}
	return append(c, connsShown[6])
}

// connsSync is the example of interfaces.md §3.3.
var connsSync = []api.Conn{
	{Protocol: "TCP", Client: addrPort("10.0.0.2:54321"), Virtual: addrPort("207.175.44.110:80"), Dest: addrPort("192.168.10.1:80"), State: "ESTABLISHED", Expires: 897},
	{Protocol: "TCP", Client: addrPort("10.0.0.9:40000"), Virtual: addrPort("207.175.44.110:80"), Dest: addrPort("192.168.10.2:8080"), State: "ESTABLISHED", Expires: 180, Synced: true},
}

// withoutSCTP is the table of interfaces.md §3.1, whose example lists
// every demo service except the SCTP one.
func withoutSCTP(t *api.Table) *api.Table {
	c := *t
	c.Services = nil
	for _, s := range t.Services {
		if s.Protocol != api.SCTP {
			c.Services = append(c.Services, s)
		}
	}
	return &c
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

// lineDiff shows the differing lines with spaces made visible.
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

// TestListingGolden prints every captured or generated example of
// interfaces.md §2.2–2.11 and §3.1–3.5 from the demo configuration and
// compares it byte for byte with the document's text.
func TestListingGolden(t *testing.T) {
	tab := demoTable(t)
	tls := &tab.Services[1]
	tests := []struct {
		golden string
		write  func(w *bytes.Buffer) error
	}{
		{"table_numeric.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{Numeric: true}) }},
		{"table_names.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{}) }},
		{"table_names.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{Names: BuiltinResolver()}) }},
		{"service_numeric.golden", func(w *bytes.Buffer) error { return WriteService(w, tls, Options{Numeric: true}) }},
		{"table_stats.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{Numeric: true, View: ViewStats}) }},
		{"table_stats_exact.golden", func(w *bytes.Buffer) error {
			return WriteTable(w, tab, Options{Numeric: true, View: ViewStats, Exact: true})
		}},
		{"table_rate.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{Numeric: true, View: ViewRate}) }},
		{"table_rate.golden", func(w *bytes.Buffer) error {
			return WriteTable(w, tab, Options{Numeric: true, View: ViewRate, Exact: true}) // all below 10^8
		}},
		{"table_thresholds.golden", func(w *bytes.Buffer) error {
			return WriteTable(w, tab, Options{Numeric: true, View: ViewThresholds})
		}},
		{"table_persistent_conn.golden", func(w *bytes.Buffer) error {
			return WriteTable(w, tab, Options{Numeric: true, View: ViewPersistentConn})
		}},
		{"table_tun_info.golden", func(w *bytes.Buffer) error { return WriteTable(w, tab, Options{Numeric: true, View: ViewTunInfo}) }},
		{"save_numeric.golden", func(w *bytes.Buffer) error { return WriteSave(w, tab, Options{Numeric: true}) }},
		{"save_names.golden", func(w *bytes.Buffer) error { return WriteSave(w, tab, Options{}) }},
		{"conns_numeric.golden", func(w *bytes.Buffer) error { return WriteConns(w, connsShown, Options{Numeric: true}) }},
		{"conns_persistent.golden", func(w *bytes.Buffer) error {
			return WriteConns(w, connsShown, Options{Numeric: true, View: ViewPersistentConn})
		}},
		{"timeout.golden", func(w *bytes.Buffer) error { return WriteTimeouts(w, api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}) }},
		{"daemon.golden", func(w *bytes.Buffer) error {
			// Backup first in the slice: the master is printed first anyway.
			return WriteDaemons(w, []api.SyncDaemon{
				{Role: "backup", Interface: "eth0", SyncID: 0, MaxLen: 1472, Group: addr("224.0.0.81"), Port: 8848, TTL: 1},
				{Role: "master", Interface: "eth1", SyncID: 7, MaxLen: 1472, Group: addr("224.0.0.81"), Port: 8848, TTL: 1},
			})
		}},
		{"proc_ip_vs.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcServices, withoutSCTP(tab), nil) }},
		{"proc_ip_vs_conn_c_input.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcConns, nil, connsShown) }},
		{"proc_ip_vs_conn.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcConns, tab, connsProc()) }},
		{"proc_ip_vs_conn_sync.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcConnsSync, tab, connsSync) }},
		{"proc_ip_vs_stats.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcStats, tab, nil) }},
		{"proc_ip_vs_stats_percpu.golden", func(w *bytes.Buffer) error { return WriteProc(w, ProcStatsPerCPU, tab, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.golden, buf.Bytes())
		})
	}
}

// TestWriteTableKeepsInput: listings sort a copy; the caller's table keeps
// its order and contents.
func TestWriteTableKeepsInput(t *testing.T) {
	tab := demoTable(t)
	before := demoTable(t)
	for _, v := range []View{ViewPlain, ViewStats, ViewTunInfo} {
		if err := WriteTable(&bytes.Buffer{}, tab, Options{View: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteSave(&bytes.Buffer{}, tab, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteService(&bytes.Buffer{}, &tab.Services[0], Options{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tab, before) {
		t.Error("a listing modified the caller's table")
	}
}

// TestNoSort: --nosort prints the table's order, which for the demo table
// is the kernel's order of §3.1.
func TestNoSort(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, demoTable(t), Options{Numeric: true, NoSort: true}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, l := range strings.Split(buf.String(), "\n")[3:] {
		if l != "" {
			order = append(order, strings.Fields(l)[1])
		}
	}
	want := []string{"207.175.44.110:80", "192.168.10.2:8080", "192.168.10.1:80", "10.0.0.1:443", "10.0.0.22:443", "10.0.0.21:443",
		"10.0.0.1:53", "10.0.0.31:53", "10.0.0.1:3868", "10.0.0.52:3868", "10.0.0.51:3868", "[2001:db8::80]:80", "[2001:db8::a0a0]:80", "1", "10.0.0.41:0"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order %q\nwant  %q", order, want)
	}
}

func TestTimeoutsAfterSet(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTimeouts(&buf, api.Timeouts{TCP: 3600, TCPFin: 120, UDP: 60}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "Timeout (tcp tcpfin udp): 3600 120 60\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDaemons(t *testing.T) {
	tests := []struct {
		name string
		ds   []api.SyncDaemon
		want string
	}{
		{"none", nil, ""},
		{"old kernel fields only", []api.SyncDaemon{{Role: "master", Interface: "eth0", SyncID: 1}},
			"master sync daemon (mcast=eth0, syncid=1)\n"},
		{"IPv6 group, no maxlen", []api.SyncDaemon{{Role: "backup", Interface: "eth2", SyncID: 255, Group: addr("ff02::1:2"), Port: 8848}},
			"backup sync daemon (mcast=eth2, syncid=255, group=ff02::1:2, port=8848)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteDaemons(&buf, tt.ds); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
	var buf bytes.Buffer
	err := WriteDaemons(&buf, []api.SyncDaemon{{Role: "master", Interface: "eth0"}, {Role: "slave"}})
	if err == nil || !strings.Contains(err.Error(), `"slave"`) || buf.Len() != 0 {
		t.Errorf("unknown role: err %v, output %q; want an error naming it and no output", err, buf.String())
	}
}

// TestHeaderLines checks what ldirectord relies on: exactly three lines
// before the first service in the full table, two in the single-service
// form, and the table size in the version line.
func TestHeaderLines(t *testing.T) {
	const title = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		want  string
	}{
		{"empty table", func(b *bytes.Buffer) error { return WriteTable(b, &api.Table{}, Options{Numeric: true}) },
			"IP Virtual Server version 1.2.1 (size=4096)\n" + title},
		{"nil table", func(b *bytes.Buffer) error { return WriteTable(b, nil, Options{}) },
			"IP Virtual Server version 1.2.1 (size=4096)\n" + title},
		{"table size", func(b *bytes.Buffer) error { return WriteTable(b, &api.Table{TableSize: 1 << 20}, Options{}) },
			"IP Virtual Server version 1.2.1 (size=1048576)\n" + title},
		{"nil service", func(b *bytes.Buffer) error { return WriteService(b, nil, Options{}) }, title},
		{"nil service, stats view", func(b *bytes.Buffer) error { return WriteService(b, nil, Options{View: ViewStats}) },
			"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n"},
		{"empty save", func(b *bytes.Buffer) error { return WriteSave(b, &api.Table{}, Options{}) }, ""},
		{"nil save", func(b *bytes.Buffer) error { return WriteSave(b, nil, Options{}) }, ""},
		{"no conns", func(b *bytes.Buffer) error { return WriteConns(b, nil, Options{}) },
			"IPVS connection entries\npro expire state       source             virtual            destination\n"},
		{"proc ip_vs of nil table", func(b *bytes.Buffer) error { return WriteProc(b, ProcServices, nil, nil) },
			"IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"},
		{"proc ip_vs size", func(b *bytes.Buffer) error { return WriteProc(b, ProcServices, &api.Table{TableSize: 256}, nil) },
			"IP Virtual Server version 1.2.1 (size=256)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got\n%s", lineDiff(buf.String(), tt.want))
			}
		})
	}
}

var keyWeb = api.ServiceKey{Protocol: api.TCP, Addr: netip.MustParseAddr("207.175.44.110"), Port: 80}

// serviceLine returns the service line of WriteService(svc).
func serviceLine(t *testing.T, svc api.Service, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteService(&buf, &svc, o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if len(lines) != 4+len(svc.Dests) || lines[len(lines)-1] != "" {
		t.Fatalf("want 2 title lines, a service line and %d server lines, got %q", len(svc.Dests), buf.String())
	}
	return lines[2]
}

// TestServiceLines covers service-line forms the demo table does not show.
func TestServiceLines(t *testing.T) {
	v6 := api.ServiceKey{Protocol: api.TCP, Addr: addr("2001:db8::1"), Port: 443}
	num := Options{Numeric: true}
	tests := []struct {
		name string
		svc  api.Service
		opt  Options
		want string
	}{
		{"mh flags", api.Service{ServiceKey: keyWeb, Scheduler: "mh", SchedFlags: api.SchedFlag1 | api.SchedFlag2},
			num, "TCP  207.175.44.110:80 mh (mh-fallback,mh-port)"},
		{"sh port only", api.Service{ServiceKey: keyWeb, Scheduler: "sh", SchedFlags: api.SchedFlag2},
			num, "TCP  207.175.44.110:80 sh (sh-port)"},
		{"sh flag-3", api.Service{ServiceKey: keyWeb, Scheduler: "sh", SchedFlags: api.SchedFlag1 | api.SchedFlag3},
			num, "TCP  207.175.44.110:80 sh (sh-fallback,flag-3)"},
		{"generic flags", api.Service{ServiceKey: keyWeb, Scheduler: "rr", SchedFlags: api.SchedFlag1 | api.SchedFlag2 | api.SchedFlag3},
			num, "TCP  207.175.44.110:80 rr (flag-1,flag-2,flag-3)"},
		{"generic flag-2", api.Service{ServiceKey: keyWeb, Scheduler: "wlc", SchedFlags: api.SchedFlag2},
			num, "TCP  207.175.44.110:80 wlc (flag-2)"},
		{"other bits are not flags", api.Service{ServiceKey: keyWeb, Scheduler: "wlc", SchedFlags: 0x1 | 0x40},
			num, "TCP  207.175.44.110:80 wlc"},
		{"default scheduler", api.Service{ServiceKey: keyWeb}, num, "TCP  207.175.44.110:80 wlc"},
		{"flags, persistent, mask, pe, ops", api.Service{ServiceKey: keyWeb, Scheduler: "sh", SchedFlags: api.SchedFlag1,
			Persistent: true, Timeout: 30, Netmask: 16, PE: "sip", OnePacket: true},
			num, "TCP  207.175.44.110:80 sh (sh-fallback) persistent 30 mask 255.255.0.0 pe sip ops"},
		{"pe only on persistent services", api.Service{ServiceKey: keyWeb, Scheduler: "rr", PE: "sip"},
			num, "TCP  207.175.44.110:80 rr"},
		{"netmask without persistence is not shown", api.Service{ServiceKey: keyWeb, Scheduler: "rr", Netmask: 24},
			num, "TCP  207.175.44.110:80 rr"},
		{"persistent /32 has no mask", api.Service{ServiceKey: keyWeb, Scheduler: "rr", Persistent: true, Timeout: 360, Netmask: 32},
			num, "TCP  207.175.44.110:80 rr persistent 360"},
		{"odd IPv4 mask", api.Service{ServiceKey: keyWeb, Scheduler: "rr", Persistent: true, Timeout: 1, Netmask: 1},
			num, "TCP  207.175.44.110:80 rr persistent 1 mask 128.0.0.0"},
		{"IPv6 persistent mask", api.Service{ServiceKey: v6, Scheduler: "rr", Persistent: true, Timeout: 360, Netmask: 64},
			num, "TCP  [2001:db8::1]:443 rr persistent 360 mask 64"},
		{"IPv6 persistent /128 has no mask", api.Service{ServiceKey: v6, Scheduler: "rr", Persistent: true, Timeout: 360, Netmask: 128},
			num, "TCP  [2001:db8::1]:443 rr persistent 360"},
		{"IPv6 named port", api.Service{ServiceKey: v6, Scheduler: "rr"}, Options{}, "TCP  [2001:db8::1]:https rr"},
		{"UDP port without a UDP name", api.Service{ServiceKey: api.ServiceKey{Protocol: api.UDP, Addr: addr("10.1.2.3"), Port: 80}, Scheduler: "rr"},
			Options{}, "UDP  10.1.2.3:80 rr"},
		{"SCTP port with a name", api.Service{ServiceKey: api.ServiceKey{Protocol: api.SCTP, Addr: addr("10.1.2.3"), Port: 5672}, Scheduler: "rr"},
			Options{}, "SCTP 10.1.2.3:amqp rr"},
		{"port 0", api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("10.1.2.3")}, Scheduler: "rr"},
			Options{}, "TCP  10.1.2.3:0 rr"},
		{"FWM IPv6", api.Service{ServiceKey: api.ServiceKey{FwMark: 7, IPv6: true}, Scheduler: "rr"}, num, "FWM  7 IPv6 rr"},
		{"FWM mark printed as signed like ipvsadm's %d", api.Service{ServiceKey: api.ServiceKey{FwMark: 0xffffffff}, Scheduler: "rr"},
			num, "FWM  -1 rr"},
		{"FWM large mark", api.Service{ServiceKey: api.ServiceKey{FwMark: 0x7fffffff}, Scheduler: "rr"}, num, "FWM  2147483647 rr"},
		{"FWM IPv6 persistent mask", api.Service{ServiceKey: api.ServiceKey{FwMark: 2, IPv6: true}, Scheduler: "wlc", Persistent: true, Timeout: 60, Netmask: 48},
			num, "FWM  2 IPv6 wlc persistent 60 mask 48"},
		{"stats view pads the label to 33", api.Service{ServiceKey: api.ServiceKey{FwMark: 2, IPv6: true}, Stats: api.Stats{Conns: 1}},
			Options{Numeric: true, View: ViewStats}, "FWM  2 IPv6                              1        0        0        0        0"},
		{"stats view never cuts IPv6", api.Service{ServiceKey: api.ServiceKey{Protocol: api.SCTP, Addr: addr("2001:db8:1234:5678:9abc:def0:1234:5678"), Port: 65535}},
			Options{Numeric: true, View: ViewStats}, "SCTP [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0        0        0        0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serviceLine(t, tt.svc, tt.opt); got != tt.want {
				t.Errorf("service line\n got  %s\n want %s", visible(got), visible(tt.want))
			}
		})
	}
}

// TestDestLines covers real-server lines the demo table does not show.
func TestDestLines(t *testing.T) {
	web := api.Service{ServiceKey: keyWeb, Scheduler: "rr"}
	dns := api.Service{ServiceKey: api.ServiceKey{Protocol: api.UDP, Addr: addr("10.0.0.1"), Port: 53}, Scheduler: "rr"}
	mark := api.Service{ServiceKey: api.ServiceKey{FwMark: 1}, Scheduler: "rr"}
	num := Options{Numeric: true}
	d := func(a string, port uint16, m api.Method, w int32) api.Dest {
		return api.Dest{DestKey: api.DestKey{Addr: addr(a), Port: port}, Method: m, Weight: w}
	}
	with := func(x api.Dest, f func(*api.Dest)) api.Dest { f(&x); return x }
	tests := []struct {
		name string
		svc  api.Service
		dest api.Dest
		opt  Options
		want string
	}{
		{"local", web, d("10.9.9.9", 80, api.Local, 100000), num, "  -> 10.9.9.9:80                  Local   100000 0          0         "},
		{"unset method is Route", web, d("10.9.9.9", 80, "", 1), num, "  -> 10.9.9.9:80                  Route   1      0          0         "},
		{"wide numbers push the columns", web, with(d("10.9.9.9", 80, api.Masq, 2147483647), func(x *api.Dest) { x.ActiveConns, x.InactConns = 2147483647, 12345678 }),
			num, "  -> 10.9.9.9:80                  Masq    2147483647 2147483647 12345678  "},
		{"negative counter printed as %u", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) { x.ActiveConns = -1 }),
			num, "  -> 10.9.9.9:80                  Masq    1      4294967295 0         "},
		{"negative weight printed as %d", web, d("10.9.9.9", 80, api.Masq, -1), num, "  -> 10.9.9.9:80                  Masq    -1     0          0         "},
		{"persistent-conn view prints the weight as %u", web, with(d("10.9.9.9", 80, api.Masq, -1), func(x *api.Dest) { x.PersistConns = 12 }),
			Options{Numeric: true, View: ViewPersistentConn}, "  -> 10.9.9.9:80                  4294967295 12          0          0         "},
		{"thresholds", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) { x.UThreshold, x.LThreshold = 4294967295, 7 }),
			Options{Numeric: true, View: ViewThresholds}, "  -> 10.9.9.9:80                  4294967295 7          0          0         "},
		{"long IPv4 label is padded", web, d("255.255.255.254", 65535, api.Route, 1), num, "  -> 255.255.255.254:65535        Route   1      0          0         "},
		{"IPv6 tunnel server of an IPv4 service is never cut", web, d("2001:db8:1234:5678:9abc:def0:1234:5678", 80, api.Tunnel, 1),
			num, "  -> [2001:db8:1234:5678:9abc:def0:1234:5678]:80 Tunnel  1      0          0         "},
		{"named port of the service's protocol", web, d("10.9.9.9", 443, api.Masq, 1), Options{}, "  -> 10.9.9.9:https               Masq    1      0          0         "},
		{"UDP service names UDP ports", dns, d("10.9.9.9", 123, api.Masq, 1), Options{}, "  -> 10.9.9.9:ntp                 Masq    1      0          0         "},
		{"TCP service leaves a UDP-only port numeric", web, d("10.9.9.9", 123, api.Masq, 1), Options{}, "  -> 10.9.9.9:123                 Masq    1      0          0         "},
		{"FWM service names ports as TCP", mark, d("10.9.9.9", 8080, api.Route, 1), Options{}, "  -> 10.9.9.9:http-alt            Route   1      0          0         "},
		{"tun-info remcsum gue", web, with(d("10.9.9.9", 80, api.Tunnel, 1), func(x *api.Dest) { x.TunType, x.TunPort, x.TunCsum = api.TunGUE, 65535, api.CsumRemote }),
			Options{Numeric: true, View: ViewTunInfo}, "  -> 10.9.9.9:80                  Tunnel  gue:65535:r+c 1      0          0         "},
		{"tun-info gre csum", web, with(d("10.9.9.9", 80, api.Tunnel, 1), func(x *api.Dest) { x.TunType, x.TunCsum = api.TunGRE, api.CsumOn }),
			Options{Numeric: true, View: ViewTunInfo}, "  -> 10.9.9.9:80                  Tunnel  gre:+c        1      0          0         "},
		{"tun-info ignores tunnel fields of a non-tunnel", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) { x.TunType = api.TunGRE }),
			Options{Numeric: true, View: ViewTunInfo}, "  -> 10.9.9.9:80                  Masq    n/a           1      0          0         "},
		{"rate view: CPS/InPPS/OutPPS never abbreviated", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) {
			x.Rates = api.Rates{CPS: 123456789, InPPS: 1e12, OutPPS: 5, InBPS: 123456789, OutBPS: 1e14}
		}), Options{Numeric: true, View: ViewRate}, "  -> 10.9.9.9:80                  123456789 1000000000000        5  123456K     100T"},
		{"stats view", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) {
			x.Stats = api.Stats{Conns: 99999999, InPkts: 100000000, OutPkts: 1e9, InBytes: 1e11, OutBytes: 1<<64 - 1}
		}), Options{Numeric: true, View: ViewStats}, "  -> 10.9.9.9:80                  99999999  100000K    1000M     100G18446744T"},
		{"stats view exact", web, with(d("10.9.9.9", 80, api.Masq, 1), func(x *api.Dest) {
			x.Stats = api.Stats{Conns: 99999999, InPkts: 100000000, OutPkts: 1e9, InBytes: 1e11, OutBytes: 1<<64 - 1}
		}), Options{Numeric: true, View: ViewStats, Exact: true}, "  -> 10.9.9.9:80                  99999999 100000000 1000000000 100000000000 18446744073709551615"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			svc.Dests = []api.Dest{tt.dest}
			var buf bytes.Buffer
			if err := WriteService(&buf, &svc, tt.opt); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(buf.String(), "\n")
			if len(lines) != 5 || lines[4] != "" {
				t.Fatalf("want 2 title lines, a service and a server, got %q", buf.String())
			}
			if lines[3] != tt.want {
				t.Errorf("server line\n got  %s\n want %s", visible(lines[3]), visible(tt.want))
			}
		})
	}
}

// TestLargeNum checks ipvsadm's abbreviation at each boundary and the
// --exact widths.
func TestLargeNum(t *testing.T) {
	tests := []struct {
		v     uint64
		short string
		exact string
	}{
		{0, "        0", "        0"},
		{12345678, " 12345678", " 12345678"},
		{99_999_999, " 99999999", " 99999999"},
		{100_000_000, "  100000K", " 100000000"},
		{999_999_999, "  999999K", " 999999999"},
		{1_000_000_000, "    1000M", " 1000000000"},
		{99_999_999_999, "   99999M", " 99999999999"},
		{100_000_000_000, "     100G", " 100000000000"},
		{99_999_999_999_999, "   99999G", " 99999999999999"},
		{100_000_000_000_000, "     100T", " 100000000000000"},
		{1<<64 - 1, "18446744T", " 18446744073709551615"},
	}
	for _, tt := range tests {
		if got := string(appendLargeNum(nil, tt.v, false)); got != tt.short {
			t.Errorf("%d: got %q, want %q", tt.v, got, tt.short)
		}
		if got := string(appendLargeNum(nil, tt.v, true)); got != tt.exact {
			t.Errorf("%d exact: got %q, want %q", tt.v, got, tt.exact)
		}
	}
}

// longNames names every host and port with long names, to reach ipvsadm's
// label cuts.
type longNames struct{}

func (longNames) Host(a netip.Addr) (string, bool) {
	if a.Is6() {
		return "a-long-ipv6-host-name.example.org", true
	}
	return "host-" + strings.ReplaceAll(a.String(), ".", "-") + ".example.org", true
}

func (longNames) Port(proto api.Protocol, port uint16) (string, bool) {
	return "port-" + strings.ToLower(string(proto)) + "-" + strconv.Itoa(int(port)), true
}

// TestLabelCuts checks ipvsadm's cuts: IPv4 service labels at 33 bytes and
// IPv4 real-server labels at 28; IPv6 labels are never cut (names of IPv6
// hosts are put in brackets). The save format never cuts.
func TestLabelCuts(t *testing.T) {
	v4 := api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("10.0.0.1"), Port: 80}, Scheduler: "rr",
		Dests: []api.Dest{{DestKey: api.DestKey{Addr: addr("10.0.0.2"), Port: 80}, Method: api.Masq, Weight: 1}}}
	v6 := api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: addr("2001:db8::1"), Port: 80}, Scheduler: "rr",
		Dests: []api.Dest{{DestKey: api.DestKey{Addr: addr("2001:db8::2"), Port: 80}, Method: api.Masq, Weight: 1}}}
	tests := []struct {
		name string
		svc  api.Service
		opt  Options
		want []string
	}{
		{"IPv4 cut", v4, Options{Names: longNames{}}, []string{
			"TCP  host-10-0-0-1.example.org:po rr",
			"  -> host-10-0-0-2.example.org:po Masq    1      0          0         ",
		}},
		{"IPv4 cut, stats view", v4, Options{Names: longNames{}, View: ViewStats}, []string{
			"TCP  host-10-0-0-1.example.org:po        0        0        0        0        0",
			"  -> host-10-0-0-2.example.org:po        0        0        0        0        0",
		}},
		{"IPv6 not cut", v6, Options{Names: longNames{}}, []string{
			"TCP  [a-long-ipv6-host-name.example.org]:port-tcp-80 rr",
			"  -> [a-long-ipv6-host-name.example.org]:port-tcp-80 Masq    1      0          0         ",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteService(&buf, &tt.svc, tt.opt); err != nil {
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
	var buf bytes.Buffer
	if err := WriteSave(&buf, &api.Table{Services: []api.Service{v4}}, Options{Names: longNames{}}); err != nil {
		t.Fatal(err)
	}
	want := "-A -t host-10-0-0-1.example.org:port-tcp-80 -s rr\n" +
		"-a -t host-10-0-0-1.example.org:port-tcp-80 -r host-10-0-0-2.example.org:port-tcp-80 -m -w 1\n"
	if buf.String() != want {
		t.Errorf("save\n%s", lineDiff(buf.String(), want))
	}
}

// TestSaveForms covers -S forms the demo table does not show.
func TestSaveForms(t *testing.T) {
	tun := func(typ string, port uint16, csum string) api.Dest {
		return api.Dest{DestKey: api.DestKey{Addr: addr("10.0.0.9"), Port: 80}, Method: api.Tunnel, Weight: 2, TunType: typ, TunPort: port, TunCsum: csum}
	}
	tab := &api.Table{Services: []api.Service{
		{ServiceKey: api.ServiceKey{FwMark: 3, IPv6: true}, Scheduler: "mh", SchedFlags: api.SchedFlag1 | api.SchedFlag2 | api.SchedFlag3,
			Persistent: true, Timeout: 60, Netmask: 64, PE: "sip", OnePacket: true,
			Dests: []api.Dest{{DestKey: api.DestKey{Addr: addr("2001:db8::9"), Port: 0}, Method: api.Local, Weight: 1, UThreshold: 9, LThreshold: 3}}},
		{ServiceKey: keyWeb, Scheduler: "", PE: "sip", Netmask: 24,
			Dests: []api.Dest{tun("", 0, ""), tun(api.TunGUE, 6081, api.CsumRemote), tun(api.TunGUE, 6082, ""), tun(api.TunGRE, 0, api.CsumRemote), tun(api.TunGRE, 0, api.CsumOn)}},
	}}
	var buf bytes.Buffer
	if err := WriteSave(&buf, tab, Options{Numeric: true, NoSort: true}); err != nil {
		t.Fatal(err)
	}
	want := "-A -f 3 -6 -s mh -p 60 -M 64 --pe sip -o -b mh-fallback,mh-port,flag-3\n" +
		"-a -f 3 -6 -r [2001:db8::9]:0 -g -w 1\n" +
		"-A -t 207.175.44.110:80 -s wlc --pe sip\n" +
		"-a -t 207.175.44.110:80 -r 10.0.0.9:80 -i -w 2 --tun-type ipip\n" +
		"-a -t 207.175.44.110:80 -r 10.0.0.9:80 -i -w 2 --tun-type gue --tun-port 6081 --tun-remcsum\n" +
		"-a -t 207.175.44.110:80 -r 10.0.0.9:80 -i -w 2 --tun-type gue --tun-port 6082 --tun-nocsum\n" +
		"-a -t 207.175.44.110:80 -r 10.0.0.9:80 -i -w 2 --tun-type gre --tun-nocsum\n" +
		"-a -t 207.175.44.110:80 -r 10.0.0.9:80 -i -w 2 --tun-type gre --tun-csum\n"
	if buf.String() != want {
		t.Errorf("got\n%s", lineDiff(buf.String(), want))
	}
}

// TestConnLines covers -c forms the captured example does not show.
func TestConnLines(t *testing.T) {
	c := api.Conn{Protocol: "SCTP", Client: addrPort("10.0.0.2:443"), Virtual: addrPort("10.0.0.1:443"), Dest: addrPort("[2001:db8::5]:443"),
		State: "ESTABLISHED", Expires: 3600}
	tests := []struct {
		name string
		c    api.Conn
		opt  Options
		want string
	}{
		{"minutes not capped, mixed families", c, Options{Numeric: true},
			"SCTP 60:00  ESTABLISHED 10.0.0.2:443       10.0.0.1:443       [2001:db8::5]:443"},
		{"huge expiry", api.Conn{Protocol: "TCP", State: "NONE", Expires: 1<<32 - 1, Client: addrPort("1.2.3.4:1"), Virtual: addrPort("1.2.3.4:2"), Dest: addrPort("1.2.3.4:3")},
			Options{Numeric: true}, "TCP 71582788:15 NONE        1.2.3.4:1          1.2.3.4:2          1.2.3.4:3"},
		{"names", api.Conn{Protocol: "TCP", State: "SYN_RECV", Expires: 5, Client: addrPort("10.0.0.2:5060"), Virtual: addrPort("10.0.0.1:80"), Dest: addrPort("10.0.0.5:8080")},
			Options{}, "TCP 00:05  SYN_RECV    10.0.0.2:sip       10.0.0.1:http      10.0.0.5:http-alt"},
		{"IP template ports stay numeric", api.Conn{Protocol: "IP", State: "NONE", Expires: 5, Client: addrPort("10.0.0.2:80"), Virtual: addrPort("0.0.0.1:80"), Dest: addrPort("10.0.0.5:80")},
			Options{}, "IP  00:05  NONE        10.0.0.2:80        0.0.0.1:80         10.0.0.5:80"},
		{"PE name without data: short form", api.Conn{Protocol: "UDP", State: "UDP", Expires: 5, Client: addrPort("10.0.0.2:1"), Virtual: addrPort("10.0.0.1:2"), Dest: addrPort("10.0.0.5:3"), PEName: "sip"},
			Options{Numeric: true, View: ViewPersistentConn}, "UDP 00:05  UDP         10.0.0.2:1         10.0.0.1:2         10.0.0.5:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteConns(&buf, []api.Conn{tt.c}, tt.opt); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(buf.String(), "\n")
			if len(lines) != 4 {
				t.Fatalf("got %q", buf.String())
			}
			if lines[2] != tt.want {
				t.Errorf("\n got  %s\n want %s", visible(lines[2]), visible(tt.want))
			}
		})
	}
}

// TestProcForms covers /proc/net/ip_vs and ip_vs_conn forms the generated
// examples do not show.
func TestProcForms(t *testing.T) {
	tab := &api.Table{TableSize: 1 << 20, Services: []api.Service{
		{ServiceKey: api.ServiceKey{FwMark: 0xdeadbeef, IPv6: true}, Scheduler: "rr", OnePacket: true},
		{ServiceKey: api.ServiceKey{Protocol: api.SCTP, Addr: addr("2001:db8::1"), Port: 443}, Scheduler: "wrr", OnePacket: true, Persistent: true, Timeout: 30, Netmask: 64,
			Dests: []api.Dest{{DestKey: api.DestKey{Addr: addr("10.0.0.2"), Port: 443}, Method: api.Tunnel, Weight: -1, ActiveConns: -2, InactConns: 5}}},
		{ServiceKey: api.ServiceKey{Protocol: api.UDP, Addr: addr("10.0.0.1"), Port: 53}, Scheduler: "rr", OnePacket: true, Persistent: true, Timeout: 10, Netmask: 16},
	}}
	want := "IP Virtual Server version 1.2.1 (size=1048576)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n" +
		"SCTP  [2001:0db8:0000:0000:0000:0000:0000:0001]:01BB wrr persistent 30 00000040\n" +
		"  -> 0A000002:01BB      Tunnel  -1     -2         5         \n" +
		"UDP  0A000001:0035 rr ops  persistent 10 FFFF0000\n" +
		"FWM  DEADBEEF rr ops \n"
	var buf bytes.Buffer
	if err := WriteProc(&buf, ProcServices, tab, nil); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("ip_vs\n%s", lineDiff(buf.String(), want))
	}

	conns := []api.Conn{{Protocol: "ICMPv6", Client: addrPort("[::ffff:1.2.3.4]:0"), Virtual: addrPort("[2001:db8::1]:0"), Dest: addrPort("10.0.0.2:65535"),
		State: "ERR!", Expires: 12345678, PEName: "sip", Synced: true}}
	want = procConnHeader + "ICMPv6 0000:0000:0000:0000:0000:ffff:0102:0304 0000 2001:0db8:0000:0000:0000:0000:0000:0001 0000 0A000002 FFFF ERR!        12345678 sip \n"
	buf.Reset()
	if err := WriteProc(&buf, ProcConns, nil, conns); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("ip_vs_conn\n%s", lineDiff(buf.String(), want))
	}
	want = procSyncHeader + "ICMPv6 0000:0000:0000:0000:0000:ffff:0102:0304 0000 2001:0db8:0000:0000:0000:0000:0000:0001 0000 0A000002 FFFF ERR!        SYNC   12345678\n"
	buf.Reset()
	if err := WriteProc(&buf, ProcConnsSync, nil, conns); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("ip_vs_conn_sync\n%s", lineDiff(buf.String(), want))
	}

	buf.Reset()
	big := &api.Table{Stats: api.Stats{OutBytes: 1<<64 - 1}, PerWorker: make([]api.Stats, 17)}
	if err := WriteProc(&buf, ProcStatsPerCPU, big, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if len(lines) != 2+17+1+1+2+1 || !strings.HasPrefix(lines[2+16], " 10 ") || lines[2+17] != "  ~        0        0        0                0 FFFFFFFFFFFFFFFF" {
		t.Errorf("ip_vs_stats_percpu:\n%s", buf.String())
	}
}

func TestProcNames(t *testing.T) {
	for _, name := range ProcNames() {
		if err := WriteProc(&bytes.Buffer{}, name, nil, nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	err := WriteProc(&bytes.Buffer{}, "ip_vs_foo", nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"ip_vs_foo"`) || !strings.Contains(err.Error(), "ip_vs_stats_percpu") {
		t.Errorf("unknown name: %v; want an error naming it and the known names", err)
	}
}

// TestBadInput: what ipvsadm could not have been given is an error naming
// it, and nothing is written.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		svc  api.Service
		view View
		want string
	}{
		{"unknown protocol", api.Service{ServiceKey: api.ServiceKey{Protocol: "ICMP", Addr: addr("10.0.0.1")}}, ViewPlain, `"ICMP"`},
		{"no protocol", api.Service{ServiceKey: api.ServiceKey{Addr: addr("10.0.0.1")}}, ViewPlain, `protocol ""`},
		{"no address", api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Port: 80}}, ViewPlain, "no address"},
		{"IPv4 netmask", api.Service{ServiceKey: keyWeb, Netmask: 33}, ViewPlain, "/33"},
		{"negative netmask", api.Service{ServiceKey: keyWeb, Netmask: -1}, ViewPlain, "/-1"},
		{"IPv6 netmask", api.Service{ServiceKey: api.ServiceKey{FwMark: 1, IPv6: true}, Netmask: 129}, ViewPlain, "/129"},
		{"server without address", api.Service{ServiceKey: keyWeb, Dests: []api.Dest{{}}}, ViewPlain, "real server 1"},
		{"scheduler with a newline", api.Service{ServiceKey: keyWeb, Scheduler: "rr\nTCP"}, ViewPlain, `scheduler name "rr\nTCP"`},
		{"PE with a space", api.Service{ServiceKey: keyWeb, PE: "s p"}, ViewPlain, `persistence engine name "s p"`},
		{"unknown view", api.Service{ServiceKey: keyWeb}, View(42), "view 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := &api.Table{Services: []api.Service{tt.svc}}
			for name, write := range map[string]func(*bytes.Buffer) error{
				"WriteTable":   func(b *bytes.Buffer) error { return WriteTable(b, tab, Options{View: tt.view}) },
				"WriteService": func(b *bytes.Buffer) error { return WriteService(b, &tab.Services[0], Options{View: tt.view}) },
				"WriteSave":    func(b *bytes.Buffer) error { return WriteSave(b, tab, Options{View: tt.view}) },
				"WriteProc":    func(b *bytes.Buffer) error { return WriteProc(b, ProcServices, tab, nil) },
			} {
				if tt.view != ViewPlain && name != "WriteTable" && name != "WriteService" {
					continue
				}
				var buf bytes.Buffer
				err := write(&buf)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: error %v, want one containing %s", name, err, tt.want)
				}
				if buf.Len() != 0 {
					t.Errorf("%s wrote %q despite the error", name, buf.String())
				}
			}
		})
	}
}

// TestBadEntries: connection fields and daemon interfaces that would not
// be one field of a line are refused with an error naming the entry.
func TestBadEntries(t *testing.T) {
	conns := []api.Conn{connsShown[0], connsShown[1]}
	conns[1].State = "TIME WAIT"
	for name, write := range map[string]func(*bytes.Buffer) error{
		"WriteConns":      func(b *bytes.Buffer) error { return WriteConns(b, conns, Options{}) },
		"ip_vs_conn":      func(b *bytes.Buffer) error { return WriteProc(b, ProcConns, nil, conns) },
		"ip_vs_conn_sync": func(b *bytes.Buffer) error { return WriteProc(b, ProcConnsSync, nil, conns) },
		"WriteDaemons": func(b *bytes.Buffer) error {
			return WriteDaemons(b, []api.SyncDaemon{{Role: "master", Interface: "eth0\n"}})
		},
	} {
		var buf bytes.Buffer
		err := write(&buf)
		want := `connection 2: state "TIME WAIT"`
		if name == "WriteDaemons" {
			want = `sync daemon 1: interface name "eth0\n"`
		}
		if err == nil || !strings.Contains(err.Error(), want) || buf.Len() != 0 {
			t.Errorf("%s: error %v, output %q; want an error containing %s and no output", name, err, buf.String(), want)
		}
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	tab := demoTable(t)
	w := failingWriter{boom}
	for name, err := range map[string]error{
		"WriteTable":    WriteTable(w, tab, Options{}),
		"WriteService":  WriteService(w, &tab.Services[0], Options{}),
		"WriteSave":     WriteSave(w, tab, Options{}),
		"WriteConns":    WriteConns(w, connsShown, Options{}),
		"WriteTimeouts": WriteTimeouts(w, api.Timeouts{}),
		"WriteDaemons":  WriteDaemons(w, []api.SyncDaemon{{Role: "master"}}),
		"WriteProc":     WriteProc(w, ProcStats, tab, nil),
	} {
		if !errors.Is(err, boom) {
			t.Errorf("%s error = %v, want %v", name, err, boom)
		}
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

func BenchmarkWriteTable(b *testing.B) {
	tab := demoTable(b)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteTable(&buf, tab, Options{Numeric: true}); err != nil {
			b.Fatal(err)
		}
	}
}
