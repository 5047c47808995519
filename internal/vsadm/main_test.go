package vsadm

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/listing"
)

// TestHelp: -h prints ipvsadm 1.31's usage (interfaces.md §1.10, kept in
// testdata/help.golden) on stdout, exit 0, without the daemon.
func TestHelp(t *testing.T) {
	golden, err := os.ReadFile("testdata/help.golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"-h", "--help", "-h --bogus"} {
		r := run(arg, nil)
		if r.stdout != string(golden) || r.stderr != "" || r.code != 0 || r.connected {
			t.Errorf("%s: exit %d, stderr %q, connected %v, stdout differs: %v", arg, r.code, r.stderr, r.connected, r.stdout != string(golden))
		}
	}
	r := runWith([]string{"/sbin/ipvsadm", "-h"}, "", nil)
	want := strings.ReplaceAll(string(golden), "\n  ipvsadm ", "\n  /sbin/ipvsadm ")
	if r.stdout != want || strings.Count(r.stdout, "/sbin/ipvsadm ") != 13 {
		t.Errorf("-h as /sbin/ipvsadm:\n%s", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"-v", "--version"} {
		r := run(arg, nil)
		if r.stdout != "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n" || r.code != 0 || r.connected {
			t.Errorf("%s: %q exit %d connected %v", arg, r.stdout, r.code, r.connected)
		}
	}
}

// demoTable is a small table for the listing commands.
func demoTable() *api.Table {
	return &api.Table{TableSize: 4096, Services: []api.Service{
		{ServiceKey: tcp("207.175.44.110", 80), Scheduler: "rr", Dests: []api.Dest{
			{DestKey: dkey("192.168.10.2", 8080), Method: api.Masq, Weight: 3, UThreshold: 100, LThreshold: 50, ActiveConns: 6, InactConns: 34},
			{DestKey: dkey("192.168.10.1", 80), Method: api.Masq, Weight: 1, ActiveConns: 3, InactConns: 17},
		}},
		{ServiceKey: tcp("10.0.0.1", 443), Scheduler: "wlc", Persistent: true, Timeout: 360, Dests: []api.Dest{
			{DestKey: dkey("10.0.0.21", 443), Method: api.Route, Weight: 1},
		}},
		{ServiceKey: fwm(1), Scheduler: "wlc", Persistent: true, Timeout: 600, Netmask: 24},
	}}
}

// TestListDispatch: each list form prints what package listing prints
// for it, with the options the command line asked for.
func TestListDispatch(t *testing.T) {
	tbl := demoTable()
	conns := []api.Conn{{Protocol: "TCP", State: "ESTABLISHED", Expires: 897}}
	tmo := api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}
	ds := []api.SyncDaemon{{Role: "master", Interface: "eth1", SyncID: 7}}
	be := &fakeBackend{table: tbl, conns: conns, timeouts: tmo, daemons: ds}
	var b bytes.Buffer
	want := func(f func() error) string {
		b.Reset()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	svc := tbl.Find(tcp("10.0.0.1", 443))
	tests := []struct {
		line, want string
	}{
		{"-L -n", want(func() error { return listing.WriteTable(&b, tbl, listing.Options{Numeric: true}) })},
		{"-Ln --nosort", want(func() error { return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, NoSort: true}) })},
		{"-L -n --thresholds", want(func() error {
			return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, View: listing.ViewThresholds})
		})},
		{"-L -n --rate --thresholds --stats -X", want(func() error {
			return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, Exact: true, View: listing.ViewStats})
		})},
		{"-L -n --rate --persistent-conn", want(func() error {
			return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, View: listing.ViewRate})
		})},
		{"-L -n --tun-info --persistent-conn", want(func() error {
			return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, View: listing.ViewPersistentConn})
		})},
		{"-L -n --tun-info", want(func() error {
			return listing.WriteTable(&b, tbl, listing.Options{Numeric: true, View: listing.ViewTunInfo})
		})},
		{"-L -n -t 10.0.0.1:443", want(func() error { return listing.WriteService(&b, svc, listing.Options{Numeric: true}) })},
		{"-S -n", want(func() error { return listing.WriteSave(&b, tbl, listing.Options{Numeric: true}) })},
		{"-L -n -c", want(func() error { return listing.WriteConns(&b, conns, listing.Options{Numeric: true}) })},
		{"-L -n -c --persistent-conn", want(func() error {
			return listing.WriteConns(&b, conns, listing.Options{Numeric: true, View: listing.ViewPersistentConn})
		})},
		{"-L --timeout", want(func() error { return listing.WriteTimeouts(&b, tmo) })},
		{"-L --daemon", want(func() error { return listing.WriteDaemons(&b, ds) })},
		{"--proc ip_vs", want(func() error { return listing.WriteProc(&b, "ip_vs", tbl, conns) })},
		{"--proc=ip_vs_conn", want(func() error { return listing.WriteProc(&b, "ip_vs_conn", tbl, conns) })},
	}
	for _, tt := range tests {
		r := run(tt.line, be)
		if r.stdout != tt.want || r.stderr != "" || r.code != 0 {
			t.Errorf("ipvsadm %s: exit %d stderr %q\n got %q\nwant %q", tt.line, r.code, r.stderr, r.stdout, tt.want)
		}
	}
	if len(be.batches) != 0 {
		t.Errorf("listings applied %v", be.batches)
	}
	// No arguments: the whole table (an empty one, so that no name
	// lookups are needed).
	r := run("", &fakeBackend{})
	if w := want(func() error { return listing.WriteTable(&b, &api.Table{TableSize: 4096}, listing.Options{}) }); r.stdout != w || r.code != 0 {
		t.Errorf("ipvsadm: got %q exit %d, want %q", r.stdout, r.code, w)
	}
	// An unknown proc file is refused before connecting.
	r = run("--proc ip_vs_nope", nil)
	if r.code != 2 || r.connected || !strings.HasPrefix(r.stderr, "unknown proc file `ip_vs_nope' (one of ip_vs") {
		t.Errorf("--proc ip_vs_nope: %q exit %d connected %v", r.stderr, r.code, r.connected)
	}
}

