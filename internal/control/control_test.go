package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

type noNeighbors struct{}

func (noNeighbors) Resolve(bool, [16]byte) ([6]byte, uint16, bool) { return [6]byte{}, 0, false }

func newServer(t *testing.T) *Server {
	t.Helper()
	eng, err := director.New(director.Config{Ports: []director.Port{{}}, Neighbors: noNeighbors{}, TableBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	set := service.NewSet(sched.New)
	now := clock.Seconds(100)
	return &Server{Mu: new(sync.Mutex), Set: set, Engine: eng, Est: NewEstimator(), Now: func() clock.Time { return now },
		Published: eng.Publish}
}

var (
	vip  = netip.MustParseAddr("10.0.0.1")
	rip1 = netip.MustParseAddr("192.168.10.1")
	rip2 = netip.MustParseAddr("192.168.10.2")
)

func tcpSvc(port uint16) *api.Service {
	return &api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: vip, Port: port}, Scheduler: "rr"}
}

func masq(a netip.Addr, port uint16, w int32) *api.Dest {
	return &api.Dest{DestKey: api.DestKey{Addr: a, Port: port}, Method: api.Masq, Weight: w}
}

// TestApplyAtomic checks that a batch whose last operation is refused
// changes nothing, and that the error names the operation and carries
// ipvsadm's message.
func TestApplyAtomic(t *testing.T) {
	s := newServer(t)
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: tcpSvc(80)}, {Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 80, 1)}}); err != nil {
		t.Fatal(err)
	}
	before := s.Table()
	toBefore := s.Timeouts()
	err := s.Apply([]api.Op{
		{Kind: api.AddService, Service: tcpSvc(443)},
		{Kind: api.EditDest, Service: tcpSvc(80), Dest: masq(rip1, 80, 7)},
		{Kind: api.DeleteService, Service: tcpSvc(80)},
		{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{TCP: 3600}},
		{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth0"}},
		{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip2, 80, 1)}, // service 80 was deleted above
	})
	var oe *api.OpError
	if !errors.As(err, &oe) || oe.Index != 5 || oe.Message != api.MsgServiceNotDef {
		t.Fatalf("got %v, want operation 6 refused with %q", err, api.MsgServiceNotDef)
	}
	if after := s.Table(); !reflect.DeepEqual(before, after) {
		t.Errorf("refused batch changed the table:\nbefore %+v\nafter  %+v", before, after)
	}
	if s.Timeouts() != toBefore || len(s.Daemons()) != 0 {
		t.Errorf("refused batch changed timeouts %+v or daemons %+v", s.Timeouts(), s.Daemons())
	}
}

