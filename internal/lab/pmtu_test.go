package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
)

// The issue 6 path MTU lab: the client sits behind a router whose route to
// it has MTU pmtuClientMTU (the client's own interface stays at 1500).
const (
	pmtuClientMTU = 1280
	bulkPort      = 8080
	// icmpForwardOff is the tunable that switches ICMP error forwarding
	// off (the icmp branch's name; vsadm --sysctl no_icmp_forward=1).
	icmpForwardOff = "no_icmp_forward"
)

// curlResult is one curl transfer from the client namespace.
type curlResult struct {
	code string // HTTP status as curl's %{http_code}
	size int64  // bytes received (%{size_download})
	body []byte // what was received (downloads: the file curl wrote)
	out  string // curl's own output (the -w line, errors)
	err  error
	dur  time.Duration
}

// curlFrom runs curl in the client namespace from source address src with
// a total time limit; upload, if set, is a file to PUT.
func curlFrom(ctx context.Context, topo *Topo, src netip.Addr, url string, limit time.Duration, upload string) curlResult {
	file := filepath.Join(topo.Lab.Dir(), "curl-"+strings.ReplaceAll(src.String(), ":", "_")+".out")
	defer os.Remove(file)
	args := []string{"curl", "-sS", "-g", "--max-time", strconv.FormatFloat(limit.Seconds(), 'f', 1, 64),
		"--interface", src.String(), "-o", file, "-w", "\n%{http_code} %{size_download}\n"}
	if upload != "" {
		args = append(args, "-T", upload)
	}
	start := time.Now()
	out, err := topo.Client.Run(ctx, append(args, url)...)
	r := curlResult{out: strings.TrimSpace(string(out)), err: err, dur: time.Since(start)}
	lines := strings.Split(r.out, "\n")
	if f := strings.Fields(lines[len(lines)-1]); len(f) == 2 {
		r.code = f[0]
		r.size, _ = strconv.ParseInt(f[1], 10, 64)
	}
	r.body, _ = os.ReadFile(file)
	return r
}

// pmtuCase is one service of the test: method and family.
type pmtuCase struct {
	m  Method
	v6 bool
}

func (c pmtuCase) String() string {
	return fmt.Sprintf("%s/%s", strings.ToUpper(string(c.m)), famName(c.v6))
}

// downloadAll runs one 4 MiB download per case at once, case i from client
// host base+i, and returns the results by case.
func downloadAll(ctx context.Context, topo *Topo, cases []pmtuCase, srcs []netip.Addr, limit time.Duration) []curlResult {
	res := make([]curlResult, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			url := "http://" + netip.AddrPortFrom(VIP(c.m, c.v6), bulkPort).String() + "/bulk"
			res[i] = curlFrom(ctx, topo, srcs[i], url, limit, "")
		})
	}
	wg.Wait()
	return res
}

// icmpOut reads the router's count of ICMP errors sent that path MTU
// discovery depends on: fragmentation needed (within OutDestUnreachs) and
// packet too big.
func icmpOut(ctx context.Context, topo *Topo) (unreach4, tooBig6 uint64) {
	b4, _ := topo.Router.Run(ctx, "cat", "/proc/net/snmp")
	lines := strings.Split(string(b4), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "Icmp: ") && strings.HasPrefix(lines[i+1], "Icmp: ") {
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			for j := range names {
				if names[j] == "OutDestUnreachs" && j < len(vals) {
					unreach4, _ = strconv.ParseUint(vals[j], 10, 64)
				}
			}
			break
		}
	}
	b6, _ := topo.Router.Run(ctx, "cat", "/proc/net/snmp6")
	for _, l := range strings.Split(string(b6), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Icmp6OutPktTooBigs" {
			tooBig6, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return unreach4, tooBig6
}

