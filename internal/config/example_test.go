package config

import (
	"github.com/vsd/vsd/internal/defense"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

var a = netip.MustParseAddr

// TestExample parses the documented example and compares every field.
func TestExample(t *testing.T) {
	c, err := Load("testdata/vsd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tun := director.DefaultTunables()
	want := &Config{
		Path:          "testdata/vsd.yaml",
		Interfaces:    []Interface{{"veth-front", 10, 11}, {"veth-back", 11, 11}},
		Datapath:      "auto",
		XDPMode:       "auto",
		CPUs:          []int{1},
		cpuPos:        []Pos{{22, 8}},
		Queues:        1,
		BusyPoll:      20 * time.Microsecond,
		TableBits:     16,
		TableBudget:   256 << 20,
		Timeouts:      Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
		Tunables:      tun,
		ControlSocket: "/run/vsd/vsd.sock",
		ProcDir:       "/run/vsd/proc",
		HasServices:   true,
		Services: []Service{
			{
				Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.80"), Port: 80}, Sched: "wlc", Netmask: 32},
				Dests: []service.DestParams{
					{Addr: a("172.16.0.2"), Port: 8080, Weight: 3, Method: service.Masq, UThreshold: 1000, LThreshold: 800},
					{Addr: a("172.16.0.3"), Port: 8080, Weight: 1, Method: service.Masq},
				},
				Line: 74, Col: 5, DestPos: []Pos{{79, 9}, {85, 9}},
			},
			{
				Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.81"), Port: 443}, Sched: "sh",
					Flags: service.FlagPersistent | service.FlagSched1 | service.FlagSched2, Timeout: 1800, Netmask: 24},
				Dests: []service.DestParams{
					{Addr: a("10.0.1.2"), Port: 443, Weight: 1, Method: service.Route},
					{Addr: a("10.0.1.3"), Port: 443, Weight: 0, Method: service.Route},
				},
				Line: 90, Col: 5, DestPos: []Pos{{101, 9}, {102, 9}},
			},
			{
				Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoUDP, Addr: a("10.0.0.82"), Port: 53}, Sched: "rr",
					Flags: service.FlagOnePacket, Netmask: 32},
				Dests: []service.DestParams{
					{Addr: a("10.0.2.2"), Port: 53, Weight: 1, Method: service.Tunnel, TunType: service.TunIPIP},
					{Addr: a("2001:db8:2::2"), Port: 53, Weight: 1, Method: service.Tunnel, TunType: service.TunGUE, TunPort: 6080, TunFlags: service.TunFlagCsum},
				},
				Line: 106, Col: 5, DestPos: []Pos{{112, 9}, {115, 9}},
			},
			{
				Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("2001:db8::80"), Port: 0}, Sched: "wlc",
					Flags: service.FlagPersistent, Timeout: DefaultPersistence, Netmask: 64},
				Dests: []service.DestParams{{Addr: a("2001:db8:1::2"), Port: 0, Weight: 1, Method: service.Route}},
				Line:  122, Col: 5, DestPos: []Pos{{128, 9}},
			},
			{
				Config: service.ServiceConfig{Key: service.Key{FwMark: 7, Addr: netip.IPv6Unspecified()}, Sched: "mh",
					Flags: service.FlagSched2, Netmask: 128},
				Dests: []service.DestParams{
					{Addr: a("2001:db8:1::3"), Port: 0, Weight: 1, Method: service.Route},
					{Addr: a("2001:db8:1::4"), Port: 0, Weight: 1, Method: service.Local},
				},
				Line: 131, Col: 5, DestPos: []Pos{{136, 9}, {138, 9}},
			},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
		for i := range min(len(c.Services), len(want.Services)) {
			if !reflect.DeepEqual(c.Services[i], want.Services[i]) {
				t.Errorf("services[%d]:\n got %+v\nwant %+v", i, c.Services[i], want.Services[i])
			}
		}
	}
}

