package vsadm

import (
	"testing"

	"github.com/vsd/vsd/api"
)

const tryMsg = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"

// TestValidationErrors checks the exact stderr and exit status of every
// refusal ipvsadm makes before talking to the kernel (interfaces.md §1.6,
// §1.8, §2.12), and that none of them contacts the daemon or prints
// anything on stdout.
func TestValidationErrors(t *testing.T) {
	const (
		sa  = "-a -t 1.2.3.4:80 -r 2.2.2.2 "
		gue = sa + "-i --tun-type gue --tun-port 6080 "
	)
	tests := []struct {
		line   string
		stderr string
		code   int
	}{
		// command placement and popt (§1.1, §2.12)
		{"-n -L", tryMsg, 255},
		{"foo", tryMsg, 255},
		{"-X", tryMsg, 255},
		{"--", tryMsg, 255},
		{"--add-serv -t 1.2.3.4:80", tryMsg, 255},
		{"--start-daemon", tryMsg, 255},
		{"-L --foo", "--foo: unknown option\n", 255},
		{"-L --add-serv", "--add-serv: unknown option\n", 255},
		{"-L --lis", "--lis: unknown option\n", 255},
		{"-Lq", "-Lq: unknown option\n", 255},
		{"-L -n=", "-n=: unknown option\n", 255},
		{"-L -t", "-t: missing argument\n", 255},
		{"-A -t 1.2.3.4:80 -t", "-t: missing argument\n", 255},
		{"-A -t 1.2.3.4:80 -E", "invalid option `-E'\n", 2},
		{"-A -t 1.2.3.4:80 -LE", "invalid option `-LE'\n", 2},
		{"-A -t 1.2.3.4:80 --edit-service", "invalid option `--edit-service'\n", 2},
		{"-L --start-daemon master", "invalid option `master'\n", 2},
		{"-L -h", "invalid option `-h'\n", 2},
		{"-A -t 1.2.3.4:80 extra", "unexpected argument extra\n", 2},
		{"-A -t 1.2.3.4:80 -- -s", "unexpected argument -s\n", 2},
		{"-C extra", "unexpected argument extra\n", 2},
		{"-A -t 1.2.3.4:80 -s rr -s wrr", "multiple 'scheduler' options specified\n", 2},
		{"-A -t 1.2.3.4:80 -u 1.2.3.4:80", "multiple 'service-address' options specified\n", 2},
		{sa + "-g -m", "multiple 'forwarding-method' options specified\n", 2},
		{"-L -n -n", "multiple 'numeric' options specified\n", 2},
		// legality table (§1.5)
		{"-A -t 1.2.3.4:80 -w 3", "Illegal 'weight' option with the 'add-service' command\n", 2},
		{"-a -t 1.2.3.4:80", "You need to supply the 'real-server' option for the 'add-server' command\n", 2},
		{"-D", "You need to supply the 'service-address' option for the 'delete-service' command\n", 2},
		{"-a -w 3 -n", "Illegal 'numeric' option with the 'add-server' command\n", 2},
		{"-C -t 1.2.3.4:80", "Illegal 'service-address' option with the 'flush' command\n", 2},
		{"-Z -r 1.1.1.1", "Illegal 'real-server' option with the 'zero' command\n", 2},
		{"-R -n", "Illegal 'numeric' option with the 'restore' command\n", 2},
		{"-S -c", "Illegal 'connection' option with the 'save' command\n", 2},
		{"-S -t 1.2.3.4:80", "Illegal 'service-address' option with the 'save' command\n", 2},
		{"--set 1 2 3 -n", "Illegal 'numeric' option with the 'set' command\n", 2},
		{"--stop-daemon master --mcast-interface eth1", "Illegal 'mcast-interface' option with the 'stop-daemon' command\n", 2},
		{"--start-daemon master -n", "Illegal 'numeric' option with the 'start-daemon' command\n", 2},
		{"-d -t 1.2.3.4:80 -r 2.2.2.2 -w 1", "Illegal 'weight' option with the 'delete-server' command\n", 2},
		{"-L --tun-type gue", "Illegal 'tun-type' option with the 'list' command\n", 2},
		{"-L --timeout --daemon", "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n", 2},
		{"-Lnc -t 1.1.1.1:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n", 2},
		{"-L -c --timeout", "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n", 2},
		{"-L -c --stats", "options conflicts in the list command\n", 2},
		{"-L --daemon --thresholds", "options conflicts in the list command\n", 2},
		{"-L --timeout --persistent-conn", "options conflicts in the list command\n", 2},
		// semantic checks (§1.6)
		{"-A -t 1.2.3.4", "Zero port specified for non-persistent service\n", 2},
		{"-E -t 1.2.3.4:0 -s rr", "Zero port specified for non-persistent service\n", 2},
		{"-A -t 1.2.3.4:80 -o", "One-Packet Scheduling is only for UDP virtual services\n", 2},
		{"-A --sctp-service 1.2.3.4:80 -o", "One-Packet Scheduling is only for UDP virtual services\n", 2},
		{"-a -t 1.2.3.4:80 -r [2001:db8::1]:80", "Different address family is allowed only for tunneling servers\n", 2},
		{"-a -t 1.2.3.4:80 -r 2001:db8::1 -m", "Different address family is allowed only for tunneling servers\n", 2},
		{sa + "--tun-type gue", "Tunnel options conflict with forward method\n", 2},
		{sa + "-m --tun-csum", "Tunnel options conflict with forward method\n", 2},
		{sa + "-i --tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type\n", 2},
		{sa + "-i --tun-type gre --tun-remcsum", "Illegal 'tun-remcsum' option with the 'gre' tunnel type\n", 2},
		{sa + "-i --tun-type gre --tun-port 5", "Illegal 'tun-port' option with the 'gre' tunnel type\n", 2},
		{sa + "-i --tun-csum", "Illegal 'tun-csum' option with the 'ipip' tunnel type\n", 2},
		{sa + "-i --tun-type ipip --tun-port 5", "Illegal 'tun-port' option with the 'ipip' tunnel type\n", 2},
		{gue + "--tun-csum --tun-nocsum", "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n", 2},
		{gue + "--tun-remcsum --tun-csum", "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n", 2},
		{sa + "-i --tun-type gre --tun-csum --tun-nocsum", "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n", 2},
		{"-A -t 80", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t 1.2.3.4:99999", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t 1.2.3.4:nosuchport", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t no.such.host:80", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t [2001:db8::1]", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t [2001:db8::1:80", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t 1.2.3.4:", "illegal virtual server address[:port] specified\n", 2},
		{"-A -u 1.2.3.4:http", "illegal virtual server address[:port] specified\n", 2},
		{"-a -t 1.2.3.4:80 -r 300.1.1.1", "illegal real server address[:port] specified\n", 2},
		{"-a -r 1.2.3.4:http -t 10.0.0.1:80 -m", "illegal real server address[:port] specified\n", 2},
		{"-A -t 1.2.3.4:80 -p -M bad.mask", "illegal virtual server persistent mask specified\n", 2},
		{"-A -t 1.2.3.4:80 -p -M 256.0.0.0", "illegal virtual server persistent mask specified\n", 2},
		{"-A -t [2001:db8::1]:80 -p -M 129", "illegal ipv6 netmask specified\n", 2},
		{"-A -t [2001:db8::1]:80 -p -M abc", "illegal ipv6 netmask specified\n", 2},
		{"-A -f 1 -6 -p -M 255.255.255.0", "illegal ipv6 netmask specified\n", 2},
		{sa + "-w 65536", "illegal weight specified\n", 2},
		{sa + "-w -1", "illegal weight specified\n", 2},
		{sa + "-x -1", "illegal u_threshold specified\n", 2},
		{sa + "-x 2147483648", "illegal u_threshold specified\n", 2},
		{sa + "-y abc", "illegal l_threshold specified\n", 2},
		{"-A -t 1.2.3.4:80 -p 0", "invalid timeout value `0' specified\n", 2},
		{"-A -t 1.2.3.4:80 -p rr", "invalid timeout value `rr' specified\n", 2},
		{"-A -t 1.2.3.4:80 -p 2678401", "invalid timeout value `2678401' specified\n", 2},
		{"-A -t 1.2.3.4:80 -ps rr", "invalid timeout value `s' specified\n", 2},
		{"--set 1 2 abc", "invalid timeout value `abc' specified\n", 2},
		{"--set 1 2 2678401", "invalid timeout value `2678401' specified\n", 2},
		{"--set 1 2", "--set option requires 3 timeout values\n", 2},
		{"--set", "--set option requires 3 timeout values\n", 2},
		{"--set 1 2 3 4", "unexpected argument 4\n", 2},
		{"-A -f 0", "invalid fwmark value `0' specified\n", 2},
		{"-A -f -1", "invalid fwmark value `-1' specified\n", 2},
		{"-A -f 4294967296", "invalid fwmark value `4294967296' specified\n", 2},
		{"-A -f 1x", "invalid fwmark value `1x' specified\n", 2},
		{"-A -t 1.2.3.4:80 -s rr -b bogus", "invalid scheduler flag `bogus'\n", 2},
		{"-A -t 1.2.3.4:80 -b sh-port", "incompatible scheduler flag `sh-port'\n", 2},
		{"-A -t 1.2.3.4:80 -s sh -b mh-fallback", "incompatible scheduler flag `mh-fallback'\n", 2},
		{"-A -t 1.2.3.4:80 -s rr -b ,", "invalid scheduler flag `,'\n", 2},
		{"--start-daemon xyz", "illegal start-daemon parameter specified\n", 2},
		{"--stop-daemon xyz", "illegal start_daemon specified\n", 2},
		{"--start-daemon master --syncid 256", "illegal syncid specified\n", 2},
		{"--stop-daemon backup --syncid x", "illegal syncid specified\n", 2},
		{"--start-daemon master --mcast-port 0", "illegal mcast-port specified\n", 2},
		{"--start-daemon master --mcast-ttl 256", "illegal mcast-ttl specified\n", 2},
		{"--start-daemon master --sync-maxlen 65508", "illegal sync-maxlen specified\n", 2},
		{"--start-daemon master --mcast-group 10.0.0.1", "invalid IPv4 mcast-group `10.0.0.1'\n", 2},
		{"--start-daemon master --mcast-group 224.0.0", "invalid IPv4 mcast-group `224.0.0'\n", 2},
		{"--start-daemon master --mcast-group 2001:db8::1", "invalid IPv6 mcast-group `2001:db8::1'\n", 2},
		{gue[:len(gue)-len("6080 ")] + "0", "illegal tunnel port specified\n", 2},
		{sa + "-i --tun-type vxlan", "illegal tunnel type specified\n", 2},
		{"-A -6 -f 1", "-6 used before -f\n\n", 2},
		{"-A -t [2001:db8::1]:80 -6", "-6 used before -f\n\n", 2},
		// vsd's prefix-length persistence mask (documented deviation)
		{"-A -t 1.2.3.4:80 -p -M 24", "illegal virtual server persistent mask specified\n", 2},
		{"-A -t 1.2.3.4:80 -p -M 255.0.255.0", "illegal virtual server persistent mask specified\n", 2},
		{"-A -t 1.2.3.4:80 -p -M 0.0.0.0", "illegal virtual server persistent mask specified\n", 2},
		// extension
		{"--proc", "--proc: missing argument\n", 255},
		{"--proc ip_vs extra", "unexpected argument extra\n", 2},
	}
	for _, tt := range tests {
		be := &fakeBackend{}
		r := run(tt.line, be)
		if r.stderr != tt.stderr || r.code != tt.code {
			t.Errorf("ipvsadm %s:\n got %q exit %d\nwant %q exit %d", tt.line, r.stderr, r.code, tt.stderr, tt.code)
		}
		if r.stdout != "" || r.connected || len(be.batches) != 0 {
			t.Errorf("ipvsadm %s: stdout %q, connected %v, %d batches; want nothing", tt.line, r.stdout, r.connected, len(be.batches))
		}
	}
}

// TestTryUsesArgv0: the "Try" line names the program as it was called.
func TestTryUsesArgv0(t *testing.T) {
	r := runWith([]string{"/sbin/ipvsadm", "-n", "-L"}, "", &fakeBackend{})
	want := "Try `/sbin/ipvsadm -h' or '/sbin/ipvsadm --help' for more information.\n"
	if r.stderr != want || r.code != 255 {
		t.Errorf("got %q exit %d, want %q exit 255", r.stderr, r.code, want)
	}
}

// TestKernelErrors: a refusal by vsd prints its message (ipvsadm's
// libipvs text) and exits 255 (§1.7, §2.12).
func TestKernelErrors(t *testing.T) {
	tests := []struct{ line, msg string }{
		{"-A -t 207.175.44.110:80", api.MsgServiceExists},
		{"-A -t 1.2.3.4:80 -s nosuch", api.MsgSchedNotFound},
		{"-E -t 1.2.3.4:80", api.MsgNoService},
		{"-D -t 1.2.3.4:80", api.MsgNoService},
		{"-Z -t 1.2.3.4:80", api.MsgNoService},
		{"-a -t 9.9.9.9:80 -r 1.1.1.1", api.MsgServiceNotDef},
		{"-a -t 1.2.3.4:80 -r 1.1.1.1", api.MsgDestExists},
		{"-e -t 1.2.3.4:80 -r 1.1.1.1:8080", api.MsgNoDest},
		{"-d -t 1.2.3.4:80 -r 1.1.1.1", api.MsgNoDest},
		{"--start-daemon master", api.MsgDaemonRuns},
		{"--stop-daemon backup", api.MsgNoDaemon},
		{"-C", api.MsgPermission},
		{"--set 1 2 3", api.MsgInvalid},
		{"-A -t 1.2.3.4:80", api.MsgRange},
	}
	for _, tt := range tests {
		be := &fakeBackend{applyErr: &api.OpError{Index: 0, Message: tt.msg, Detail: "detail that is not printed"}}
		r := run(tt.line, be)
		if r.stderr != tt.msg+"\n" || r.code != 255 || r.stdout != "" {
			t.Errorf("ipvsadm %s: got %q exit %d, want %q exit 255", tt.line, r.stderr, r.code, tt.msg+"\n")
		}
		if len(be.batches) != 1 || len(be.batches[0]) != 1 {
			t.Errorf("ipvsadm %s: batches %v, want one batch of one op", tt.line, be.batches)
		}
	}
}

// TestListErrors: listing failures exit 1 (§1.8).
func TestListErrors(t *testing.T) {
	tbl := &api.Table{Services: []api.Service{{ServiceKey: tcp("10.0.0.1", 443), Scheduler: "wlc"}}}
	for _, line := range []string{"-L -n -t 10.9.9.9:1", "-L -n -u 10.0.0.1:443", "-L -f 1", "-l -t 10.0.0.1:444"} {
		r := run(line, &fakeBackend{table: tbl})
		if r.stderr != "No such service\n" || r.code != 1 || r.stdout != "" {
			t.Errorf("ipvsadm %s: got %q %q exit %d, want \"No such service\" exit 1", line, r.stdout, r.stderr, r.code)
		}
	}
	be := &fakeBackend{listErr: &api.OpError{Message: "Memory allocation problem"}}
	for _, line := range []string{"-L -n", "-L -c", "-L --timeout", "-L --daemon", "-S", "-L -t 1.2.3.4:80", "--proc ip_vs"} {
		r := run(line, be)
		if r.stderr != "Memory allocation problem\n" || r.code != 1 {
			t.Errorf("ipvsadm %s: got %q exit %d, want the message and exit 1", line, r.stderr, r.code)
		}
	}
}

// TestConnectFailure: no daemon gives ipvsadm's init failure (exit 2),
// with vsd's second line.
func TestConnectFailure(t *testing.T) {
	want := "Can't initialize ipvs: control socket /run/vsd/vsd.sock: dial unix /run/vsd/vsd.sock: connect: no such file or directory\n" +
		"Are you sure that vsd is running? (control socket: $VSD_SOCKET or /run/vsd/vsd.sock)\n"
	for _, line := range []string{"", "-L -n", "-A -t 1.2.3.4:80", "-C", "--proc ip_vs"} {
		r := run(line, nil)
		if r.stderr != want || r.code != 2 || r.stdout != "" {
			t.Errorf("ipvsadm %s: got %q exit %d, want %q exit 2", line, r.stderr, r.code, want)
		}
	}
	// -R with a bad line never connects.
	r := runWith([]string{"ipvsadm", "-R"}, "-A -t 1.2.3.4\n", nil)
	if r.connected || r.code != 2 {
		t.Errorf("-R with a bad line: connected %v, exit %d", r.connected, r.code)
	}
}
