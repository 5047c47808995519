package lab

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/sim"
)

// TestConfigChurnKeepsConnections edits the configuration every few
// virtual seconds while traffic flows — weights up and down (including 0),
// a server added and another quiesced, the scheduler switched between rr,
// wlc and mh — and checks that no connection ever changes real server and
// every session completes.
func TestConfigChurnKeepsConnections(t *testing.T) {
	n := sim.New(sim.Config{Seed: 11})
	dmac := [6]byte{0x02, 0x76, 0x73, 0x64, 0, 1}
	d4 := netip.MustParseAddr("10.0.0.1")
	vip := netip.MustParseAddr("10.0.0.80")
	eng, err := director.New(director.Config{Ports: []director.Port{{MAC: dmac, Addr4: d4}}, Neighbors: n.Neighbors()})
	if err != nil {
		t.Fatal(err)
	}
	servers, err := n.AddServers(4, sim.ServerConfig{Name: "rs", Mode: sim.NAT}, netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64"))
	if err != nil {
		t.Fatal(err)
	}
	set := service.NewSet(sched.New)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip, Port: 80}
	if err := set.AddService(service.ServiceConfig{Key: k, Sched: "rr"}); err != nil {
		t.Fatal(err)
	}
	addr := func(i int) netip.Addr { return pickFamily(servers[i].Addrs(), false) }
	for i := 0; i < 3; i++ {
		if err := set.AddDest(k, service.DestParams{Addr: addr(i), Port: 80, Weight: 1, Method: service.Masq}); err != nil {
			t.Fatal(err)
		}
	}
	eng.Publish(set.Snapshot())
	if err := attachDirector(n, eng, dmac, []netip.Addr{d4}, []netip.Addr{vip}); err != nil {
		t.Fatal(err)
	}
	sc := sim.Scenario{Clients: 2000, Duration: 2 * time.Minute, Seed: 11, Traffic: []sim.Traffic{
		{Kind: sim.HTTP10, Service: netip.AddrPortFrom(vip, 80), Weight: 3},
		{Kind: sim.HTTP11, Service: netip.AddrPortFrom(vip, 80), Weight: 1},
		{Kind: sim.Telnet, Service: netip.AddrPortFrom(vip, 80), Weight: 1},
	}, Params: sim.SessionParams{LineThink: 5 * time.Second}}
	if err := n.StartScenario(sc); err != nil {
		t.Fatal(err)
	}
	step := 0
	scheds := []string{"rr", "wlc", "mh"}
	edits := 0
	for !n.ScenarioDone() && step < 200 {
		n.RunFor(3 * time.Second)
		step++
		switch step % 4 {
		case 0:
			// mh keeps a quiesced server's slots; with mh-fallback its
			// clients go to the next slot instead of being refused.
			err = set.EditService(service.ServiceConfig{Key: k, Sched: scheds[step%3], Flags: service.FlagSched1})
		case 1:
			err = set.EditDest(k, service.DestParams{Addr: addr(step % 3), Port: 80, Weight: int32(step % 5), Method: service.Masq})
		case 2:
			if step%8 == 2 {
				err = set.AddDest(k, service.DestParams{Addr: addr(3), Port: 80, Weight: 2, Method: service.Masq})
			} else {
				err = set.EditDest(k, service.DestParams{Addr: addr(3), Port: 80, Weight: 0, Method: service.Masq})
			}
		case 3:
			err = set.EditDest(k, service.DestParams{Addr: addr(step % 3), Port: 80, Weight: 1, Method: service.Masq})
		}
		if err != nil {
			// Adding the 4th server twice is refused: that is the point
			// of checking errors, not a failure of the test.
			if step%4 != 2 {
				t.Fatalf("step %d: %v", step, err)
			}
		} else {
			edits++
		}
		eng.Publish(set.Snapshot())
	}
	r := n.Report()
	if r.Switches != 0 || r.SessionsFailed != 0 || r.SessionsCompleted != 2000 {
		t.Fatalf("after %d configuration changes: %d switches, %d/%d sessions completed, %d failed; problems %v reasons %v counters %+v",
			edits, r.Switches, r.SessionsCompleted, r.Sessions, r.SessionsFailed, r.Problems(), r.FailReasons, eng.Counters())
	}
	if edits < 20 {
		t.Fatalf("only %d edits happened during the run", edits)
	}
}