// TestExampleCommented checks that the example documents every key: each
// key the parser knows appears in it with a comment on its line or on the
// line before.
func TestExampleCommented(t *testing.T) {
	data, err := readFile("testdata/vsd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(data, "\n")
	all := [][]string{rootKeys, ifaceKeys, tableKeys, timeoutKeys, tunableKeys, controlKeys, serviceKeys, destKeys}
	for _, keys := range all {
		for _, k := range keys {
			found := false
			for i, l := range lines {
				trim := strings.TrimLeft(strings.TrimSpace(l), "- ")
				if !strings.HasPrefix(trim, k+":") {
					continue
				}
				if strings.Contains(l, "#") || (i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
					found = true
				}
			}
			if !found {
				t.Errorf("key %q is not shown with a comment in testdata/vsd.yaml", k)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "~\n", "services: []\n", "services:\ninterfaces:\n"} {
		c, err := Parse("d.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		want := &Config{Path: "d.yaml", Datapath: "auto", XDPMode: "auto", Queues: 1, BusyPoll: DefaultBusyPoll, TableBits: 12, TableBudget: 1 << 30,
			Tunables: director.DefaultTunables(), ControlSocket: "/run/vsd/vsd.sock", HasServices: strings.Contains(in, "services")}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", in, c, want)
		}
	}
	c, err := Parse("d.yaml", []byte("services:\n  - proto: sctp\n    vip: 2001:db8::1\n    port: 9\n    real_servers:\n      - addr: 2001:db8::2\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	wantCfg := service.ServiceConfig{Key: service.Key{Proto: packet.ProtoSCTP, Addr: a("2001:db8::1"), Port: 9}, Sched: "wlc", Netmask: 128}
	wantDest := service.DestParams{Addr: a("2001:db8::2"), Port: 9, Weight: 1, Method: service.Route}
	if s.Config != wantCfg || len(s.Dests) != 1 || s.Dests[0] != wantDest {
		t.Errorf("defaults: got %+v %+v", s.Config, s.Dests)
	}
}

// TestValueForms covers the accepted spellings of the same values.
func TestValueForms(t *testing.T) {
	for _, tc := range []struct {
		in    string
		check func(c *Config) bool
	}{
		{"table:\n  budget: 1048576\n", func(c *Config) bool { return c.TableBudget == 1<<20 }},
		{"table:\n  budget: 2GiB\n", func(c *Config) bool { return c.TableBudget == 2<<30 }},
		{"table:\n  budget: 4096KiB\n", func(c *Config) bool { return c.TableBudget == 4<<20 }},
		{"table:\n  budget: \"3145728B\"\n", func(c *Config) bool { return c.TableBudget == 3<<20 }},
		{"timeouts:\n  tcp: \"900\"\n  udp: 0\n", func(c *Config) bool { return c.Timeouts == Timeouts{TCP: 900 * time.Second} }},
		{"timeouts:\n  tcpfin: 2m30s\n", func(c *Config) bool { return c.Timeouts.TCPFin == 150*time.Second }},
		{"interfaces: [eth0, {name: eth1}]\n", func(c *Config) bool {
			return len(c.Interfaces) == 2 && c.Interfaces[0].Name == "eth0" && c.Interfaces[1].Name == "eth1"
		}},
		{"tunables:\n  pmtu_disc: False\n  secure_tcp: TRUE\n", func(c *Config) bool { return !c.Tunables.PMTUDisc && c.Tunables.Defense.SecureTCP == 3 }},
		{"services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 80\n    scheduler: mh\n    syn_proxy: true\n    real_servers:\n      - addr: 10.0.1.1\n        method: dr\n", func(c *Config) bool {
			return c.Services[0].Config.Flags&service.FlagSynStateless != 0
		}},
		{"services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 80\n    scheduler: sh\n    syn_proxy: true\n    real_servers:\n      - addr: 10.0.1.1\n        method: nat\n", func(c *Config) bool {
			return c.Services[0].Config.Flags&service.FlagSynStateless != 0 && len(c.Services[0].Dests) == 1
		}},
		{"services:\n  - proto: udp\n    vip: 10.0.0.1\n    port: 53\n    source_rate: 500\n", func(c *Config) bool {
			return c.Services[0].Config.SourceRate == 500
		}},
		{"tunables:\n  drop_entry: 1\n  drop_packet: 3\n  secure_tcp: 2\n  amemthresh: 2048\n  am_droprate: 5\n", func(c *Config) bool {
			return c.Tunables.Defense == defense.Settings{DropEntry: 1, DropPacket: 3, SecureTCP: 2, AmemThresh: 2048, AmDropRate: 5}
		}},
		{svc + "    persistent: 10m\n    netmask: 24\n", func(c *Config) bool {
			return c.Services[0].Config.Timeout == 600 && c.Services[0].Config.Netmask == 24
		}},
		{svc + "    persistent: false\n", func(c *Config) bool { return c.Services[0].Config.Flags == 0 }},
		{svc + "    persistent: true\n    netmask: /16\n", func(c *Config) bool {
			return c.Services[0].Config.Timeout == 360 && c.Services[0].Config.Netmask == 16
		}},
		{"services:\n  - fwmark: 0x10\n    ops: true\n", func(c *Config) bool {
			s := c.Services[0].Config
			return s.Key.FwMark == 16 && s.Key.Addr == netip.IPv4Unspecified() && s.Flags == service.FlagOnePacket
		}},
		{"services:\n  - proto: udp\n    vip: ::ffff:10.0.0.1\n    port: \"53\"\n    sched_flags: [flag-3]\n", func(c *Config) bool {
			s := c.Services[0].Config
			return s.Key.Addr == a("10.0.0.1") && s.Key.Port == 53 && s.Flags == service.FlagSched3
		}},
		{svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: nat\n        port: 8080\n      - addr: 10.0.1.1\n        method: nat\n", func(c *Config) bool {
			return len(c.Services[0].Dests) == 2 // same address, other port: two real servers
		}},
		{"services:\n  - fwmark: 1\n    real_servers:\n      - {addr: 10.0.0.2, port: 8080}\n      - {addr: 2001:db8::2, method: tun}\n", func(c *Config) bool {
			d := c.Services[0].Dests
			return len(d) == 2 && d[0].Port == 8080 && d[0].Method == service.Route && d[1].Method == service.Tunnel
		}},
	} {
		c, err := Parse("v.yaml", []byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%q: unexpected %+v", tc.in, c)
		}
	}
}