// TestApply: a changing command sends exactly its operation, once.
func TestApply(t *testing.T) {
	be := &fakeBackend{}
	r := run("-A -t 10.0.0.1:80 -s rr", be)
	want := []api.Op{{Kind: api.AddService, Service: &api.Service{ServiceKey: tcp("10.0.0.1", 80), Scheduler: "rr"}}}
	if r.code != 0 || r.stderr != "" || r.stdout != "" || !reflect.DeepEqual(be.batches, [][]api.Op{want}) {
		t.Errorf("exit %d stderr %q batches %v", r.code, r.stderr, be.batches)
	}
}

const rules = "-A -t 10.0.0.1:80 -s rr\n" +
	"ipvsadm\t-a -t 10.0.0.1:80\t-r 10.0.0.2:80 -m -w 2\r\n" +
	"\n   \t\r\n" +
	"  ipvsadm -a ipvsadm -t 10.0.0.1:80 -r 10.0.0.3 -m\n" +
	"--set 0 0 60" // no final newline

var rulesOps = []api.Op{
	{Kind: api.AddService, Service: &api.Service{ServiceKey: tcp("10.0.0.1", 80), Scheduler: "rr"}},
	{Kind: api.AddDest, Service: &api.Service{ServiceKey: tcp("10.0.0.1", 80)}, Dest: &api.Dest{DestKey: dkey("10.0.0.2", 80), Method: api.Masq, Weight: 2}},
	{Kind: api.AddDest, Service: &api.Service{ServiceKey: tcp("10.0.0.1", 80)}, Dest: &api.Dest{DestKey: dkey("10.0.0.3", 80), Method: api.Masq, Weight: 1}},
	{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{UDP: 60}},
}

