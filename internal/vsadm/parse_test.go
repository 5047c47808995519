package vsadm

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

func svcOp(kind api.OpKind, s api.Service) *api.Op { return &api.Op{Kind: kind, Service: &s} }

func destOp(kind api.OpKind, k api.ServiceKey, d api.Dest) *api.Op {
	return &api.Op{Kind: kind, Service: &api.Service{ServiceKey: k}, Dest: &d}
}

func checkOp(t *testing.T, line string, want *api.Op) {
	t.Helper()
	c := mustParse(t, line)
	if !reflect.DeepEqual(c.Op, want) {
		t.Errorf("%s:\n got %s\nwant %s", line, opString(c.Op), opString(want))
	}
}

func opString(op *api.Op) string {
	if op == nil {
		return "<nil>"
	}
	s := string(op.Kind)
	if op.Service != nil {
		s += " service " + sprint(*op.Service)
	}
	if op.Dest != nil {
		s += " dest " + sprint(*op.Dest)
	}
	if op.Timeouts != nil {
		s += " " + sprint(*op.Timeouts)
	}
	if op.Daemon != nil {
		s += " " + sprint(*op.Daemon)
	}
	return s
}

// TestLdirectord: every command line ldirectord 4.12 was seen sending
// (interfaces.md §4.3) parses to the intended operation.
func TestLdirectord(t *testing.T) {
	vip80 := tcp("10.10.10.10", 80)
	vip53 := udp("10.10.10.10", 53)
	route := func(a string, p uint16, w int32) api.Dest {
		return api.Dest{DestKey: dkey(a, p), Method: api.Route, Weight: w}
	}
	masq := func(a string, p uint16, w int32) api.Dest {
		return api.Dest{DestKey: dkey(a, p), Method: api.Masq, Weight: w}
	}
	want := map[string]*api.Op{
		"-A -t 10.10.10.10:80 -s wlc -p 300":                         svcOp(api.AddService, api.Service{ServiceKey: vip80, Scheduler: "wlc", Persistent: true, Timeout: 300}),
		"-A -u 10.10.10.10:53 -s wrr":                                svcOp(api.AddService, api.Service{ServiceKey: vip53, Scheduler: "wrr"}),
		"-A -f 5 -s wrr":                                             svcOp(api.AddService, api.Service{ServiceKey: fwm(5), Scheduler: "wrr"}),
		"-a -t 10.10.10.10:80 -x 0 -y 0 -r 127.0.0.1:80 -m -w 1":     destOp(api.AddDest, vip80, masq("127.0.0.1", 80, 1)),
		"-a -t 10.10.10.10:80 -x 0 -y 0 -r 10.10.10.22:8080 -m -w 1": destOp(api.AddDest, vip80, masq("10.10.10.22", 8080, 1)),
		"-a -t 10.10.10.10:80 -x 0 -y 0 -r 10.10.10.21:80 -m -w 2":   destOp(api.AddDest, vip80, masq("10.10.10.21", 80, 2)),
		"-d -t 10.10.10.10:80 -r 127.0.0.1:80":                       {Kind: api.DeleteDest, Service: &api.Service{ServiceKey: vip80}, Dest: &api.Dest{DestKey: dkey("127.0.0.1", 80)}},
		"-d -t 10.10.10.10:80 -r 10.10.10.21:80":                     {Kind: api.DeleteDest, Service: &api.Service{ServiceKey: vip80}, Dest: &api.Dest{DestKey: dkey("10.10.10.21", 80)}},
		"-d -t 10.10.10.10:80 -r 10.10.10.22:8080":                   {Kind: api.DeleteDest, Service: &api.Service{ServiceKey: vip80}, Dest: &api.Dest{DestKey: dkey("10.10.10.22", 8080)}},
		"-e -t 10.10.10.10:80 -r 10.10.10.22:8080 -m -w 0":           destOp(api.EditDest, vip80, masq("10.10.10.22", 8080, 0)),
		"-e -t 10.10.10.10:80 -r 10.10.10.21:80 -m -w 0":             destOp(api.EditDest, vip80, masq("10.10.10.21", 80, 0)),
		"-e -t 10.10.10.10:80 -x 0 -y 0 -r 10.10.10.21:80 -m -w 2":   destOp(api.EditDest, vip80, masq("10.10.10.21", 80, 2)),
		"-e -t 10.10.10.10:80 -x 0 -y 0 -r 10.10.10.22:8080 -m -w 1": destOp(api.EditDest, vip80, masq("10.10.10.22", 8080, 1)),
		"-a -f 5 -x 0 -y 0 -r 10.10.10.41:0 -g -w 3":                 destOp(api.AddDest, fwm(5), route("10.10.10.41", 0, 3)),
		"-e -f 5 -r 10.10.10.41:0 -g -w 0":                           destOp(api.EditDest, fwm(5), route("10.10.10.41", 0, 0)),
		"-e -f 5 -x 0 -y 0 -r 10.10.10.41:0 -g -w 3":                 destOp(api.EditDest, fwm(5), route("10.10.10.41", 0, 3)),
		"-a -f 5 -x 20 -y 10 -r 10.10.10.41:0 -g -w 3": destOp(api.AddDest, fwm(5),
			api.Dest{DestKey: dkey("10.10.10.41", 0), Method: api.Route, Weight: 3, UThreshold: 20, LThreshold: 10}),
		"-a -u 10.10.10.10:53 -x 0 -y 0 -r 10.10.10.31:53 -g -w 1": destOp(api.AddDest, vip53, route("10.10.10.31", 53, 1)),
		"-e -u 10.10.10.10:53 -r 10.10.10.31:53 -g -w 0":           destOp(api.EditDest, vip53, route("10.10.10.31", 53, 0)),
		"-d -f 5 -r 10.10.10.41:0":                                 {Kind: api.DeleteDest, Service: &api.Service{ServiceKey: fwm(5)}, Dest: &api.Dest{DestKey: dkey("10.10.10.41", 0)}},
		"-D -t 10.10.10.10:80":                                     svcOp(api.DeleteService, api.Service{ServiceKey: vip80}),
		"-D -u 10.10.10.10:53":                                     svcOp(api.DeleteService, api.Service{ServiceKey: vip53}),
		"-D -f 5":                                                  svcOp(api.DeleteService, api.Service{ServiceKey: fwm(5)}),
		"-L -n":                                                    nil,
		"-L -n --thresholds":                                       nil,
		// the other forms of §4.3's pattern list
		"-E -t 10.10.10.10:80 -s wrr -p 300": svcOp(api.EditService, api.Service{ServiceKey: vip80, Scheduler: "wrr", Persistent: true, Timeout: 300}),
		"-A -u 10.10.10.10:53 -o -s sh -p 60 -M 255.255.255.0 -b sh-port": svcOp(api.AddService, api.Service{ServiceKey: vip53,
			Scheduler: "sh", Persistent: true, Timeout: 60, Netmask: 24, OnePacket: true, SchedFlags: api.SchedFlag2}),
		"-E -f 7 -6 -o -s wrr -p 120 -M 64": svcOp(api.EditService, api.Service{ServiceKey: api.ServiceKey{FwMark: 7, IPv6: true},
			Scheduler: "wrr", Persistent: true, Timeout: 120, Netmask: 64, OnePacket: true}),
		"-a -t 10.10.10.10:80 -x 0 -y 0 -r 10.10.10.23:80 -i -w 0": destOp(api.AddDest, vip80,
			api.Dest{DestKey: dkey("10.10.10.23", 80), Method: api.Tunnel, TunType: api.TunIPIP}),
	}
	data, err := os.ReadFile("testdata/ldirectord.txt")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	be := &fakeBackend{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// ldirectord runs "<ipvsadm> <args> " through /bin/sh -c.
		argv := strings.Fields(line)
		args := strings.Join(argv[1:], " ")
		seen[args] = true
		op, ok := want[args]
		if !ok {
			t.Errorf("no expected operation for the captured line %q", line)
			continue
		}
		checkOp(t, args, op)
		r := runWith(append([]string{"/sbin/ipvsadm"}, argv[1:]...), "", be)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%s: exit %d, stderr %q", line, r.code, r.stderr)
		}
	}
	for args, op := range want {
		if !seen[args] {
			checkOp(t, args, op)
		}
	}
	if len(seen) != 25 {
		t.Errorf("%d distinct captured lines, want 25 (testdata/ldirectord.txt changed?)", len(seen))
	}
}

