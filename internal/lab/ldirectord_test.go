package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/netns"
)

// ldCheckInterval is ldirectord's checkinterval in the test (seconds).
const ldCheckInterval = 2

// TestLdirectord runs the Debian ldirectord, unchanged, against vsd: it
// finds vsadm as ./ipvsadm (its -d rule), creates a NAT service with two
// real servers in their own namespaces, and HTTP-checks them. Stopping one
// server's HTTP server must quiesce it (weight 0 in `vsadm -L -n`) within
// two check intervals, restarting it must restore its weight as fast, and
// stopping ldirectord must remove what it made (cleanstop).
func TestLdirectord(t *testing.T) {
	needRoot(t, "ldirectord", "perl")
	vsd, vsadm := vsdBinary(t), vsadmBinary(t)
	l, err := netns.New("vtldird")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	d, err := l.NS("d")
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]*netns.NS, 2)
	for i := range rs {
		if rs[i], err = l.NS(fmt.Sprintf("r%d", i+1)); err != nil {
			t.Fatal(err)
		}
		dev := fmt.Sprintf("d%d", i+1)
		if err := l.Veth(d, dev, rs[i], "eth0"); err != nil {
			t.Fatal(err)
		}
		if err := d.IP("addr", "add", fmt.Sprintf("10.77.%d.1/24", i+1), "dev", dev); err != nil {
			t.Fatal(err)
		}
		if err := rs[i].IP("addr", "add", fmt.Sprintf("10.77.%d.2/24", i+1), "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
	}
	startServer := func(i int) *netns.Proc {
		t.Helper()
		p, err := rs[i].Start("httpd", vsd, "lab-server", "--name", fmt.Sprintf("r%d", i+1), "--listen", fmt.Sprintf("10.77.%d.2:80", i+1))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	servers := []*netns.Proc{startServer(0), startServer(1)}

	// vsd as a control plane: no interfaces, no services key (the table
	// belongs to whoever drives vsadm).
	dir := filepath.Join(l.Dir(), "ld")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(l.Dir(), "vsd.sock")
	cfgPath := filepath.Join(l.Dir(), "vsd.yaml")
	if err := os.WriteFile(cfgPath, []byte("control:\n  socket: "+sock+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon, err := d.Start("vsd", vsd, "run", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"VSD_SOCKET=" + sock}
	list := func() string {
		out, err := exec.Command(vsadm, "-L", "-n").CombinedOutput()
		if err != nil {
			t.Fatalf("vsadm -L -n: %v\n%s\nvsd log:\n%s", err, out, daemon.Log())
		}
		return string(out)
	}
	t.Setenv("VSD_SOCKET", sock)
	waitUntil(t, 10*time.Second, "vsd's control socket", func() bool { _, err := os.Stat(sock); return err == nil })

	if err := os.Link(vsadm, filepath.Join(dir, "ipvsadm")); err != nil {
		if err := copyFile(vsadm, filepath.Join(dir, "ipvsadm")); err != nil {
			t.Fatal(err)
		}
	}
	cf := filepath.Join(dir, "ld.cf")
	conf := fmt.Sprintf(`checktimeout=1
checkinterval=%d
quiescent=yes
logfile="%s/ld.log"
virtual=10.77.0.80:80
	real=10.77.1.2:80 masq 1
	real=10.77.2.2:80 masq 2
	service=http
	request="/"
	receive="r[12] "
	scheduler=wrr
	protocol=tcp
	checktype=negotiate
`, ldCheckInterval, dir)
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ld, err := d.StartWith(netns.StartOptions{Dir: dir, Env: env}, "ldirectord", "ldirectord", "-d", cf, "start")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ldirectord log:\n%s", tail(ld.Log(), 60))
		}
	})

	weights := func() map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(list(), "\n") {
			if f := strings.Fields(line); len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
				m[f[1]] = f[2] + " " + f[3]
			}
		}
		return m
	}
	want := func(what string, within time.Duration, w1, w2 string) time.Duration {
		t.Helper()
		start := time.Now()
		waitUntil(t, within, what, func() bool {
			m := weights()
			return m["10.77.1.2:80"] == "Masq "+w1 && m["10.77.2.2:80"] == "Masq "+w2 && len(m) == 2
		})
		return time.Since(start)
	}
	// Start-up: ldirectord adds the service, adds and quiesces each
	// server, and the first check round brings them up.
	want("both servers up after start", 20*time.Second, "1", "2")
	first := list()
	if !regexp.MustCompile(`(?m)^TCP  10\.77\.0\.80:80 wrr$`).MatchString(first) {
		t.Errorf("service line missing:\n%s", first)
	}

	two := 2 * ldCheckInterval * time.Second
	if err := servers[0].Stop(syscall.SIGTERM, 2*time.Second); err != nil {
		t.Logf("stopping r1's server: %v", err)
	}
	took := want("r1 quiesced", two+time.Second, "0", "2")
	t.Logf("r1 quiesced %v after its HTTP server stopped (check interval %d s)", took.Round(10*time.Millisecond), ldCheckInterval)
	if took > two {
		t.Errorf("quiescing took %v, more than two check intervals (%v)", took, two)
	}
	servers[0] = startServer(0)
	took = want("r1 back", two+time.Second, "1", "2")
	t.Logf("r1 back %v after its HTTP server restarted", took.Round(10*time.Millisecond))
	if took > two {
		t.Errorf("bringing r1 back took %v, more than two check intervals (%v)", took, two)
	}

	// Every ipvsadm command ldirectord ran succeeded.
	if err := ld.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Logf("ldirectord exit: %v", err)
	}
	log := ld.Log()
	if n := strings.Count(log, "Running system(./ipvsadm"); n < 5 {
		t.Errorf("ldirectord ran ./ipvsadm %d times; want it to drive vsadm:\n%s", n, tail(log, 40))
	}
	if strings.Contains(log, "failed") {
		t.Errorf("an ipvsadm command failed:\n%s", grepLines(log, "failed"))
	}
	// cleanstop: servers and service removed.
	if got := list(); strings.Contains(got, "10.77.0.80") {
		t.Errorf("ldirectord's cleanstop left the service:\n%s", got)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, within)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
