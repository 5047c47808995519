package benchlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/netns"
	"github.com/vsd/vsd/internal/roottest"
)

// TestMain lets the test binary be the generator: the smoke test starts
// `TESTBINARY gen ...` in the client namespace, as the benchmark starts
// `vsbench gen ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		c, err := ParseGenArgs(os.Args[2:])
		if err == nil {
			var r GenResult
			if r, err = Generate(context.Background(), c); err == nil {
				fmt.Println(MarshalGenResult(r))
				os.Exit(0)
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// needRoot skips without the privileges and tools the testbed needs, and
// fails instead when CI=true.
func needRoot(t *testing.T, o Options) {
	t.Helper()
	if err := Preflight(o); err != nil {
		if errors.Is(err, netns.ErrUnavailable) {
			roottest.Unavailable(t, "needs root and the lab's tools: "+err.Error())
		}
		t.Fatal(err)
	}
}

// TestSmokePlainRouting builds candidate (a)'s testbed (plain routing) with
// tiny durations, checks that UDP packets and HTTP requests got through,
// and that nothing of the testbed is left.
func TestSmokePlainRouting(t *testing.T) {
	o := Options{Runs: 1, UDPDuration: 300 * time.Millisecond, HTTPDuration: time.Second, Rate: 20000, Connections: 8,
		Candidates: []Candidate{None}, Prefix: fmt.Sprintf("vsbt%d", os.Getpid())}
	needRoot(t, o)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o.Exe = exe
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { netns.Sweep(o.Prefix) }) // only if Close itself failed
	m := measureCandidate(ctx, None, &o)
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	if len(m.SatDelivered) != 1 || !(m.SatDelivered[0] > 1000) {
		t.Errorf("saturation delivered %v packets/s; want > 1000", m.SatDelivered)
	}
	if len(m.SatGen) != 1 || m.SatGen[0] < m.SatDelivered[0]*0.9 {
		t.Errorf("generator %v packets/s for %v delivered", m.SatGen, m.SatDelivered)
	}
	// At 20 kpps the generator keeps the pace and nothing is lost; allow a
	// little for the edges. (The CPU figure may be 0 here: /proc/stat counts
	// 10 ms ticks and 6000 routed packets take less.)
	if len(m.FixDelivered) != 1 || m.FixDelivered[0] < 15000 || m.FixDelivered[0] > 25000 {
		t.Errorf("fixed rate: delivered %v packets/s; want about 20000", m.FixDelivered)
	}
	if len(m.FixCPU) != 1 || !(m.FixCPU[0] >= 0) {
		t.Errorf("fixed rate: director CPU %v µs/packet; want a figure", m.FixCPU)
	}
	if len(m.KAReqs) != 1 || !(m.KAReqs[0] > 100) || m.KAFailed[0] != 0 {
		t.Errorf("keep-alive: %v req/s, %v failed; want > 100 and 0", m.KAReqs, m.KAFailed)
	}
	if len(m.CloseReqs) != 1 || !(m.CloseReqs[0] > 50) || m.CloseFailed[0] != 0 {
		t.Errorf("close: %v conn/s, %v failed; want > 50 and 0", m.CloseReqs, m.CloseFailed)
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), o.Prefix+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(os.TempDir() + "/" + o.Prefix + ".d"); err == nil {
		t.Errorf("lab directory left behind")
	}
}