// TestApplyMessages checks the ipvsadm text of each kernel refusal.
func TestApplyMessages(t *testing.T) {
	s := newServer(t)
	setup := []api.Op{{Kind: api.AddService, Service: tcpSvc(80)}, {Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 80, 1)},
		{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth0"}}}
	if err := s.Apply(setup); err != nil {
		t.Fatal(err)
	}
	bad := *tcpSvc(8080)
	bad.Scheduler = "bogus"
	pe := *tcpSvc(8081)
	pe.PE = "sip"
	for _, tt := range []struct {
		op   api.Op
		want string
	}{
		{api.Op{Kind: api.AddService, Service: tcpSvc(80)}, api.MsgServiceExists},
		{api.Op{Kind: api.AddService, Service: &bad}, api.MsgSchedNotFound},
		{api.Op{Kind: api.AddService, Service: &pe}, api.MsgSchedNotFound},
		{api.Op{Kind: api.EditService, Service: tcpSvc(81)}, api.MsgNoService},
		{api.Op{Kind: api.DeleteService, Service: tcpSvc(81)}, api.MsgNoService},
		{api.Op{Kind: api.Zero, Service: tcpSvc(81)}, api.MsgNoService},
		{api.Op{Kind: api.AddDest, Service: tcpSvc(81), Dest: masq(rip1, 80, 1)}, api.MsgServiceNotDef},
		{api.Op{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 80, 1)}, api.MsgDestExists},
		{api.Op{Kind: api.EditDest, Service: tcpSvc(80), Dest: masq(rip2, 80, 1)}, api.MsgNoDest},
		{api.Op{Kind: api.DeleteDest, Service: tcpSvc(80), Dest: masq(rip2, 80, 1)}, api.MsgNoDest},
		{api.Op{Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(netip.MustParseAddr("224.0.0.1"), 80, 1)}, api.MsgInvalid},
		{api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth1"}}, api.MsgDaemonRuns},
		{api.Op{Kind: api.StopDaemon, Daemon: &api.SyncDaemon{Role: "backup"}}, api.MsgNoDaemon},
		{api.Op{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{UDP: 2678401}}, api.MsgRange},
		{api.Op{Kind: "bogus"}, api.MsgInvalid},
	} {
		err := s.Apply([]api.Op{tt.op})
		var oe *api.OpError
		if !errors.As(err, &oe) || oe.Message != tt.want {
			t.Errorf("%s: got %v, want %q", tt.op.Kind, err, tt.want)
		}
	}
}

// TestAPIOverSocket drives the whole API through api.Client on a real unix
// socket: changes, the table view, timeouts, daemons, connections, and the
// socket's mode.
func TestAPIOverSocket(t *testing.T) {
	s := newServer(t)
	path := filepath.Join(t.TempDir(), "run", "vsd.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	if _, err := Listen(path); err == nil {
		t.Fatal("a second Listen on a live socket succeeded")
	}
	srv := serve(t, s, ln)
	defer srv()
	c := api.NewClient(path)
	ctx := context.Background()

	svc := tcpSvc(80)
	svc.Persistent, svc.Timeout, svc.Netmask = true, 360, 24
	if err := c.Apply(ctx, api.Op{Kind: api.AddService, Service: svc},
		api.Op{Kind: api.AddDest, Service: svc, Dest: masq(rip1, 80, 1)},
		api.Op{Kind: api.AddDest, Service: svc, Dest: &api.Dest{DestKey: api.DestKey{Addr: rip2, Port: 80}, Method: api.Tunnel, Weight: 2, TunType: api.TunGUE, TunPort: 6080, TunCsum: api.CsumOn}},
		api.Op{Kind: api.SetTimeouts, Timeouts: &api.Timeouts{TCP: 3600, UDP: 60}},
		api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "backup", Interface: "eth1", SyncID: 7}},
		api.Op{Kind: api.StartDaemon, Daemon: &api.SyncDaemon{Role: "master", Interface: "eth0"}},
	); err != nil {
		t.Fatal(err)
	}
	tab, err := c.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tab.TableSize != 256 || len(tab.Services) != 1 {
		t.Fatalf("table %+v", tab)
	}
	got := tab.Services[0]
	if !got.Persistent || got.Timeout != 360 || got.Netmask != 24 || got.Scheduler != "rr" || len(got.Dests) != 2 {
		t.Fatalf("service %+v", got)
	}
	// The kernel's list order: the last added first.
	if d := got.Dests[0]; d.Addr != rip2 || d.Method != api.Tunnel || d.TunType != api.TunGUE || d.TunPort != 6080 || d.TunCsum != api.CsumOn || d.Weight != 2 {
		t.Errorf("first dest %+v", d)
	}
	if d := got.Dests[1]; d.Addr != rip1 || d.Method != api.Masq || d.TunType != "" {
		t.Errorf("second dest %+v", d)
	}
	if to, err := c.Timeouts(ctx); err != nil || to != (api.Timeouts{TCP: 3600, TCPFin: 120, UDP: 60}) {
		t.Errorf("timeouts %+v %v", to, err)
	}
	ds, err := c.Daemons(ctx)
	want := []api.SyncDaemon{
		{Role: "master", Interface: "eth0", MaxLen: 1472, Group: DefaultSyncGroup, Port: 8848, TTL: 1},
		{Role: "backup", Interface: "eth1", SyncID: 7, MaxLen: 1472, Group: DefaultSyncGroup, Port: 8848, TTL: 1},
	}
	if err != nil || !reflect.DeepEqual(ds, want) {
		t.Errorf("daemons %+v %v", ds, err)
	}

	// A connection in the table shows up in /v1/conns.
	eng := s.Engine
	d1 := eng.Snapshot().Services[0].Dests[1]
	eng.Table().SetDestAddr(uint32(d1.ID), d1.Addr16)
	cip := netip.MustParseAddr("10.9.9.9")
	conn := conntrack.Conn{Proto: packet.ProtoTCP, Caddr: cip.As16(), Vaddr: vip.As16(), Cport: 54321, Vport: 80, Dport: 80,
		Flags: conntrack.FwdMasq, State: uint8(state.TCPEstablished), Dest: uint32(d1.ID), Expires: s.Now().Add(897*time.Second + 400*time.Millisecond)}
	h := eng.Table().Hash(false, packet.ProtoTCP, &conn.Caddr, conn.Cport)
	eng.Table().Lock(h)
	_, ok := eng.Table().InsertLocked(h, &conn, s.Now())
	eng.Table().Unlock(h)
	if !ok {
		t.Fatal("insert refused")
	}
	conns, err := c.Conns(ctx)
	wantConn := api.Conn{Protocol: "TCP", Client: netip.AddrPortFrom(cip, 54321), Virtual: netip.AddrPortFrom(vip, 80),
		Dest: netip.AddrPortFrom(rip1, 80), State: "ESTABLISHED", Expires: 897}
	if err != nil || len(conns) != 1 || conns[0] != wantConn {
		t.Errorf("conns %+v %v, want %+v", conns, err, wantConn)
	}

	// A refusal comes back as *api.OpError.
	err = c.Apply(ctx, api.Op{Kind: api.AddService, Service: svc})
	var oe *api.OpError
	if !errors.As(err, &oe) || oe.Message != api.MsgServiceExists {
		t.Errorf("duplicate add: %v", err)
	}
	// A malformed body is refused with 400 and no change.
	if err := c.Apply(ctx, api.Op{Kind: api.Clear}, api.Op{Kind: api.AddService}); err == nil {
		t.Error("batch with a service-less add accepted")
	}
	if tab, _ := c.Table(ctx); len(tab.Services) != 1 {
		t.Error("refused batch with a clear emptied the table")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vsd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody answers: a killed vsd's socket
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
}