// TestParseQuirks: ipvsadm's left-to-right and default behaviours.
func TestParseQuirks(t *testing.T) {
	v80 := tcp("1.1.1.1", 80)
	tests := []struct {
		line string
		want *api.Op
	}{
		// -r without a port copies the port of a service given before it
		{"-a -r 2.2.2.9 -m -t 1.1.1.1:80", destOp(api.AddDest, v80, api.Dest{DestKey: dkey("2.2.2.9", 0), Method: api.Masq, Weight: 1})},
		{"-a -t 1.1.1.1:80 -r 2.2.2.9 -m", destOp(api.AddDest, v80, api.Dest{DestKey: dkey("2.2.2.9", 80), Method: api.Masq, Weight: 1})},
		// -g (the default) and -i force the service port
		{"-a -t 1.1.1.1:80 -r 2.2.2.9:8080", destOp(api.AddDest, v80, api.Dest{DestKey: dkey("2.2.2.9", 80), Method: api.Route, Weight: 1})},
		{"-a -r 2.2.2.9:8080 -t 1.1.1.1:80 -g", destOp(api.AddDest, v80, api.Dest{DestKey: dkey("2.2.2.9", 80), Method: api.Route, Weight: 1})},
		{"-e -t 1.1.1.1:80 -r 2.2.2.9:8080 -i", destOp(api.EditDest, v80, api.Dest{DestKey: dkey("2.2.2.9", 80), Method: api.Tunnel, Weight: 1, TunType: api.TunIPIP})},
		{"-a -f 1 -r 2.2.2.9:8080 -g", destOp(api.AddDest, fwm(1), api.Dest{DestKey: dkey("2.2.2.9", 8080), Method: api.Route, Weight: 1})},
		{"-d -t 1.1.1.1:80 -r 2.2.2.9:8080", &api.Op{Kind: api.DeleteDest, Service: &api.Service{ServiceKey: v80}, Dest: &api.Dest{DestKey: dkey("2.2.2.9", 8080)}}},
		{"-d -t 1.1.1.1:80 -r 2.2.2.9", &api.Op{Kind: api.DeleteDest, Service: &api.Service{ServiceKey: v80}, Dest: &api.Dest{DestKey: dkey("2.2.2.9", 80)}}},
		// -e resends every field: omitted ones are the defaults
		{"-e -t 1.1.1.1:80 -r 2.2.2.2", destOp(api.EditDest, v80, api.Dest{DestKey: dkey("2.2.2.2", 80), Method: api.Route, Weight: 1})},
		// an IPv6 selector resets the netmask; -M counts only after it
		{"-A -M 64 -t [2001:db8::1]:80 -p", svcOp(api.AddService, api.Service{ServiceKey: tcp("2001:db8::1", 80), Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -t [2001:db8::1]:80 -p -M 64", svcOp(api.AddService, api.Service{ServiceKey: tcp("2001:db8::1", 80), Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: 64})},
		{"-A -t [2001:db8::1]:80 -p -M 128", svcOp(api.AddService, api.Service{ServiceKey: tcp("2001:db8::1", 80), Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -f 1 -M 255.255.255.0 -6 -p", svcOp(api.AddService, api.Service{ServiceKey: api.ServiceKey{FwMark: 1, IPv6: true}, Scheduler: "wlc", Persistent: true, Timeout: 360})},
		// an IPv4 -M is inet_aton's
		{"-A -t 1.1.1.1:80 -p -M 255.255.255.0", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: 24})},
		{"-A -t 1.1.1.1:80 -p -M 0xffffff00", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: 24})},
		{"-A -t 1.1.1.1:80 -p -M 255.255.255.255", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -t 1.1.1.1:80 -p -M 128.0.0.0", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: 1})},
		{"-A -t 1.1.1.1:80 -p -M mask.example", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: 16})},
		// defaults: wlc also on -E; -p alone is 360 s; -p takes the next
		// word unless it starts with '-'
		{"-E -t 1.1.1.1:80", svcOp(api.EditService, api.Service{ServiceKey: v80, Scheduler: "wlc"})},
		{"-A -t 1.1.1.1:80 -p -s rr", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "rr", Persistent: true, Timeout: 360})},
		{"-A -t 1.1.1.1:80 -p 600", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 600})},
		{"-A -t 1.1.1.1:80 -p600", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 600})},
		{"-A -t 1.1.1.1:80 --persistent=600", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 600})},
		{"-A -t 1.1.1.1:80 --persistent", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -t 1.1.1.1 -p", svcOp(api.AddService, api.Service{ServiceKey: tcp("1.1.1.1", 0), Scheduler: "wlc", Persistent: true, Timeout: 360})},
		// popt spellings
		{"-At1.1.1.1:80 -srr", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "rr"})},
		{"-At 1.1.1.1:80 -s=rr", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "rr"})},
		{"--add-service --tcp-service=1.1.1.1:80 --scheduler rr", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "rr"})},
		{"-A -t 1.1.1.1:80 -s averyveryverylongname", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "averyveryverylo"})},
		{"-A -t 1.1.1.1:80 --sort --sort", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc"})},
		// addresses: inet_aton forms, brackets, bare IPv6, names
		{"-A -t 10.1:80", svcOp(api.AddService, api.Service{ServiceKey: tcp("10.0.0.1", 80), Scheduler: "wlc"})},
		{"-A -t 0x0a000001:80", svcOp(api.AddService, api.Service{ServiceKey: tcp("10.0.0.1", 80), Scheduler: "wlc"})},
		{"-A -t 012.1.1.1:+80", svcOp(api.AddService, api.Service{ServiceKey: tcp("10.1.1.1", 80), Scheduler: "wlc"})},
		{"-A -t 80:80", svcOp(api.AddService, api.Service{ServiceKey: tcp("0.0.0.80", 80), Scheduler: "wlc"})},
		{"-A -t [1.2.3.4]:80 -p", svcOp(api.AddService, api.Service{ServiceKey: tcp("1.2.3.4", 0), Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -t 2001:db8::1 -p", svcOp(api.AddService, api.Service{ServiceKey: tcp("2001:db8::1", 0), Scheduler: "wlc", Persistent: true, Timeout: 360})},
		{"-A -t www.example:http", svcOp(api.AddService, api.Service{ServiceKey: tcp("192.0.2.7", 80), Scheduler: "wlc"})},
		{"-A -t localhost:www", svcOp(api.AddService, api.Service{ServiceKey: tcp("127.0.0.1", 80), Scheduler: "wlc"})},
		{"-A -u www.example:domain", svcOp(api.AddService, api.Service{ServiceKey: udp("192.0.2.7", 53), Scheduler: "wlc"})},
		{"-A --sctp-service 10.0.0.1:amqp", svcOp(api.AddService, api.Service{ServiceKey: api.ServiceKey{Protocol: api.SCTP, Addr: addr("10.0.0.1"), Port: 5672}, Scheduler: "wlc"})},
		{"-a -t 10.0.0.1:80 -r 1.2.3.4:http-alt -m", destOp(api.AddDest, tcp("10.0.0.1", 80), api.Dest{DestKey: dkey("1.2.3.4", 8080), Method: api.Masq, Weight: 1})},
		{"-a -f 3 -r localhost:webcache -m", destOp(api.AddDest, fwm(3), api.Dest{DestKey: dkey("127.0.0.1", 8080), Method: api.Masq, Weight: 1})},
		// IPv6 and mixed families
		{"-a -t [2001:db8::1]:80 -r [2001:db8::2]:8080 -m", destOp(api.AddDest, tcp("2001:db8::1", 80), api.Dest{DestKey: dkey("2001:db8::2", 8080), Method: api.Masq, Weight: 1})},
		{"-a -t [2001:db8::1]:80 -r 10.0.0.1 -i", destOp(api.AddDest, tcp("2001:db8::1", 80), api.Dest{DestKey: dkey("10.0.0.1", 80), Method: api.Tunnel, Weight: 1, TunType: api.TunIPIP})},
		{"-a -f 9 -6 -r 2001:db8::2 -g", destOp(api.AddDest, api.ServiceKey{FwMark: 9, IPv6: true}, api.Dest{DestKey: dkey("2001:db8::2", 0), Method: api.Route, Weight: 1})},
		// tunnels
		{"-a -t 1.1.1.1:80 -r 2.2.2.2 -i --tun-type gue --tun-port 6080 --tun-csum", destOp(api.AddDest, v80,
			api.Dest{DestKey: dkey("2.2.2.2", 80), Method: api.Tunnel, Weight: 1, TunType: api.TunGUE, TunPort: 6080, TunCsum: api.CsumOn})},
		{"-a -t 1.1.1.1:80 -r 2.2.2.2 -i --tun-type gue --tun-port 6080", destOp(api.AddDest, v80,
			api.Dest{DestKey: dkey("2.2.2.2", 80), Method: api.Tunnel, Weight: 1, TunType: api.TunGUE, TunPort: 6080, TunCsum: api.CsumNone})},
		{"-e -t 1.1.1.1:80 -r 2.2.2.2 -i --tun-type gre --tun-csum -w 4 -x 100 -y 50", destOp(api.EditDest, v80,
			api.Dest{DestKey: dkey("2.2.2.2", 80), Method: api.Tunnel, Weight: 4, UThreshold: 100, LThreshold: 50, TunType: api.TunGRE, TunCsum: api.CsumOn})},
		{"-a -t 1.1.1.1:80 -r 2.2.2.2 -i --tun-type gre", destOp(api.AddDest, v80,
			api.Dest{DestKey: dkey("2.2.2.2", 80), Method: api.Tunnel, Weight: 1, TunType: api.TunGRE, TunCsum: api.CsumNone})},
		// scheduler flags
		{"-A -u 10.0.0.1:53 -s sh -b sh-port,sh-fallback -o", svcOp(api.AddService, api.Service{ServiceKey: udp("10.0.0.1", 53), Scheduler: "sh",
			SchedFlags: api.SchedFlag1 | api.SchedFlag2, OnePacket: true})},
		{"-A -t 1.1.1.1:80 -b flag-1,,flag-3", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "wlc", SchedFlags: api.SchedFlag1 | api.SchedFlag3})},
		{"-A -t 1.1.1.1:80 -s mh -b mh-fallback", svcOp(api.AddService, api.Service{ServiceKey: v80, Scheduler: "mh", SchedFlags: api.SchedFlag1})},
		{"-A -f 2 -o --pe sip -p", svcOp(api.AddService, api.Service{ServiceKey: fwm(2), Scheduler: "wlc", OnePacket: true, PE: "sip", Persistent: true, Timeout: 360})},
		// the other commands
		{"-C", &api.Op{Kind: api.Clear}},
		{"--clear", &api.Op{Kind: api.Clear}},
		{"-Z", &api.Op{Kind: api.Zero}},
		{"-Z -t 1.1.1.1:80", &api.Op{Kind: api.Zero, Service: &api.Service{ServiceKey: v80}}},
		{"--set 3600 0 60", &api.Op{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{TCP: 3600, UDP: 60}}},
		{"3600 --set 0 60", &api.Op{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{TCP: 3600, UDP: 60}}},
		{"--start-daemon master", &api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth0"}}},
		{"--start-daemon=backup --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 2",
			&api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "backup", Interface: "eth1", SyncID: 7, MaxLen: 1400,
				Group: addr("239.1.2.3"), Port: 9000, TTL: 2}}},
		{"--start-daemon master --mcast-group ff02::1:3", &api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth0", Group: addr("ff02::1:3")}}},
		{"--stop-daemon backup", &api.Op{Kind: api.StopDaemon, Daemon: &api.SyncDaemon{Role: "backup"}}},
	}
	for _, tt := range tests {
		checkOp(t, tt.line, tt.want)
	}
	// -s "" (an empty word, which a shell can pass) falls back to wlc.
	c, err := parse("ipvsadm", []string{"-A", "-t", "1.1.1.1:80", "-s", ""}, fakeResolver{})
	if err != nil || c.Op.Service.Scheduler != "wlc" {
		t.Errorf("-s '': %+v %v, want wlc", c, err)
	}
	// a value with a blank after an address is inet_aton's business
	c, err = parse("ipvsadm", []string{"-A", "-t", "1.1.1.1 junk:80"}, fakeResolver{})
	if err != nil || c.Op.Service.Addr != addr("1.1.1.1") || c.Op.Service.Port != 80 {
		t.Errorf("'1.1.1.1 junk:80': %+v %v", c, err)
	}
}