// TestPMTUDiscovery: path MTU discovery through the director (issue 6).
// The client is behind a router whose route to it has MTU 1280 while
// every interface is 1500, so the client advertises MSS 1460 and a real
// server's full-size segments reach the router, which answers with
// fragmentation needed / packet too big to their source: the VIP, i.e.
// the director, which must hand it to the connection's real server (NAT:
// rewritten; DR: as it is; TUN: encapsulated). The real servers keep
// path MTU discovery on and TCP MTU probing off, so nothing but that ICMP
// can shrink their segments.
//
//   - A 4 MiB download with curl through NAT, DR and TUN, IPv4 and IPv6,
//     arrives complete (size and SHA-256) within 20 s, and the serving
//     real server's kernel then holds path MTU 1280 for the client.
//   - With ICMP forwarding off (tunable no_icmp_forward) the same
//     download from a fresh client address stalls: curl --max-time 5
//     fails short of the body.
//   - A 4 MiB upload through TUN: the client's full-size segments do not
//     fit the director→server link once the tunnel header is added; the
//     director's own fragmentation needed / packet too big (MTU 1480 /
//     1460) makes the client shrink them, and the body arrives intact.
func TestPMTUDiscovery(t *testing.T) {
	needRoot(t, "curl", "ethtool")
	topo := buildTopo(t, TopoOptions{Prefix: "vsdpmtu", Server: "go", Servers: 2, ClientMTU: pmtuClientMTU})
	addServices(t, topo, api.TCP, bulkPort)
	bs := startBulkServers(t, topo, bulkPort)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := sha(bulkBody())

	var cases []pmtuCase
	for _, m := range []Method{NAT, DR, TUN} {
		for _, v6 := range []bool{false, true} {
			cases = append(cases, pmtuCase{m, v6})
		}
	}
	freshSrcs := func(base int) []netip.Addr {
		var s []netip.Addr
		for i, c := range cases {
			s = append(s, addClientAddr(t, topo, c.v6, base+i))
		}
		return s
	}

	// 0. The lab itself: with the router's route at MTU 1500 every
	// download completes without any ICMP (so a failure below is path
	// MTU discovery's, not the lab's).
	if err := setRouterMTU(topo, 1500); err != nil {
		t.Fatal(err)
	}
	srcs := freshSrcs(70)
	res := downloadAll(ctx, topo, cases, srcs, 15*time.Second)
	for i, c := range cases {
		if r := res[i]; r.err != nil || r.size != bulkSize || sha(r.body) != want {
			t.Fatalf("%s: the lab is broken: without a small MTU the download from %s got %d of %d bytes (checksum ok %v): %v",
				c, srcs[i], len(r.body), bulkSize, sha(r.body) == want, r.err)
		}
	}
	if err := setRouterMTU(topo, pmtuClientMTU); err != nil {
		t.Fatal(err)
	}

	// 1. ICMP forwarding on: every download completes.
	srcs = freshSrcs(10)
	u0, p0 := icmpOut(ctx, topo)
	start := time.Now()
	res = downloadAll(ctx, topo, cases, srcs, 15*time.Second)
	u1, p1 := icmpOut(ctx, topo)
	t.Logf("forwarding on: 6 concurrent 4 MiB downloads in %v; the router sent %d destination unreachable, %d packet too big",
		time.Since(start).Round(time.Millisecond), u1-u0, p1-p0)
	for i, c := range cases {
		r := res[i]
		if r.err != nil || r.code != "200" || r.size != bulkSize || sha(r.body) != want {
			t.Errorf("%s: download from %s: status %q, %d of %d bytes, checksum ok %v, after %v: %s",
				c, srcs[i], r.code, len(r.body), bulkSize, sha(r.body) == want, r.dur.Round(time.Millisecond), r.out)
			continue
		}
		t.Logf("%s: %d bytes intact in %v", c, r.size, r.dur.Round(time.Millisecond))
		// The serving real server learnt the client's path MTU.
		si := bs.server(srcs[i])
		if si < 0 {
			t.Errorf("%s: no real server recorded client %s", c, srcs[i])
			continue
		}
		from := VIP(c.m, c.v6)
		if c.m == NAT {
			from = serverAddr(si, c.v6)
		}
		if mtu, route := routeMTU(ctx, topo.Servers[si], srcs[i], from); mtu != pmtuClientMTU {
			t.Errorf("%s: %s holds path MTU %d for %s, want %d (ip route get: %s)",
				c, topo.ServerNames[si], mtu, srcs[i], pmtuClientMTU, route)
		}
	}
	if u1 == u0 || p1 == p0 {
		t.Errorf("the router sent %d fragmentation needed and %d packet too big: the lab did not need path MTU discovery",
			u1-u0, p1-p0)
	}

	// 2. ICMP forwarding off: the same downloads, from addresses no real
	// server has a path MTU for, stall.
	if err := setTunable(topo, icmpForwardOff, 1); err != nil {
		t.Errorf("switching ICMP forwarding off (vsadm --sysctl %s=1): %v — the stall check did not run", icmpForwardOff, err)
	} else {
		srcs := freshSrcs(30)
		u0, p0 := icmpOut(ctx, topo)
		res := downloadAll(ctx, topo, cases, srcs, 5*time.Second)
		u1, p1 := icmpOut(ctx, topo)
		t.Logf("forwarding off: the router sent %d destination unreachable, %d packet too big", u1-u0, p1-p0)
		for i, c := range cases {
			if r := res[i]; r.err == nil || r.size >= bulkSize {
				t.Errorf("%s: with %s=1 the download from %s did not stall: %d bytes in %v (%v)",
					c, icmpForwardOff, srcs[i], r.size, r.dur.Round(time.Millisecond), r.err)
			} else {
				t.Logf("%s: stalled as it must: %d of %d bytes within %v", c, r.size, bulkSize, r.dur.Round(time.Millisecond))
			}
		}
		if err := setTunable(topo, icmpForwardOff, 0); err != nil {
			t.Fatal(err)
		}
	}

	// 3. Uploads through TUN: the director's own fragmentation needed.
	up := filepath.Join(topo.Lab.Dir(), "upload.bin")
	if err := os.WriteFile(up, bulkBody(), 0o644); err != nil {
		t.Fatal(err)
	}
	var ups [2]curlResult
	var upSrcs [2]netip.Addr
	var wg sync.WaitGroup
	for i, v6 := range []bool{false, true} {
		upSrcs[i] = addClientAddr(t, topo, v6, 50+i)
		url := "http://" + netip.AddrPortFrom(VIP(TUN, v6), bulkPort).String() + "/upload"
		wg.Go(func() { ups[i] = curlFrom(ctx, topo, upSrcs[i], url, 15*time.Second, up) })
	}
	wg.Wait()
	for i, v6 := range []bool{false, true} {
		r, src := ups[i], upSrcs[i]
		got := strings.Fields(string(r.body))
		c := pmtuCase{TUN, v6}
		if r.err != nil || r.code != "200" || len(got) != 3 || got[1] != strconv.Itoa(bulkSize) || got[2] != want {
			t.Errorf("%s: 4 MiB upload from %s: status %q, server answered %q after %v: %s",
				c, src, r.code, r.body, r.dur.Round(time.Millisecond), r.out)
		} else {
			t.Logf("%s: upload of %d bytes arrived intact at %s in %v", c, bulkSize, got[0], r.dur.Round(time.Millisecond))
		}
		wantMTU := 1480
		if v6 {
			wantMTU = 1460
		}
		if mtu, route := routeMTU(ctx, topo.Client, VIP(TUN, v6), src); mtu != wantMTU {
			t.Errorf("%s: the client holds path MTU %d towards the VIP, want %d from the director's ICMP (ip route get: %s)",
				c, mtu, wantMTU, route)
		}
	}

	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vsd: %d frames, %d sent, %d passed, %d dropped %v; events %v", st.Frames, st.Tx, st.Pass, st.Drop, st.Drops, st.Events)
	checkDropsCounted(t, st)
}

// setRouterMTU sets the MTU of the router's routes to the client.
func setRouterMTU(topo *Topo, mtu int) error {
	m := strconv.Itoa(mtu)
	return must(
		func() error {
			return topo.Router.IP("route", "replace", client4.String(), "dev", "cl", "src", host(client4, 1).String(), "mtu", "lock", m)
		},
		func() error {
			return topo.Router.IP("-6", "route", "replace", client6.String(), "dev", "cl", "metric", "256", "mtu", "lock", m)
		},
	)
}

// checkDropsCounted: every dropped frame is counted under one reason.
func checkDropsCounted(t *testing.T, st *api.Status) {
	t.Helper()
	var n uint64
	for _, v := range st.Drops {
		n += v
	}
	if n != st.Drop {
		t.Errorf("%d frames dropped but %d counted under a reason (%v)", st.Drop, n, st.Drops)
	}
}