// TestRestore: -R parses every line (blank/tab/CR separated, "ipvsadm"
// words dropped, blank lines skipped) and sends one batch.
func TestRestore(t *testing.T) {
	be := &fakeBackend{}
	r := runWith([]string{"ipvsadm", "-R"}, rules, be)
	if r.code != 0 || r.stderr != "" || !reflect.DeepEqual(be.batches, [][]api.Op{rulesOps}) {
		t.Fatalf("exit %d stderr %q batches:\n%v", r.code, r.stderr, be.batches)
	}
	// Empty input: nothing to do, no daemon needed.
	r = runWith([]string{"ipvsadm", "-R"}, "\n\n", nil)
	if r.code != 0 || r.connected {
		t.Errorf("empty -R: exit %d connected %v", r.code, r.connected)
	}
	// -S output restores to the same operations (round trip through
	// listing's save format).
	tbl := demoTable()
	saved := run("-S -n", &fakeBackend{table: tbl})
	be = &fakeBackend{}
	r = runWith([]string{"ipvsadm", "-R"}, saved.stdout, be)
	if r.code != 0 || len(be.batches) != 1 || len(be.batches[0]) != 6 {
		t.Fatalf("restore of %q: exit %d %q, %v", saved.stdout, r.code, r.stderr, be.batches)
	}
	for _, op := range be.batches[0] {
		orig := tbl.Find(op.Service.ServiceKey)
		switch {
		case orig == nil:
			t.Errorf("restored op for an unknown service: %s", opString(&op))
		case op.Kind == api.AddService:
			got, want := *op.Service, *orig
			want.Dests = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("restored service\n got %s\nwant %s", sprint(got), sprint(want))
			}
		case op.Kind == api.AddDest:
			found := false
			for _, d := range orig.Dests {
				found = found || d.DestKey == op.Dest.DestKey && d.Method == op.Dest.Method && d.Weight == op.Dest.Weight
			}
			if !found || op.Dest.UThreshold != 0 {
				t.Errorf("restored dest %s not in %s (thresholds are not saved)", sprint(*op.Dest), sprint(orig.Dests))
			}
		default:
			t.Errorf("restored op %s", opString(&op))
		}
	}
}

// TestRestoreAllOrNothing: a bad line stops everything before anything is
// sent; a refusal by vsd applies nothing and exits 255.
func TestRestoreAllOrNothing(t *testing.T) {
	tests := []struct {
		input, stderr string
		code          int
	}{
		{"-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2\n-A -t 10.0.0.9\n", "Zero port specified for non-persistent service\n", 2},
		{"-A -t 10.0.0.1:80\n# a comment\n", tryMsg, 255},
		{"-A -t 10.0.0.1:80 # a comment\n", "unexpected argument #\n", 2},
		{"-A -t 10.0.0.1:80\n-R\n", tryMsg, 255},
		{"-A -t 10.0.0.1:80\n\n-L -n\n", "line 3: '-L -n' is not a changing command; -R takes only -A -E -D -C -a -e -d -Z --set --start-daemon --stop-daemon\n", 2},
		{"-S\n", "line 1: '-S' is not a changing command; -R takes only -A -E -D -C -a -e -d -Z --set --start-daemon --stop-daemon\n", 2},
		{"-h\n", "line 1: '-h' is not a changing command; -R takes only -A -E -D -C -a -e -d -Z --set --start-daemon --stop-daemon\n", 2},
		{"-A -t 10.0.0.1:80 --foo\n", "--foo: unknown option\n", 255},
	}
	for _, tt := range tests {
		be := &fakeBackend{}
		r := runWith([]string{"ipvsadm", "-R"}, tt.input, be)
		if r.stderr != tt.stderr || r.code != tt.code || len(be.batches) != 0 || r.connected {
			t.Errorf("-R %q: got %q exit %d (batches %d, connected %v), want %q exit %d",
				tt.input, r.stderr, r.code, len(be.batches), r.connected, tt.stderr, tt.code)
		}
	}
	be := &fakeBackend{applyErr: &api.OpError{Index: 2, Message: api.MsgDestExists}}
	r := runWith([]string{"ipvsadm", "--restore"}, rules, be)
	if r.stderr != "Destination already exists\n" || r.code != 255 || len(be.batches) != 1 || len(be.batches[0]) != 4 || be.applied() != nil {
		t.Errorf("refused batch: %q exit %d batches %v", r.stderr, r.code, be.batches)
	}
	r = runWith([]string{"ipvsadm", "-R", "-n"}, rules, &fakeBackend{})
	if r.stderr != "Illegal 'numeric' option with the 'restore' command\n" || r.code != 2 {
		t.Errorf("-R -n: %q exit %d", r.stderr, r.code)
	}
}

