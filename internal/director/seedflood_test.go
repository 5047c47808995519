package director

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// floodRun is one testlvs-style run in virtual time: packets SYNs at
// 10,000/s from srcnum source addresses (10.0.0.1 upwards, one source port
// each, so a source's later SYNs hit its entry), then the table is
// watched. It returns the service's connection entries (ActiveConn +
// InActConn) right after the flood, then 5 s, 15 s, ... 75 s after it
// (between the timeouts, so a sample does not fall on an expiry instant
// the reaper has not reached yet).
func floodRun(t *testing.T, srcnum, packets int, tune func(*Tunables), timeouts func(*state.Timeouts)) []int {
	te := newTestEngine(t, 12)
	k := service.Key{Proto: packet.ProtoTCP, Addr: vip4, Port: 80}
	te.addService(service.ServiceConfig{Key: k, Sched: "rr"})
	for i := 1; i <= 2; i++ {
		te.addDest(k, i, service.DestParams{Addr: families[0].rip(i), Port: 8080, Weight: 1, Method: service.Masq})
	}
	te.tune(tune)
	if timeouts != nil {
		to := te.e.Timeouts()
		timeouts(&to)
		te.e.SetTimeouts(to)
	}
	entries := func() int {
		n := 0
		for _, d := range te.e.Snapshot().Find(k).Dests {
			n += int(d.Active.Load() + d.Inactive.Load())
		}
		return n
	}
	frames := make([][]byte, srcnum)
	for i := range srcnum {
		src := netip.AddrFrom4([4]byte{10, byte((i + 1) >> 16), byte((i + 1) >> 8), byte(i + 1)})
		frames[i] = tcpFrame(clientMAC, dirMAC, ap(src, 1024), ap(vip4, 80), packet.TCPSyn, "")
	}
	const batch, rate = 32, 10000
	step := time.Second * batch / rate
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+128)
	}
	fr := make([]link.Frame, batch)
	lastMaint := te.now
	for sent := 0; sent < packets; {
		n := min(batch, packets-sent)
		for i := range n {
			f := frames[(sent+i)%srcnum]
			copy(bufs[i][link.Headroom:], f)
			fr[i] = link.Frame{Buf: bufs[i], Off: link.Headroom, Len: len(f)}
		}
		te.w.Process(fr[:n], te.now)
		sent += n
		te.now = te.now.Add(step)
		if te.now.Sub(lastMaint) >= 100*time.Millisecond {
			te.e.Maintain(te.now, te.now.Sub(lastMaint))
			lastMaint = te.now
		}
	}
	out := []int{entries()}
	for i := range 8 {
		ticks := 100
		if i == 0 {
			ticks = 50
		}
		for range ticks {
			te.now = te.now.Add(100 * time.Millisecond)
			te.e.Maintain(te.now, 100*time.Millisecond)
		}
		out = append(out, entries())
	}
	return out
}

// TestSeedFloodExperiments reproduces, in virtual time, the LVS HOWTO's
// testlvs experiments (the seed text's tables): the connection entries a
// SYN flood from 1000 addresses leaves, for the control case, drop_entry=3,
// drop_packet=3, and secure_tcp=3 with a 10 s SYN_RECV timeout, and how
// they go away. The shapes asserted are the HOWTO's: the control and
// drop_packet entries stay for the whole SYN_RECV timeout (60 s) and then
// vanish together, drop_packet leaving about a tenth fewer; drop_entry
// drains them steadily during the timeout; secure_tcp clears them after
// 10 s. Run with -v for the tables (docs/DEFENSES.md).
func TestSeedFloodExperiments(t *testing.T) {
	const srcnum = 1000
	runs := []struct {
		name     string
		tune     func(*Tunables)
		timeouts func(*state.Timeouts)
	}{
		{"control", func(*Tunables) {}, nil},
		{"drop_entry=3", func(tu *Tunables) { tu.Defense.DropEntry = 3 }, nil},
		{"drop_packet=3", func(tu *Tunables) { tu.Defense.DropPacket = 3 }, nil},
		{"secure_tcp=3, syn_recv 10 s", func(tu *Tunables) { tu.Defense.SecureTCP = 3 },
			func(to *state.Timeouts) {
				if err := to.Set("tcp", "SYN_RECV", 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-28s %7s  entries: after the flood, then +5 s, +15 s ... +75 s\n", "strategy", "packets")
	results := map[string]map[int][]int{}
	for _, r := range runs {
		for _, packets := range []int{1000, 2000, 4000, 8000, 16000} {
			got := floodRun(t, srcnum, packets, r.tune, r.timeouts)
			fmt.Fprintf(&table, "%-28s %7d  %v\n", r.name, packets, got)
			if results[r.name] == nil {
				results[r.name] = map[int][]int{}
			}
			results[r.name][packets] = got
		}
	}
	t.Logf("testlvs -srcnum %d at 10,000 packets/s, virtual time:\n%s", srcnum, table.String())

	// Index 6 is +55 s (before the 60 s SYN_RECV timeout), 7 is +65 s.
	for _, p := range []int{1000, 16000} {
		if ctl := results["control"][p]; ctl[0] != srcnum || ctl[6] != srcnum || ctl[7] != 0 {
			t.Errorf("control, %d packets: %v; want %d entries until the 60 s SYN_RECV timeout, then none", p, ctl, srcnum)
		}
	}
	// drop_packet drops 1 of 10 new-connection SYNs: with one round of
	// sources a tenth is missing; once every source has sent again, its
	// next SYN makes the entry and the table looks like the control's
	// (the HOWTO: "hard to see the drop_packet defense working here").
	if dp := results["drop_packet=3"][1000]; dp[0] != srcnum*9/10 || dp[7] != 0 {
		t.Errorf("drop_packet=3, 1000 packets: %v; want 9/10 of %d entries, gone after the timeout", dp, srcnum)
	}
	if dp := results["drop_packet=3"][16000]; dp[0] < srcnum*98/100 {
		t.Errorf("drop_packet=3, 16000 packets: %v; sources resending should fill the table", dp)
	}
	de := results["drop_entry=3"][16000]
	for i := 1; i <= 6; i++ {
		if de[i] >= de[i-1] {
			t.Errorf("drop_entry=3: %v; entries must fall between samples during the timeout", de)
			break
		}
	}
	if de[6] > srcnum/2 || de[6] == 0 {
		t.Errorf("drop_entry=3: %v; by +55 s a steady drain should have removed more than half, not all", de)
	}
	for _, p := range []int{1000, 16000} {
		if st := results["secure_tcp=3, syn_recv 10 s"][p]; st[0] != srcnum || st[1] != srcnum || st[2] != 0 {
			t.Errorf("secure_tcp=3, %d packets: %v; want %d entries at +5 s, none at +15 s", p, st, srcnum)
		}
	}
}