func TestConnectError(t *testing.T) {
	c := api.NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Timeouts(context.Background())
	var ce *api.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *api.ConnectError", err)
	}
}

// TestLocalRealServer: a direct-routing real server on one of the
// director's own addresses is Local, as the kernel makes it; NAT to the
// same address stays NAT.
func TestLocalRealServer(t *testing.T) {
	s := newServer(t)
	s.IsLocal = HostAddress
	lo := netip.MustParseAddr("127.0.0.1")
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: tcpSvc(80)},
		{Kind: api.AddDest, Service: tcpSvc(80), Dest: &api.Dest{DestKey: api.DestKey{Addr: lo, Port: 80}, Method: api.Route, Weight: 1}},
		{Kind: api.AddService, Service: tcpSvc(81)},
		{Kind: api.AddDest, Service: tcpSvc(81), Dest: masq(lo, 8080, 1)},
		{Kind: api.AddDest, Service: tcpSvc(81), Dest: &api.Dest{DestKey: api.DestKey{Addr: rip1, Port: 81}, Method: api.Route, Weight: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	tab := s.Table()
	if m := tab.Services[0].Dests[0].Method; m != api.Local {
		t.Errorf("DR real server on 127.0.0.1: %s, want Local", m)
	}
	for _, d := range tab.Services[1].Dests {
		if want := map[netip.Addr]api.Method{lo: api.Masq, rip1: api.Route}[d.Addr]; d.Method != want {
			t.Errorf("%s: %s, want %s", d.Addr, d.Method, want)
		}
	}
	if !HostAddress(netip.MustParseAddr("::1")) || HostAddress(netip.MustParseAddr("192.0.2.123")) {
		t.Error("HostAddress: ::1 must be local, 192.0.2.123 must not")
	}
}

// TestConnsStreamed: a table walked in many pieces comes back whole, each
// entry once.
func TestConnsStreamed(t *testing.T) {
	eng, err := director.New(director.Config{Ports: []director.Port{{}}, Neighbors: noNeighbors{}, TableBits: 12})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Seconds(100)
	s := &Server{Mu: new(sync.Mutex), Set: service.NewSet(sched.New), Engine: eng, Now: func() clock.Time { return now }, Published: eng.Publish}
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: tcpSvc(80)}, {Kind: api.AddDest, Service: tcpSvc(80), Dest: masq(rip1, 80, 1)}}); err != nil {
		t.Fatal(err)
	}
	d := eng.Snapshot().Services[0].Dests[0]
	eng.Table().SetDestAddr(uint32(d.ID), d.Addr16)
	const n = 3000
	for i := range n {
		c := conntrack.Conn{Proto: packet.ProtoUDP, Caddr: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).As16(), Vaddr: vip.As16(),
			Cport: uint16(1024 + i), Vport: 80, Dport: 80, Flags: conntrack.FwdMasq, Dest: uint32(d.ID), Expires: now.Add(time.Minute)}
		h := eng.Table().Hash(false, packet.ProtoUDP, &c.Caddr, c.Cport)
		eng.Table().Lock(h)
		_, ok := eng.Table().InsertLocked(h, &c, now)
		eng.Table().Unlock(h)
		if !ok {
			t.Fatalf("insert %d refused", i)
		}
	}
	path := filepath.Join(t.TempDir(), "vsd.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer serve(t, s, ln)()
	c := api.NewClient(path)
	defer c.Close()
	conns, err := c.Conns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.AddrPort]bool{}
	for _, cn := range conns {
		if seen[cn.Client] || cn.Protocol != "UDP" || cn.State != "UDP" || cn.Expires != 60 {
			t.Fatalf("entry %+v (seen before: %v)", cn, seen[cn.Client])
		}
		seen[cn.Client] = true
	}
	if len(seen) != n {
		t.Errorf("%d entries streamed, want %d", len(seen), n)
	}
}

