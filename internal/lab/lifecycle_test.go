package lab

import (
	"bufio"
	"context"
	"fmt"
	"github.com/vsd/vsd/api"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// keepAliveConn is one HTTP/1.1 connection from the lab client, opened
// inside the client namespace, that can send several requests.
type keepAliveConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, topo *Topo, url string) *keepAliveConn {
	t.Helper()
	hostport := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	var c net.Conn
	err := topo.Client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", hostport, 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s from the client: %v", hostport, err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAliveConn{c: c, r: bufio.NewReader(c)}
}

// get sends one request on the connection and returns the answering
// server's name.
func (k *keepAliveConn) get(t *testing.T) string {
	t.Helper()
	k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		t.Fatalf("request: %v", err)
	}
	length := -1
	for {
		line, err := k.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length <= 0 || length > 4096 {
		t.Fatalf("answer without a sane Content-Length (%d)", length)
	}
	body := make([]byte, length)
	if _, err := ioReadFull(k.r, body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return strings.Fields(string(body))[0]
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestReloadKeepsConnections: SIGHUP with a changed file adds a service and
// edits real servers; an open connection keeps its real server across
// the reload; a broken file is refused and changes nothing.
func TestReloadKeepsConnections(t *testing.T) {
	needRoot(t, "nginx", "ethtool")
	topo := buildTopo(t, TopoOptions{Server: "go", Methods: []Method{NAT, DR}})
	conn := dialKeepAlive(t, topo, topo.URL(NAT, false))
	first := conn.get(t)

	before, err := topo.Listing()
	if err != nil {
		t.Fatal(err)
	}
	// Quiesce every other real server of the NAT service and add a
	// service on port 8080: new connections must avoid the quiesced
	// servers, the open one must stay where it is.
	cfg := topo.Config()
	edited := strings.Replace(cfg, "services:\n", "services:\n  - proto: tcp\n    vip: "+VIP(NAT, false).String()+"\n    port: 8080\n    real_servers:\n      - addr: 172.16.0.11\n        port: 80\n        method: nat\n", 1)
	edited = quiesceAllBut(edited, first)
	if err := os.WriteFile(topo.ConfigPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(topo.VSD.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		l, _ := topo.Listing()
		return strings.Contains(l, VIP(NAT, false).String()+":8080")
	})
	for i := range 5 {
		if got := conn.get(t); got != first {
			t.Fatalf("request %d on the open connection answered by %s after the reload, before by %s", i, got, first)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := topo.Fetch(ctx, topo.URL(NAT, false), 12, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.ByServer[first] != 12 {
		t.Errorf("after quiescing all but %s, new connections went to %v (%d errors)", first, r.ByServer, r.Errors)
	}
	r, err = topo.Fetch(ctx, "http://"+VIP(NAT, false).String()+":8080/", 3, 1, false)
	if err != nil || r.OK != 3 {
		t.Errorf("the service added by the reload: %+v, %v", r, err)
	}

	// A broken file: refused, the table stays as it is.
	good, _ := topo.Listing()
	if err := os.WriteFile(topo.ConfigPath, []byte(edited+"  - proto: tcp\n    vip: 10.0.0.99\n    port: http\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := topo.Reload()
	if err == nil {
		t.Fatalf("reload of a file with port: http was accepted: %s", msg)
	}
	if !strings.Contains(err.Error(), "port") {
		t.Errorf("reload error does not name the bad field: %v", err)
	}
	after, _ := topo.Listing()
	if stripCounters(after) != stripCounters(good) {
		t.Errorf("a refused reload changed the table:\nbefore:\n%s\nafter:\n%s", good, after)
	}
	if got := conn.get(t); got != first {
		t.Errorf("after the refused reload the open connection moved to %s", got)
	}
	_ = before
}

// quiesceAllBut sets weight 0 on every NAT IPv4 real server except the one
// named keep (rsN ↔ 172.16.0.1N).
func quiesceAllBut(cfg, keep string) string {
	n, _ := strconv.Atoi(strings.TrimPrefix(keep, "rs"))
	keepAddr := host(back4, hostServer1+n-1).String()
	var out []string
	lines := strings.Split(cfg, "\n")
	inNAT4 := false
	for i, l := range lines {
		if strings.HasPrefix(l, "  - proto:") {
			inNAT4 = i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "vip: "+VIP(NAT, false).String() &&
				i+2 < len(lines) && strings.TrimSpace(lines[i+2]) == "port: 80"
		}
		out = append(out, l)
		if inNAT4 && strings.HasPrefix(strings.TrimSpace(l), "- addr: ") && !strings.HasSuffix(l, " "+keepAddr) {
			out = append(out, "        weight: 0")
		}
	}
	return strings.Join(out, "\n")
}

var counterCols = regexp.MustCompile(`\s+\d+\s+\d+\s*$`)

// stripCounters drops the ActiveConn/InActConn columns, which move while
// connections time out.
func stripCounters(listing string) string {
	var out []string
	for _, l := range strings.Split(listing, "\n") {
		if strings.HasPrefix(l, "  ->") {
			l = counterCols.ReplaceAllString(l, "")
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// xdpProgOn returns the id of the XDP program attached to dev in ns (0 for none).
func xdpProgOn(t *testing.T, topo *Topo, dev string) uint32 {
	t.Helper()
	h, err := vnetns.GetFromName(topo.Director.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	l, err := nl.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}

// TestShutdownAndRestart: SIGTERM detaches every XDP program; after a
// SIGKILL a new vsd takes over, also when a foreign program that drops
// everything was left attached in the meantime (a stale program must be
// replaced, not blackhole the service).
func TestShutdownAndRestart(t *testing.T) {
	needRoot(t, "nginx", "ethtool")
	topo := buildTopo(t, TopoOptions{Server: "go", Datapath: "afxdp", Methods: []Method{NAT}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fetchOK := func(stage string) {
		t.Helper()
		r, err := topo.Fetch(ctx, topo.URL(NAT, false), 9, 3, false)
		if err != nil || r.OK != 9 {
			t.Fatalf("%s: %+v, %v", stage, r, err)
		}
	}
	fetchOK("first start")
	if xdpProgOn(t, topo, "front") == 0 {
		t.Fatal("no XDP program on the director's front port while vsd runs")
	}
	if err := topo.StopVSD(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	for _, dev := range []string{"front", "back"} {
		if id := xdpProgOn(t, topo, dev); id != 0 {
			t.Errorf("after SIGTERM XDP program %d is still attached to %s", id, dev)
		}
	}

	if err := topo.StartVSD(ctx); err != nil {
		t.Fatal(err)
	}
	fetchOK("after a clean restart")
	if err := topo.StopVSD(syscall.SIGKILL); err != nil {
		t.Logf("SIGKILL: %v", err)
	}
	// A stale program: one that drops every frame, attached the old way
	// (netlink), as a crashed director of another kind might leave it.
	attachDropAll(t, topo, "front")
	if xdpProgOn(t, topo, "front") == 0 {
		t.Fatal("could not attach the stale program")
	}
	if err := topo.StartVSD(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(topo.VSD.Log(), "stale") && !strings.Contains(topo.VSD.Log(), "replac") {
		t.Errorf("vsd did not say it replaced the stale XDP program:\n%s", topo.VSD.Log())
	}
	fetchOK("after SIGKILL and a stale drop-all program")
}

// attachDropAll attaches an XDP program returning XDP_DROP to dev in the
// director namespace through netlink (it stays after this fd is closed).
func attachDropAll(t *testing.T, topo *Topo, dev string) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "stale_drop", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1 /* XDP_DROP */), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	err = topo.Director.Do(func() error {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, prog.FD(), 1<<2 /* XDP_FLAGS_DRV_MODE */)
	})
	if err != nil {
		t.Fatalf("attaching the stale program: %v", err)
	}
}

var wrkErrors = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
var wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
var wrkTotal = regexp.MustCompile(`(\d+) requests in`)

// TestWrkThroughDirector: wrk for 10 s through the NAT and DR services,
// keep-alive and Connection: close: zero failed requests.
func TestWrkThroughDirector(t *testing.T) {
	needRoot(t, "nginx", "wrk", "ethtool")
	topo := buildTopo(t, TopoOptions{Server: "nginx", Methods: []Method{NAT, DR}})
	for _, s := range []struct{ key, val string }{
		{"net.ipv4.ip_local_port_range", "1024 65535"},
		{"net.ipv4.tcp_tw_reuse", "1"},
	} {
		if err := topo.Client.Sysctl(s.key, s.val); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []Method{NAT, DR} {
		for _, close := range []bool{false, true} {
			name := string(m) + "/keepalive"
			args := []string{"wrk", "-t1", "-c32", "-d10s", "--timeout", "5s"}
			if close {
				name = string(m) + "/close"
				args = append(args, "-H", "Connection: close")
			}
			args = append(args, topo.URL(m, false))
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				defer cancel()
				key := api.ServiceKey{Protocol: api.TCP, Addr: VIP(m, false), Port: topo.o.Port}
				s0, err := topo.serviceStats(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				began := time.Now()
				out, err := topo.Client.Run(ctx, args...)
				if err != nil {
					t.Fatalf("wrk: %v", err)
				}
				// vsd's rate estimator (2 s samples, EWMA ¼) must follow
				// the load: after 10 s at a steady rate λ it has come at
				// least ~70 % of the way (0.4 allows for wrk's ramp and sampling phase), and it cannot exceed λ by much.
				tab, err := api.NewClient(topo.Socket).Table(ctx)
				if err != nil {
					t.Fatal(err)
				}
				svc := tab.Find(key)
				lambda := float64(svc.Stats.InPkts-s0.InPkts) / time.Since(began).Seconds()
				t.Logf("vsd: %.0f packets/s in over the run; --rate InPPS %d, CPS %d, InBPS %d", lambda, svc.Rates.InPPS, svc.Rates.CPS, svc.Rates.InBPS)
				if r := float64(svc.Rates.InPPS); r < 0.4*lambda || r > 1.3*lambda {
					t.Errorf("--rate InPPS %d for %.0f packets/s measured", svc.Rates.InPPS, lambda)
				}
				t.Logf("%s", out)
				s := string(out)
				if m := wrkTotal.FindStringSubmatch(s); m == nil || m[1] == "0" {
					t.Fatalf("wrk did no requests")
				}
				if m := wrkErrors.FindStringSubmatch(s); m != nil {
					t.Errorf("wrk socket errors: %s", m[0])
				}
				if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
					t.Errorf("wrk: %s", m[0])
				}
			})
		}
	}
}

// TestAutoFallsBackToAFPacket: with datapath auto and an interface whose
// XDP hook another live program holds (through a bpf_link vsd must not
// break), vsd says why it cannot use AF_XDP, runs on AF_PACKET instead, and
// the services work.
func TestAutoFallsBackToAFPacket(t *testing.T) {
	needRoot(t, "nginx", "ethtool")
	topo := buildTopo(t, TopoOptions{Server: "go", Datapath: "afxdp", Methods: []Method{NAT, DR}})
	if err := topo.StopVSD(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "foreign_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	var lk link.Link
	err = topo.Director.Do(func() error {
		ifi, err := net.InterfaceByName("back")
		if err != nil {
			return err
		}
		lk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		return err
	})
	if err != nil {
		t.Fatalf("attaching the foreign program: %v", err)
	}
	defer lk.Close()
	cfg := strings.Replace(topo.Config(), "datapath: afxdp", "datapath: auto", 1)
	if err := os.WriteFile(topo.ConfigPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := topo.StartVSD(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Datapath, "AF_PACKET") {
		t.Fatalf("datapath %q, want the AF_PACKET fallback", st.Datapath)
	}
	if log := topo.VSD.Log(); !strings.Contains(log, "falling back to AF_PACKET") || !strings.Contains(log, "back") {
		t.Errorf("the log does not say why it fell back:\n%s", log)
	}
	for _, m := range []Method{NAT, DR} {
		sr := topo.RunService(ctx, m, false, 30, 3)
		if sr.Err != nil {
			t.Fatal(sr.Err)
		}
		for _, p := range sr.Problems {
			t.Errorf("%s: %s", m, p)
		}
	}
	// The foreign program is still there: vsd did not take it away; and
	// the steering program it had attached to front before it hit back
	// was taken off again.
	if xdpProgOn(t, topo, "back") == 0 {
		t.Error("the foreign XDP program is gone")
	}
	if id := xdpProgOn(t, topo, "front"); id != 0 {
		t.Errorf("XDP program %d left on front after the fallback", id)
	}
}