func TestSplitRules(t *testing.T) {
	lines, nums := splitRules("a b\n\n\tipvsadm\n c\td\re ipvsadm\n#\n")
	if !reflect.DeepEqual(lines, [][]string{{"a", "b"}, {"c", "d", "e"}, {"#"}}) || !reflect.DeepEqual(nums, []int{1, 4, 5}) {
		t.Errorf("got %q %v", lines, nums)
	}
}

// TestSaveScript: started as ipvsadm-save, vsadm is `ipvsadm -S [-n]`.
func TestSaveScript(t *testing.T) {
	tbl := demoTable()
	want := run("-S -n", &fakeBackend{table: tbl})
	r := runWith([]string{"/usr/sbin/ipvsadm-save", "-n"}, "", &fakeBackend{table: tbl})
	if r.stdout != want.stdout || r.code != 0 || want.stdout == "" {
		t.Errorf("ipvsadm-save -n: %q exit %d, want %q", r.stdout, r.code, want.stdout)
	}
	wantNames := run("-S", &fakeBackend{table: &api.Table{}})
	r = runWith([]string{"ipvsadm-save"}, "", &fakeBackend{table: &api.Table{}})
	if r.stdout != wantNames.stdout || r.code != 0 {
		t.Errorf("ipvsadm-save: %q exit %d", r.stdout, r.code)
	}
	r = runWith([]string{"/sbin/ipvsadm-save", "-x"}, "", &fakeBackend{table: tbl})
	if r.stderr != "Usage: ipvsadm-save [-n]\n" || r.code != 1 || r.stdout != "" || r.connected {
		t.Errorf("ipvsadm-save -x: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
}

// TestRestoreScript: started as ipvsadm-restore, vsadm drops '#' lines
// and applies a clear plus the rules in one batch.
func TestRestoreScript(t *testing.T) {
	be := &fakeBackend{}
	r := runWith([]string{"/sbin/ipvsadm-restore"}, "# ipvsadm.rules\n"+rules+"\n#-C\n", be)
	want := append([]api.Op{{Kind: api.Clear}}, rulesOps...)
	if r.code != 0 || r.stderr != "" || !reflect.DeepEqual(be.batches, [][]api.Op{want}) {
		t.Errorf("exit %d %q batches %v", r.code, r.stderr, be.batches)
	}
	be = &fakeBackend{}
	r = runWith([]string{"ipvsadm-restore"}, "", be)
	if r.code != 0 || !reflect.DeepEqual(be.batches, [][]api.Op{{{Kind: api.Clear}}}) {
		t.Errorf("empty restore: exit %d batches %v", r.code, be.batches)
	}
	be = &fakeBackend{}
	r = runWith([]string{"ipvsadm-restore"}, " # indented is not a comment\n", be)
	if r.code != 255 || r.stderr != tryMsg || len(be.batches) != 0 {
		t.Errorf("indented '#': %q exit %d batches %v", r.stderr, r.code, be.batches)
	}
}