// TestParseList: the list forms and what they select.
func TestParseList(t *testing.T) {
	k := tcp("10.0.0.1", 443)
	tests := []struct {
		line string
		want Command
	}{
		{"", Command{Name: CmdList}},
		{"-L", Command{Name: CmdList}},
		{"-l", Command{Name: CmdList}},
		{"--list --numeric=5", Command{Name: CmdList, Numeric: true}},
		{"-Ln", Command{Name: CmdList, Numeric: true}},
		{"-Lnc", Command{Name: CmdList, Numeric: true, Conns: true}},
		{"-L -c --persistent-conn", Command{Name: CmdList, Conns: true, PersistentConn: true}},
		{"-L -n -t 10.0.0.1:443", Command{Name: CmdList, Numeric: true, Service: &k}},
		{"-L -n --stats --rate -X --nosort", Command{Name: CmdList, Numeric: true, Stats: true, Rate: true, Exact: true, NoSort: true}},
		{"-L --timeout -n", Command{Name: CmdList, Numeric: true, Timeouts: true}},
		{"-L --daemon --syncid 3", Command{Name: CmdList, Daemons: true}},
		{"-L --tun-info --sort", Command{Name: CmdList, TunInfo: true}},
		{"-S -n", Command{Name: CmdSave, Numeric: true}},
		{"--save", Command{Name: CmdSave}},
		{"-R", Command{Name: CmdRestore}},
		{"-h --foo -x", Command{Name: CmdHelp}},
		{"--help", Command{Name: CmdHelp}},
		{"-v", Command{Name: CmdVersion}},
		{"--version extra", Command{Name: CmdVersion}},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.line)
		if !reflect.DeepEqual(*c, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.line, *c, tt.want)
		}
	}
	// Parse (the exported one) agrees on numeric input.
	c, err := Parse([]string{"-A", "-t", "10.0.0.1:443", "-s", "rr"})
	if err != nil || c.Op == nil || c.Op.Service.ServiceKey != k || c.Op.Service.Scheduler != "rr" || !c.Changing() {
		t.Errorf("Parse: %+v %v", c, err)
	}
	_, err = Parse([]string{"-A", "-t", "10.0.0.1"})
	if e, ok := err.(*Error); !ok || e.Code != 2 || e.Msg != "Zero port specified for non-persistent service" {
		t.Errorf("Parse error: %#v", err)
	}
}
