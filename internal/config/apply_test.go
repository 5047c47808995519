package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// dump writes a snapshot as text: services in order, their real servers in
// list order, every configured field.
func dump(sn *service.Snapshot) string {
	var b strings.Builder
	for _, s := range sn.Services {
		fmt.Fprintf(&b, "%s %s flags=%#x timeout=%d mask=%d\n", keyName(s.Key), s.SchedName, s.Flags, s.Timeout, s.Netmask)
		for _, d := range s.Dests {
			c := d.Config()
			fmt.Fprintf(&b, "  -> %s %s w=%d x=%d y=%d", netip.AddrPortFrom(d.Addr, d.Port), c.Method, c.Weight, c.UThreshold, c.LThreshold)
			if c.Method == service.Tunnel {
				fmt.Fprintf(&b, " %s port=%d flags=%d", c.TunType, c.TunPort, c.TunFlags)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func mustParse(t *testing.T, in string) *Config {
	t.Helper()
	c, err := Parse("t.yaml", []byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestBuildExample(t *testing.T) {
	c, err := Load("testdata/vsd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `TCP 10.0.0.80:80 wlc flags=0x0 timeout=0 mask=32
  -> 172.16.0.2:8080 Masq w=3 x=1000 y=800
  -> 172.16.0.3:8080 Masq w=1 x=0 y=0
TCP 10.0.0.81:443 sh flags=0x19 timeout=1800 mask=24
  -> 10.0.1.2:443 Route w=1 x=0 y=0
  -> 10.0.1.3:443 Route w=0 x=0 y=0
UDP 10.0.0.82:53 rr flags=0x4 timeout=0 mask=32
  -> 10.0.2.2:53 Tunnel w=1 x=0 y=0 ipip port=0 flags=0
  -> [2001:db8:2::2]:53 Tunnel w=1 x=0 y=0 gue port=6080 flags=1
TCP [2001:db8::80]:0 wlc flags=0x1 timeout=360 mask=64
  -> [2001:db8:1::2]:0 Route w=1 x=0 y=0
FWM 7 (inet6) mh flags=0x10 timeout=0 mask=128
  -> [2001:db8:1::3]:0 Route w=1 x=0 y=0
  -> [2001:db8:1::4]:0 Local w=1 x=0 y=0
`
	sn := set.Snapshot()
	if got := dump(sn); got != want {
		t.Errorf("Build:\n%s\nwant:\n%s", got, want)
	}
	// The services are found the way the engine looks them up.
	vip := a("10.0.0.82").As16()
	if s := sn.Lookup(false, packet.ProtoUDP, &vip, 53, 0); s == nil || s.SchedName != "rr" || s.Sched.Name() != "rr" {
		t.Errorf("Lookup UDP 10.0.0.82:53 = %+v", s)
	}
	if s := sn.Lookup(true, packet.ProtoTCP, new(a("::").As16()), 1, 7); s == nil || s.Key.FwMark != 7 {
		t.Errorf("Lookup fwmark 7 = %+v", s)
	}
}

// A Config made in code that the Set refuses: the error names the place.
func TestBuildRefusesHandMade(t *testing.T) {
	k := service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.1"), Port: 80}
	c := &Config{Path: "x.yaml", Services: []Service{
		{Config: service.ServiceConfig{Key: k}, Line: 3, Col: 5,
			Dests: []service.DestParams{{Addr: a("10.0.1.1"), Port: 80, Weight: -1}}, DestPos: []Pos{{5, 9}}},
		{Config: service.ServiceConfig{Key: k}, Line: 7, Col: 5},
		{Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoUDP, Addr: a("10.0.0.1"), Port: 80}, Sched: "nope"}, Line: 9, Col: 5},
	}}
	_, err := c.Build(nil)
	want := "x.yaml:5:9: services[0].real_servers[0]: destination 10.0.1.1 weight -1: Numerical result out of range\n" +
		"x.yaml:7:5: services[1]: service TCP 10.0.0.1:80: Service already exists\n" +
		`x.yaml:9:5: services[2]: service UDP 10.0.0.1:80: Scheduler or persistence engine not found: unknown scheduler "nope"`
	if err == nil || err.Error() != want {
		t.Errorf("err:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, service.ErrServiceExists) || !errors.Is(err, service.ErrRange) {
		t.Errorf("errors.Is does not see the Set's sentinels in %v", err)
	}
}

const base = `services:
  - proto: tcp
    vip: 10.0.0.1
    port: 80
    scheduler: rr
    real_servers:
      - {addr: 10.0.1.1, method: nat, weight: 2}
      - {addr: 10.0.1.2, method: nat}
      - {addr: 10.0.1.3, method: nat}
  - proto: udp
    vip: 10.0.0.1
    port: 53
    real_servers:
      - {addr: 10.0.2.1}
  - fwmark: 9
    real_servers:
      - {addr: 10.0.3.1}
`

// next is base with: TCP service edited (scheduler wrr), 10.0.1.1 edited
// (weight 5), 10.0.1.2 kept unchanged, 10.0.1.3 removed, 10.0.1.4 added;
// UDP service unchanged; fwmark service removed; SCTP service added.
const next = `services:
  - proto: tcp
    vip: 10.0.0.1
    port: 80
    scheduler: wrr
    real_servers:
      - {addr: 10.0.1.1, method: nat, weight: 5}
      - {addr: 10.0.1.2, method: nat}
      - {addr: 10.0.1.4, method: nat, upper_threshold: 10}
  - proto: udp
    vip: 10.0.0.1
    port: 53
    real_servers:
      - {addr: 10.0.2.1}
  - proto: sctp
    vip: 10.0.0.1
    port: 9
    real_servers:
      - {addr: 10.0.4.1}
      - {addr: 10.0.4.2}
`

func destOf(t *testing.T, set *service.Set, k service.Key, addr string) *service.Dest {
	t.Helper()
	s := set.Snapshot().Find(k)
	if s == nil {
		t.Fatalf("no service %s", k)
	}
	for _, d := range s.Dests {
		if d.Addr == a(addr) {
			return d
		}
	}
	t.Fatalf("no real server %s in %s", addr, k)
	return nil
}

func TestApplyRoundTrip(t *testing.T) {
	c1, c2 := mustParse(t, base), mustParse(t, next)
	set, err := c1.Build(sched.New)
	if err != nil {
		t.Fatal(err)
	}
	tcp := service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.1"), Port: 80}
	udp := service.Key{Proto: packet.ProtoUDP, Addr: a("10.0.0.1"), Port: 53}

	// Connections in progress on kept real servers.
	d1, d2, d3 := destOf(t, set, tcp, "10.0.1.1"), destOf(t, set, tcp, "10.0.1.2"), destOf(t, set, tcp, "10.0.1.3")
	dUDP := destOf(t, set, udp, "10.0.2.1")
	d1.Bind(false, false)
	d1.Bind(false, true)
	d2.Bind(true, false)
	d3.Bind(false, false)
	for range 7 {
		d1.Stats.AddConn(service.Shard{})
	}
	udpSched := set.Snapshot().Find(udp).Sched
	ids := [3]service.DestID{d1.ID, d2.ID, d3.ID}

	now := clock.Seconds(100)
	ch, err := c2.Apply(set, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Changes{ServicesAdded: 1, ServicesEdited: 1, ServicesRemoved: 1, DestsAdded: 3, DestsEdited: 1, DestsRemoved: 2}
	if ch != want {
		t.Errorf("changes %+v, want %+v", ch, want)
	}
	if got := ch.String(); got != "services +1 ~1 -1, real servers +3 ~1 -2" {
		t.Errorf("String() = %q", got)
	}
	wantDump := `TCP 10.0.0.1:80 wrr flags=0x0 timeout=0 mask=32
  -> 10.0.1.4:80 Masq w=1 x=10 y=0
  -> 10.0.1.1:80 Masq w=5 x=0 y=0
  -> 10.0.1.2:80 Masq w=1 x=0 y=0
UDP 10.0.0.1:53 wlc flags=0x0 timeout=0 mask=32
  -> 10.0.2.1:53 Route w=1 x=0 y=0
SCTP 10.0.0.1:9 wlc flags=0x0 timeout=0 mask=32
  -> 10.0.4.1:9 Route w=1 x=0 y=0
  -> 10.0.4.2:9 Route w=1 x=0 y=0
`
	sn := set.Snapshot()
	if got := dump(sn); got != wantDump {
		t.Errorf("after Apply:\n%s\nwant:\n%s", got, wantDump)
	}
	// Kept real servers are the same objects with their counters.
	if e1, e2 := destOf(t, set, tcp, "10.0.1.1"), destOf(t, set, tcp, "10.0.1.2"); e1 != d1 || e2 != d2 {
		t.Fatalf("kept real servers were replaced: %p→%p, %p→%p", d1, e1, d2, e2)
	}
	if d1.Active.Load() != 1 || d1.Inactive.Load() != 1 || d2.Persist.Load() != 1 || d1.Stats.Sum().Conns != 7 || d1.ID != ids[0] || d2.ID != ids[1] {
		t.Errorf("counters or ids lost: d1 %d/%d conns %d, d2 persist %d", d1.Active.Load(), d1.Inactive.Load(), d1.Stats.Sum().Conns, d2.Persist.Load())
	}
	if !d1.Available() || !d2.Available() {
		t.Error("kept real servers are no longer available")
	}
	if destOf(t, set, udp, "10.0.2.1") != dUDP || sn.Find(udp).Sched != udpSched {
		t.Error("the unchanged UDP service lost its real server or scheduler")
	}
	// The removed one is in the trash: still reachable by id for its
	// connection, not available.
	if sn.Dest(ids[2]) != d3 || d3.Available() || d3.Active.Load() != 1 {
		t.Errorf("removed real server: in table %v, available %v, active %d", sn.Dest(ids[2]) == d3, d3.Available(), d3.Active.Load())
	}

	// Applying the same file again changes nothing, not even the snapshot.
	ch, err = c2.Apply(set, now)
	if err != nil || !ch.Empty() || set.Snapshot() != sn {
		t.Errorf("second Apply: %v %v, snapshot replaced %v", ch, err, set.Snapshot() != sn)
	}

	// Back to base: 10.0.1.3 comes back from the trash with its counters.
	ch, err = c1.Apply(set, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changes{ServicesAdded: 1, ServicesEdited: 1, ServicesRemoved: 1, DestsAdded: 2, DestsEdited: 1, DestsRemoved: 3}); ch != want {
		t.Errorf("changes back %+v, want %+v", ch, want)
	}
	if e3 := destOf(t, set, tcp, "10.0.1.3"); e3 != d3 || !d3.Available() || d3.Active.Load() != 1 || d3.ID != ids[2] {
		t.Errorf("10.0.1.3 was not revived from the trash with its counters")
	}
	// Same services and real servers as a fresh Build of base (the order of
	// the revived real server differs: it joins at the head).
	fresh, _ := c1.Build(nil)
	if got, want := sortedLines(dump(set.Snapshot())), sortedLines(dump(fresh.Snapshot())); got != want {
		t.Errorf("after the round trip:\n%s\nfresh Build:\n%s", got, want)
	}
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	for i := range l {
		for j := i + 1; j < len(l); j++ {
			if l[j] < l[i] {
				l[i], l[j] = l[j], l[i]
			}
		}
	}
	return strings.Join(l, "\n")
}

// TestApplyEdits: each kind of edit is applied in place.
func TestApplyEdits(t *testing.T) {
	tcp := service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.1"), Port: 80}
	for _, tc := range []struct {
		name, edit string
		want       Changes
		dump       string
	}{
		{"persistence", strings.Replace(base, "scheduler: rr", "scheduler: rr\n    persistent: 60\n    netmask: /24", 1),
			Changes{ServicesEdited: 1}, "TCP 10.0.0.1:80 rr flags=0x1 timeout=60 mask=24"},
		{"weight 0", strings.Replace(base, "weight: 2", "weight: 0", 1), Changes{DestsEdited: 1}, "  -> 10.0.1.1:80 Masq w=0 x=0 y=0"},
		{"method", strings.Replace(base, "{addr: 10.0.1.2, method: nat}", "{addr: 10.0.1.2, method: tun, tunnel: gue, tunnel_port: 5555}", 1),
			Changes{DestsEdited: 1}, "  -> 10.0.1.2:80 Tunnel w=1 x=0 y=0 gue port=5555 flags=0"},
		{"nat port change is a new real server", strings.Replace(base, "{addr: 10.0.1.2, method: nat}", "{addr: 10.0.1.2, method: nat, port: 81}", 1),
			Changes{DestsAdded: 1, DestsRemoved: 1}, "  -> 10.0.1.2:81 Masq w=1 x=0 y=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := mustParse(t, base).Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			d1 := destOf(t, set, tcp, "10.0.1.1")
			ch, err := mustParse(t, tc.edit).Apply(set, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ch != tc.want {
				t.Errorf("changes %+v, want %+v", ch, tc.want)
			}
			if d := dump(set.Snapshot()); !strings.Contains(d, tc.dump+"\n") {
				t.Errorf("no line %q in\n%s", tc.dump, d)
			}
			if destOf(t, set, tcp, "10.0.1.1") != d1 {
				t.Error("10.0.1.1 was replaced")
			}
		})
	}
}

// TestApplyFailureChangesNothing: a Config the Set refuses leaves the live
// set exactly as it was.
func TestApplyFailureChangesNothing(t *testing.T) {
	c := mustParse(t, base)
	set, err := c.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	before := set.Snapshot()
	beforeDump := dump(before)

	bad := mustParse(t, next) // valid edits first, an invalid service last
	bad.Services = append(bad.Services, Service{
		Config: service.ServiceConfig{Key: service.Key{Proto: packet.ProtoTCP, Addr: a("10.0.0.9"), Port: 80}},
		Dests:  []service.DestParams{{Addr: a("2001:db8::1"), Port: 80, Weight: 1, Method: service.Masq}},
		Line:   40, Col: 5, DestPos: []Pos{{42, 9}},
	})
	ch, err := bad.Apply(set, 0)
	want := "t.yaml:42:9: services[3].real_servers[0]: destination 2001:db8::1: address family differs from the service's (only tunnel allows it): " + service.ErrInvalid.Error()
	if err == nil || err.Error() != want {
		t.Fatalf("err:\n%v\nwant:\n%s", err, want)
	}
	if !ch.Empty() {
		t.Errorf("changes %v reported for a refused Apply", ch)
	}
	if set.Snapshot() != before || dump(set.Snapshot()) != beforeDump {
		t.Errorf("the Set changed:\n%s\nwas:\n%s", dump(set.Snapshot()), beforeDump)
	}
}

func TestRestartFields(t *testing.T) {
	c1 := mustParse(t, "interfaces: [a, b]\ntable: {bits: 10}\n"+base)
	c2 := mustParse(t, "interfaces: [a, c]\ntable: {bits: 10}\ntimeouts: {tcp: 5}\ncontrol: {socket: /x}\n"+next)
	if got := strings.Join(c2.RestartFields(c1), " "); got != "interfaces control.socket" {
		t.Errorf("RestartFields = %q", got)
	}
	if got := c1.RestartFields(c1); len(got) != 0 {
		t.Errorf("RestartFields(self) = %v", got)
	}
}

func TestTimeoutsApplyTo(t *testing.T) {
	c := mustParse(t, "timeouts: {tcp: 100, udp: 2m}\n")
	st := stateDefaults()
	if err := c.Timeouts.ApplyTo(&st); err != nil {
		t.Fatal(err)
	}
	if tcp, fin, udp := st.Triple(); tcp != 100 || fin != 120 || udp != 120 {
		t.Errorf("Triple = %d %d %d, want 100 120 120", tcp, fin, udp)
	}
}

// The smallest budget Parse accepts is one the connection table accepts.
func TestMinBudgetAcceptedByConntrack(t *testing.T) {
	for _, bits := range []int{8, 12, 16, 20} {
		if _, err := conntrack.New(conntrack.Config{Bits: bits, BudgetBytes: minBudget(bits)}); err != nil {
			t.Errorf("bits %d budget %d: %v", bits, minBudget(bits), err)
		}
	}
}

func stateDefaults() state.Timeouts { return state.DefaultTimeouts() }