// TestTunables: set through the API, refused with a precise message and
// nothing changed, listed by name.
func TestTunables(t *testing.T) {
	s := newServer(t)
	set := func(name string, v int64) error {
		return s.Apply([]api.Op{{Kind: api.SetTunable, Tunable: &api.Tunable{Name: name, Value: v}}})
	}
	if err := set("secure_tcp", 3); err != nil {
		t.Fatal(err)
	}
	if !s.Engine.Defense().SecureTCP {
		t.Error("secure_tcp 3 did not switch the TCP tables")
	}
	if err := set("timeout_tcp_syn_recv", 10); err != nil {
		t.Fatal(err)
	}
	if to := s.Engine.Timeouts(); to.Timeout(packet.ProtoTCP, uint8(state.TCPSynRecv)) != 10*time.Second {
		t.Error("timeout_tcp_syn_recv not set")
	}
	before := s.Engine.Tunables()
	for _, tt := range []struct {
		name string
		v    int64
		want string
	}{
		{"drop_entry", 4, "drop_entry 4: out of range 0..3"},
		{"amemthresh", -1, "amemthresh -1: out of range 0..1099511627776"},
		{"am_droprate", 0, "am_droprate 0: out of range 1..2147483647"},
		{"sloppy_tcp", 2, "sloppy_tcp 2: want 0 (off) or 1 (on)"},
		{"timeout_udp", 0, fmt.Sprintf("timeout_udp 0: want 1..%d seconds", state.MaxTimeoutSeconds)},
		{"drop_entri", 1, `unknown tunable "drop_entri" (vsadm --sysctl lists them)`},
	} {
		err := s.Apply([]api.Op{{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "drop_packet", Value: 3}},
			{Kind: api.SetTunable, Tunable: &api.Tunable{Name: tt.name, Value: tt.v}}})
		var oe *api.OpError
		if !errors.As(err, &oe) || oe.Message != tt.want || oe.Index != 1 {
			t.Errorf("%s %d: %v, want %q", tt.name, tt.v, err, tt.want)
		}
	}
	if s.Engine.Tunables() != before {
		t.Error("a refused batch changed the tunables")
	}
	got := map[string]int64{}
	for _, tu := range TunablesOf(s.Engine.Tunables(), s.Engine.Timeouts()) {
		got[tu.Name] = tu.Value
	}
	for name, want := range map[string]int64{"secure_tcp": 3, "drop_packet": 0, "amemthresh": 1024, "am_droprate": 10, "pmtu_disc": 1,
		"timeout_tcp_syn_recv": 10, "timeout_tcp_established": 900, "timeout_udp": 300, "timeout_sctp_established": 900} {
		if got[name] != want {
			t.Errorf("%s = %d, want %d", name, got[name], want)
		}
	}
}

// TestEditKeepsSynProxy: ipvsadm -E resends every ipvsadm setting but has
// no word for syn_proxy; an edit keeps it.
func TestEditKeepsSynProxy(t *testing.T) {
	s := newServer(t)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip, Port: 80}
	if err := s.Set.AddService(service.ServiceConfig{Key: k, Sched: "sh", Flags: service.FlagSynStateless}); err != nil {
		t.Fatal(err)
	}
	svc := tcpSvc(80)
	svc.Scheduler = "mh"
	if err := s.Apply([]api.Op{{Kind: api.EditService, Service: svc}}); err != nil {
		t.Fatal(err)
	}
	got := s.Set.Snapshot().Find(k)
	if got.SchedName != "mh" || got.Flags&service.FlagSynStateless == 0 {
		t.Errorf("after -E: scheduler %s, flags %#x", got.SchedName, got.Flags)
	}
}

// TestVsdSettingsThroughAPI: source_rate and syn_proxy set with add-service
// show in the table; syn_proxy without a hash scheduler is refused.
func TestVsdSettingsThroughAPI(t *testing.T) {
	s := newServer(t)
	svc := tcpSvc(80)
	svc.Scheduler, svc.SourceRate, svc.SynProxy = "mh", 250, true
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: svc}}); err != nil {
		t.Fatal(err)
	}
	got := s.Table().Services[0]
	if got.SourceRate != 250 || !got.SynProxy {
		t.Errorf("table shows %+v", got)
	}
	bad := tcpSvc(81)
	bad.SynProxy = true // wlc
	var oe *api.OpError
	if err := s.Apply([]api.Op{{Kind: api.AddService, Service: bad}}); !errors.As(err, &oe) || oe.Message != api.MsgInvalid {
		t.Errorf("syn_proxy with wlc: %v", err)
	}
}
