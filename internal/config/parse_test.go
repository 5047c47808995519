package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// svc is a valid service header for building test files; real servers
// follow at indentation 6.
const svc = "services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 80\n"

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"syntax", "services: [1,\n", "t.yaml:1: YAML syntax error: did not find expected node content"},
		{"syntax line", "a: 1\nb: 2\nc 2\nd: 3\n", "t.yaml:3: YAML syntax error: could not find expected ':'"},
		{"second document", "queues: 1\n---\nqueues: 2\n", "t.yaml:2:1: a second YAML document: the file must hold one"},
		{"root not a mapping", "- a\n", "t.yaml:1:1: the file must be a mapping of keys (interfaces, datapath, xdp_mode, cpus, queues, busy_poll, table, timeouts, tunables, control, services), got a list"},
		{"unknown key suggestion", "servics: []\n", `t.yaml:1:1: servics: unknown key, did you mean "services"?`},
		{"unknown key dash", "xdp-mode: auto\n", `t.yaml:1:1: xdp-mode: unknown key, did you mean "xdp_mode"?`},
		{"unknown key list", "colour: red\n", "t.yaml:1:1: colour: unknown key (known here: interfaces, datapath, xdp_mode, cpus, queues, busy_poll, table, timeouts, tunables, control, services)"},
		{"unknown dest key", svc + "    real_servers:\n      - addr: 10.0.1.1\n        wieght: 2\n",
			`t.yaml:7:9: services[0].real_servers[0].wieght: unknown key, did you mean "weight"?`},
		{"syn_proxy needs a hash scheduler", svc + "    syn_proxy: true\n", "t.yaml:5:16: services[0].syn_proxy: needs a hash scheduler (sh, dh or mh), so the client's ACK reaches the server its SYN went to; wlc is not one"},
		{"syn_proxy on UDP", "services:\n  - proto: udp\n    vip: 10.0.0.1\n    port: 53\n    scheduler: sh\n    syn_proxy: true\n", "t.yaml:6:16: services[0].syn_proxy: only for TCP services"},
		{"defense level 4", "tunables:\n  drop_entry: 4\n", "t.yaml:2:15: tunables.drop_entry: 4 is out of range 0..3 (0 off, 1 automatic, 2 automatic and on now, 3 always)"},
		{"negative amemthresh", "tunables:\n  amemthresh: -1\n", "t.yaml:2:15: tunables.amemthresh: -1 is out of range 0..1099511627776 pages of 4 KiB"},
		{"proc_dir relative", "control:\n  proc_dir: run/vsd\n", `t.yaml:2:13: control.proc_dir: "run/vsd" is not an absolute path`},
		{"proc_dir root", "control:\n  proc_dir: /\n", "t.yaml:2:13: control.proc_dir: the root directory cannot be the proc directory"},
		{"busy_poll not a duration", "busy_poll: fast\n", `t.yaml:1:12: busy_poll: "fast" is not a duration like 20us or 1ms`},
		{"busy_poll too long", "busy_poll: 1s\n", "t.yaml:1:12: busy_poll: 1s is out of range 0..10ms"},
		{"busy_poll negative", "busy_poll: -5us\n", "t.yaml:1:12: busy_poll: -5us is out of range 0..10ms"},
		{"key twice", "queues: 1\nqueues: 2\n", "t.yaml:2:1: queues: given twice (first at line 1)"},
		{"merge key", "table: &t {bits: 10}\ncontrol:\n  <<: *t\n", "t.yaml:3:3: control.<<: merge keys (<<) are not supported; repeat the keys or use an alias for the whole value"},
		{"not a number", "services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: http\n", `t.yaml:4:11: services[0].port: "http" is not a number 0..65535`},
		{"float", svc + "    real_servers:\n      - addr: 10.0.1.1\n        weight: 1.5\n", `t.yaml:7:17: services[0].real_servers[0].weight: "1.5" is not a number 0..65535`},
		{"weight -1", svc + "    real_servers:\n      - addr: 10.0.1.1\n        weight: -1\n", "t.yaml:7:17: services[0].real_servers[0].weight: -1 is out of range 0..65535"},
		{"port range", "services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 70000\n", "t.yaml:4:11: services[0].port: 70000 is out of range 0..65535"},
		{"huge number", "queues: 99999999999999999999\n", "t.yaml:1:9: queues: 99999999999999999999 is out of range 1..256"},
		{"no value", "queues:\n", "t.yaml:1:8: queues: no value, want a number 1..256"},
		{"list for scalar", "queues: [1]\n", "t.yaml:1:9: queues: want a number 1..256, got a list"},
		{"mapping for list", "services: {a: 1}\n", "t.yaml:1:11: services: want a list of services, got a mapping"},
		{"scalar for mapping", "table: big\n", `t.yaml:1:8: table: want a mapping (key: value), got "big"`},
		{"enum", "datapath: xdp\n", `t.yaml:1:11: datapath: "xdp" is not one of auto, afxdp, afpacket`},
		{"enum suggestion", "services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 80\n    scheduler: wlcc\n",
			`t.yaml:5:16: services[0].scheduler: "wlcc" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos, none (did you mean wlc?)`},
		{"method", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: masq\n", `t.yaml:7:17: services[0].real_servers[0].method: "masq" is not one of nat, dr, tun, local`},
		{"bool", "tunables:\n  sloppy_tcp: yes\n", `t.yaml:2:15: tunables.sloppy_tcp: "yes" is not a boolean (true or false)`},
		{"conn_reuse_mode", "tunables:\n  conn_reuse_mode: 4\n", "t.yaml:2:20: tunables.conn_reuse_mode: 4 is out of range 0..3"},
		{"xdp_mode with afpacket", "datapath: afpacket\nxdp_mode: native\n", "t.yaml:2:11: xdp_mode: native needs datapath afxdp or auto (afpacket uses no XDP)"},
		{"queues 0", "queues: 0\n", "t.yaml:1:9: queues: 0 is out of range 1..256"},
		{"table bits", "table:\n  bits: 7\n", "t.yaml:2:9: table.bits: 7 is out of range 8..24"},
		{"budget suffix", "table:\n  budget: 1XB\n", `t.yaml:2:11: table.budget: "1XB" is not a size 1MiB..1TiB (bytes, or a number with B, KiB, MiB, GiB or TiB)`},
		{"budget range", "table:\n  budget: 2TiB\n", "t.yaml:2:11: table.budget: 2TiB is out of range 1MiB..1TiB"},
		{"budget for bits", "table:\n  bits: 24\n  budget: 16MiB\n", "t.yaml:3:11: table.budget: 16MiB is too small for bits 24: the buckets alone take 64MiB (give at least 65792KiB)"},
		{"timeout not whole", "timeouts:\n  tcp: 1.5s\n", "t.yaml:2:8: timeouts.tcp: 1.5s is not a whole number of seconds"},
		{"timeout text", "timeouts:\n  udp: soon\n", `t.yaml:2:8: timeouts.udp: "soon" is not a number of seconds or a duration like 900s or 15m`},
		{"timeout range", "timeouts:\n  tcpfin: 1000h\n", "t.yaml:2:11: timeouts.tcpfin: 1000h is out of range 0..2147483 seconds"},
		{"timeout negative", "timeouts:\n  tcp: -1\n", "t.yaml:2:8: timeouts.tcp: -1 is out of range 0..2147483 seconds"},
		{"socket relative", "control:\n  socket: vsd.sock\n", `t.yaml:2:11: control.socket: "vsd.sock" is not an absolute path`},
		{"interface twice", "interfaces:\n  - name: eth0\n  - eth0\n", `t.yaml:3:5: interfaces[1]: "eth0" is listed twice (first at line 2)`},
		{"interface name", "interfaces:\n  - name: a/b\n", `t.yaml:2:11: interfaces[0].name: "a/b" is not a valid interface name (no /, :, spaces)`},
		{"interface long", "interfaces:\n  - name: abcdefghijklmnop\n", `t.yaml:2:11: interfaces[0].name: "abcdefghijklmnop" is longer than 15 bytes (Linux IFNAMSIZ)`},
		{"interface no name", "interfaces:\n  - {}\n", "t.yaml:2:5: interfaces[0].name: missing; each interface needs a name"},
		{"cpu twice", "cpus: [0, 1, 0]\n", "t.yaml:1:14: cpus[2]: CPU 0 is listed twice (first at line 1)"},
		{"cpu negative", "cpus: [-1]\n", "t.yaml:1:8: cpus[0]: -1 is out of range 0..8191"},
		{"missing key", "services:\n  - proto: tcp\n    port: 80\n", "t.yaml:2:5: services[0].vip: missing; a service needs proto, vip and port, or fwmark"},
		{"bad vip", "services:\n  - proto: tcp\n    vip: 10.0.0.300\n    port: 80\n", `t.yaml:3:10: services[0].vip: "10.0.0.300" is not an IPv4 or IPv6 address`},
		{"vip zone", "services:\n  - proto: tcp\n    vip: fe80::1%eth0\n    port: 80\n", `t.yaml:3:10: services[0].vip: "fe80::1%eth0": an address zone (%eth0) is not allowed`},
		{"fwmark with vip", "services:\n  - fwmark: 1\n    vip: 10.0.0.1\n", "t.yaml:3:5: services[0].vip: not allowed with fwmark (a firewall-mark service has no protocol, VIP or port)"},
		{"fwmark 0", "services:\n  - fwmark: 0\n", "t.yaml:2:13: services[0].fwmark: 0 is out of range 1..4294967295"},
		{"family without fwmark", svc + "    family: inet6\n", "t.yaml:5:5: services[0].family: only for fwmark services (the VIP gives the family)"},
		{"family enum", "services:\n  - fwmark: 1\n    family: ipv6\n", `t.yaml:3:13: services[0].family: "ipv6" is not one of inet, inet6`},
		{"service twice", svc + "  - proto: tcp\n    vip: 10.0.0.1\n    port: 80\n", "t.yaml:5:5: services[1]: TCP 10.0.0.1:80 is already defined at line 2"},
		{"service twice mapped", svc + "  - proto: tcp\n    vip: ::ffff:10.0.0.1\n    port: 80\n", "t.yaml:5:5: services[1]: TCP 10.0.0.1:80 is already defined at line 2"},
		{"fwmark twice", "services:\n  - fwmark: 3\n  - fwmark: 3\n    scheduler: rr\n", "t.yaml:3:5: services[1]: FWM 3 is already defined at line 2"},
		{"fwmark families differ", "services:\n  - fwmark: 3\n  - fwmark: 3\n    family: inet6\n  - fwmark: 3\n    family: inet6\n", "t.yaml:5:5: services[2]: FWM 3 (inet6) is already defined at line 3"},
		{"port 0 not persistent", "services:\n  - proto: tcp\n    vip: 10.0.0.1\n    port: 0\n", "t.yaml:4:11: services[0].port: 0 (all ports) needs persistent (ipvsadm: Zero port specified for non-persistent service)"},
		{"persistent 0", svc + "    persistent: 0\n", "t.yaml:5:17: services[0].persistent: 0 is out of range 1..2678400 seconds"},
		{"persistent too long", svc + "    persistent: 32d\n", `t.yaml:5:17: services[0].persistent: "32d" is not a number of seconds or a duration like 900s or 15m`},
		{"persistent range", svc + "    persistent: 2678401\n", "t.yaml:5:17: services[0].persistent: 2678401 is out of range 1..2678400 seconds"},
		{"netmask without persistent", svc + "    netmask: 255.255.255.0\n", "t.yaml:5:5: services[0].netmask: only with persistent (the netmask groups clients for persistence)"},
		{"netmask not contiguous", svc + "    persistent: true\n    netmask: 255.0.255.0\n", `t.yaml:6:14: services[0].netmask: "255.0.255.0" is not a netmask (contiguous ones, at least one)`},
		{"netmask zero", svc + "    persistent: true\n    netmask: /0\n", "t.yaml:6:14: services[0].netmask: /0 is out of range /1../32"},
		{"netmask v6 dotted", "services:\n  - proto: tcp\n    vip: 2001:db8::1\n    port: 80\n    persistent: true\n    netmask: 255.255.0.0\n",
			`t.yaml:6:14: services[0].netmask: "255.255.0.0": an IPv6 service takes a prefix length /1../128, not a dotted mask`},
		{"netmask v6 range", "services:\n  - proto: tcp\n    vip: 2001:db8::1\n    port: 80\n    persistent: true\n    netmask: 129\n", "t.yaml:6:14: services[0].netmask: 129 is out of range /1../128"},
		{"ops tcp", svc + "    ops: true\n", "t.yaml:5:10: services[0].ops: One-Packet Scheduling is only for UDP virtual services (and fwmark services)"},
		{"sched flag unknown", svc + "    sched_flags: [bogus]\n", `t.yaml:5:19: services[0].sched_flags[0]: "bogus" is not one of flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback, mh-port`},
		{"sched flag incompatible", svc + "    sched_flags: flag-1,sh-port\n", "t.yaml:5:18: services[0].sched_flags[1]: sh-port needs scheduler sh (this service uses wlc)"},
		{"dest missing addr", svc + "    real_servers:\n      - weight: 2\n", "t.yaml:6:9: services[0].real_servers[0].addr: missing; a real server needs addr"},
		{"dest multicast", svc + "    real_servers:\n      - addr: 224.0.0.1\n", "t.yaml:6:15: services[0].real_servers[0].addr: 224.0.0.1 is not a unicast address"},
		{"dest twice", svc + "    real_servers:\n      - addr: 10.0.1.1\n      - addr: 10.0.1.2\n      - addr: 10.0.1.1\n        weight: 5\n",
			"t.yaml:8:9: services[0].real_servers[2]: 10.0.1.1:80 is listed twice in this service (first at line 6)"},
		{"dest twice by default port", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: nat\n      - addr: 10.0.1.1\n        port: 80\n        method: nat\n",
			"t.yaml:8:9: services[0].real_servers[1]: 10.0.1.1:80 is listed twice in this service (first at line 6)"},
		{"dr port", svc + "    real_servers:\n      - addr: 10.0.1.1\n        port: 8080\n", "t.yaml:7:15: services[0].real_servers[0].port: 8080 differs from the service port 80: only method nat can change the port (dr, tun and local keep it)"},
		{"family mix", svc + "    real_servers:\n      - addr: 2001:db8::2\n        method: nat\n", "t.yaml:6:15: services[0].real_servers[0].addr: IPv6 address in an IPv4 service: only method tun may mix address families"},
		{"fwmark family mix", "services:\n  - fwmark: 2\n    family: inet6\n    real_servers:\n      - addr: 10.0.0.2\n", "t.yaml:5:15: services[0].real_servers[0].addr: IPv4 address in an IPv6 service: only method tun may mix address families"},
		{"tunnel without tun", svc + "    real_servers:\n      - addr: 10.0.1.1\n        tunnel: ipip\n", "t.yaml:7:9: services[0].real_servers[0].tunnel: only with method tun"},
		{"gre", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: tun\n        tunnel: gre\n", `t.yaml:8:17: services[0].real_servers[0].tunnel: "gre" is not supported by vsd (use ipip or gue)`},
		{"gue without port", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: tun\n        tunnel: gue\n", "t.yaml:8:9: services[0].real_servers[0].tunnel_port: missing; tunnel gue needs tunnel_port (the real server's GUE UDP port)"},
		{"tunnel_port with ipip", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: tun\n        tunnel_port: 6080\n", "t.yaml:8:9: services[0].real_servers[0].tunnel_port: only with tunnel gue"},
		{"tunnel_csum without gue", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: nat\n        tunnel_csum: true\n", "t.yaml:8:9: services[0].real_servers[0].tunnel_csum: only with tunnel gue"},
		{"tunnel_port 0", svc + "    real_servers:\n      - addr: 10.0.1.1\n        method: tun\n        tunnel: gue\n        tunnel_port: 0\n", "t.yaml:9:22: services[0].real_servers[0].tunnel_port: 0 is out of range 1..65535"},
		{"thresholds", svc + "    real_servers:\n      - addr: 10.0.1.1\n        upper_threshold: 10\n        lower_threshold: 20\n", "t.yaml:8:26: services[0].real_servers[0].lower_threshold: 20 is above upper_threshold 10"},
		{"threshold range", svc + "    real_servers:\n      - addr: 10.0.1.1\n        upper_threshold: 2147483648\n", "t.yaml:7:26: services[0].real_servers[0].upper_threshold: 2147483648 is out of range 0..2147483647"},
		{"alias duplicate", "services:\n  - &a\n    proto: tcp\n    vip: 10.0.0.1\n    port: 80\n  - *a\n", "t.yaml:6:5: services[1]: TCP 10.0.0.1:80 is already defined at line 2"},
		{"recursive alias", "services: &s [*s]\n", "t.yaml:1:11: services[0]: want a mapping (key: value), got a list"},
		{"several in file order", "queues: 0\nservices:\n  - proto: tcpp\n    vip: x\n    port: 80\ndatapath: none\n",
			"t.yaml:1:9: queues: 0 is out of range 1..256\n" +
				`t.yaml:3:12: services[0].proto: "tcpp" is not one of tcp, udp, sctp (did you mean tcp?)` + "\n" +
				`t.yaml:4:10: services[0].vip: "x" is not an IPv4 or IPv6 address` + "\n" +
				`t.yaml:6:11: datapath: "none" is not one of auto, afxdp, afpacket`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error:\n%s", c, tc.want)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tc.want)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != strings.Count(tc.want, "\n")+1 {
				t.Errorf("error is %T with %d problems, want Errors with one per line", err, len(es))
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "t.yaml" {
				t.Errorf("errors.As(*Error) = %v, %+v", e != nil, e)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 1, Col: 2, Field: "a.b", Msg: "m"}, "f:1:2: a.b: m"},
		{Error{File: "f", Line: 1, Msg: "m"}, "f:1: m"},
		{Error{File: "f", Field: "x", Msg: "m"}, "f: x: m"},
		{Error{Line: 3, Col: 4, Msg: "m"}, "3:4: m"},
		{Error{Msg: "m"}, "m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("cpus: [")
	for i := range 150 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("-1")
	}
	b.WriteString("]\n")
	_, err := Parse("t.yaml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v", err)
	}
	if len(es) != maxErrors+1 || es[maxErrors].Error() != "t.yaml: 50 more problems not shown" {
		t.Errorf("%d problems, last %q", len(es), es[len(es)-1])
	}
}

func TestAliasExpansionBounded(t *testing.T) {
	// Aliases can only be used at the fixed depths of the schema, so the
	// blow-up is at most services × real servers: here 2000 services
	// aliasing one service with 2000 real servers (4 million if expanded).
	var b strings.Builder
	b.WriteString("services:\n  - &s\n    proto: tcp\n    vip: 10.0.0.1\n    port: 80\n    real_servers: [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "{addr: 10.1.%d.%d}", i/200, i%200+1)
	}
	b.WriteString("]\n")
	for range 2000 {
		b.WriteString("  - *s\n")
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	want := fmt.Sprintf("t.yaml: the file is too large: more than %d YAML nodes after expanding aliases", maxNodes)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %.300v, want %s", err, want)
	}
}

func readFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}
