package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/sim"
)

// TestSimEveryScheduler runs the simulated LVS (NAT, DR and TUN services,
// IPv4 and IPv6, HTTP/1.0, keep-alive and telnet sessions) through the real
// director with every scheduler: every session completes, no connection
// ever changes real server, and real servers see the clients' own
// addresses.
func TestSimEveryScheduler(t *testing.T) {
	for _, name := range sched.Names() {
		if name == "none" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			o := SimOptions{Clients: 600, Duration: time.Minute, Scheduler: name, Seed: 3}
			if name == "ovf" {
				// ovf refuses a server once its active connections exceed
				// its weight; weight 1 would (correctly) refuse clients.
				o.Weight = 100
			}
			res, err := RunSim(o)
			if err != nil {
				t.Fatal(err)
			}
			if p := res.Problems(); len(p) > 0 {
				t.Fatalf("problems: %v", p)
			}
			r := res.Report
			if r.SessionsCompleted != 600 || r.Failed != 0 {
				t.Fatalf("%d/%d sessions completed, %d connections failed", r.SessionsCompleted, r.Sessions, r.Failed)
			}
			for _, s := range r.Servers {
				// Hash schedulers (sh, dh, mh, lblc, lblcr) may legitimately
				// leave a server idle with few clients; the others spread.
				if s.Connections == 0 && !strings.Contains("sh dh mh lblc lblcr fo ovf", name) {
					t.Errorf("server %s got no connections under %s", s.Name, name)
				}
			}
			ftp := 0
			for _, k := range r.ByKind {
				if k.Kind == sim.FTP {
					ftp = k.Completed
				}
			}
			if ftp == 0 || r.PersistenceBreaks != 0 {
				t.Fatalf("FTP through the persistent port-0 service: %d completed, %d persistence breaks", ftp, r.PersistenceBreaks)
			}
			if res.Counters.Drop != 0 {
				t.Fatalf("director dropped %d frames: %+v", res.Counters.Drop, res.Counters.Drops)
			}
		})
	}
}

// TestSimBadOptions: bad input is refused with a message naming it.
func TestSimBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    SimOptions
		want string
	}{
		{SimOptions{Scheduler: "fastest"}, `scheduler "fastest"`},
		{SimOptions{Methods: []string{"fullnat"}}, `method "fullnat"`},
		{SimOptions{Servers: 1000}, "servers 1000"},
		{SimOptions{Clients: -1}, "clients -1"},
	} {
		_, err := RunSim(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to name %s", tc.o, err, tc.want)
		}
	}
}

// TestSimOutput: the printed report carries the ipvsadm table and the
// summary line.
func TestSimOutput(t *testing.T) {
	res, err := RunSim(SimOptions{Clients: 200, Duration: 30 * time.Second, Methods: []string{"nat"}, Scheduler: "rr"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Write(&b)
	out := b.String()
	for _, want := range []string{
		"IP Virtual Server version 1.2.1 (size=4096)",
		"TCP  10.0.0.80:80 rr",
		"  -> 10.0.1.1:80                  Masq    1      ",
		"connections that switched real server: 0",
		"summary: 200/200 sessions completed, 0 switches, 0 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
