package benchlab

import (
	"context"
	"fmt"
	"github.com/vsd/vsd/api"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/netns"
)

// A Candidate is one way of getting packets from the client to the real
// servers.
type Candidate string

// The candidates, in report order.
const (
	None        Candidate = "none"         // plain kernel routing to one server
	NFT         Candidate = "nft"          // kernel nftables DNAT, numgen inc mod 3
	VSDAFXDP    Candidate = "vsd-afxdp"    // vsd, AF_XDP datapath
	VSDAFPacket Candidate = "vsd-afpacket" // vsd, AF_PACKET datapath
	HAProxy     Candidate = "haproxy"      // HAProxy, TCP mode, 1 thread
)

// Candidates lists every candidate in report order.
func Candidates() []Candidate { return []Candidate{None, NFT, VSDAFXDP, VSDAFPacket, HAProxy} }

// ParseCandidates reads a comma-separated list ("all" for every one).
func ParseCandidates(s string) ([]Candidate, error) {
	if s == "" || s == "all" {
		return Candidates(), nil
	}
	var out []Candidate
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, c := range Candidates() {
			if string(c) == f {
				ok = true
				out = append(out, c)
			}
		}
		if !ok {
			return nil, fmt.Errorf("candidate %q: want one of none, nft, vsd-afxdp, vsd-afpacket, haproxy (or all)", f)
		}
	}
	return out, nil
}

// Describe is the candidate's row label.
func (c Candidate) Describe() string {
	switch c {
	case None:
		return "none (plain routing to one server)"
	case NFT:
		return "kernel nftables DNAT, numgen inc mod 3"
	case VSDAFXDP:
		return "vsd, AF_XDP"
	case VSDAFPacket:
		return "vsd, AF_PACKET"
	case HAProxy:
		return "HAProxy, TCP mode, 1 thread"
	}
	return string(c)
}

// udpCapable reports whether the candidate forwards the UDP packet test.
func (c Candidate) udpCapable() bool { return c != HAProxy }

// target is where the client sends: one server directly for plain
// routing, else the VIP.
func (c Candidate) target() netip.Addr {
	if c == None {
		return serverAddr(0)
	}
	return vip
}

// setupDirector sets candidate c up in tb's director namespace; what it
// starts goes with the lab. info describes the datapath when there is
// something to say (vsd's own description).
func (tb *testbed) setupDirector(ctx context.Context, c Candidate, o *Options) (info string, err error) {
	d := tb.director
	switch c {
	case None:
		return "", d.Sysctl("net.ipv4.ip_forward", "1")
	case NFT:
		if err := d.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return "", err
		}
		path := filepath.Join(tb.lab.Dir(), "lb.nft")
		if err := os.WriteFile(path, []byte(nftRules()), 0o644); err != nil {
			return "", fmt.Errorf("benchlab: %w", err)
		}
		if _, err := d.Run(ctx, "nft", "-f", path); err != nil {
			return "", err
		}
		// conntrack exists now: TIME_WAIT entries must not pile up.
		if err := d.Sysctl("net.netfilter.nf_conntrack_tcp_timeout_time_wait", "1"); err != nil {
			return "", err
		}
		return "", nil
	case VSDAFXDP, VSDAFPacket:
		if o.VSD == "" {
			return "", fmt.Errorf("no vsd binary (--vsd)")
		}
		if err := d.Sysctl("net.ipv4.ip_forward", "0"); err != nil { // vsd forwards, the kernel must not
			return "", err
		}
		return tb.startVSD(ctx, c, o)
	case HAProxy:
		if err := d.Sysctl("net.ipv4.ip_forward", "0"); err != nil {
			return "", err
		}
		if err := d.IP("addr", "add", vip.String()+"/32", "dev", "lo"); err != nil {
			return "", err
		}
		path := filepath.Join(tb.lab.Dir(), "haproxy.cfg")
		if err := os.WriteFile(path, []byte(haproxyConf()), 0o644); err != nil {
			return "", fmt.Errorf("benchlab: %w", err)
		}
		if _, err := d.StartWith(netns.StartOptions{CPUs: fmt.Sprint(dirCPU)}, "haproxy", "haproxy", "-db", "-f", path); err != nil {
			return "", err
		}
		return "", nil
	}
	return "", fmt.Errorf("candidate %q: unknown", c)
}

func serverMap() string {
	parts := make([]string, numServers)
	for i := range parts {
		parts[i] = fmt.Sprintf("%d : %s", i, serverAddr(i))
	}
	return strings.Join(parts, ", ")
}

func nftRules() string {
	return fmt.Sprintf(`table ip vsbench {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[1]s udp dport %[2]d dnat to numgen inc mod %[4]d map { %[5]s }
		ip daddr %[1]s tcp dport %[3]d dnat to numgen inc mod %[4]d map { %[5]s }
	}
}
`, vip, udpPort, httpPort, numServers, serverMap())
}

func haproxyConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 8000
	nbthread 1
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend fe
	bind %s:%d
	default_backend be
backend be
	balance roundrobin
`, vip, httpPort)
	for i := range numServers {
		fmt.Fprintf(&b, "\tserver s%d %s:%d\n", i+1, serverAddr(i), httpPort)
	}
	return b.String()
}

// vsdConf is vsd's configuration for candidate c: the front port and the
// three back ports, a UDP and a TCP NAT service on the VIP.
func vsdConf(c Candidate, xdpMode, socket string) string {
	var b strings.Builder
	b.WriteString("interfaces:\n  - name: front\n")
	for i := range numServers {
		fmt.Fprintf(&b, "  - name: %s\n", backPort(i))
	}
	dp := "afxdp"
	if c == VSDAFPacket {
		dp = "afpacket"
	}
	fmt.Fprintf(&b, "datapath: %s\n", dp)
	if c == VSDAFXDP && xdpMode != "" {
		fmt.Fprintf(&b, "xdp_mode: %s\n", xdpMode)
	}
	fmt.Fprintf(&b, "cpus: [%d]\ntable:\n  bits: 18\n  budget: 256MiB\ncontrol:\n  socket: %s\nservices:\n", dirCPU, socket)
	for _, svc := range []struct {
		proto string
		port  int
	}{{"udp", udpPort}, {"tcp", httpPort}} {
		fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    real_servers:\n", svc.proto, vip, svc.port)
		for i := range numServers {
			fmt.Fprintf(&b, "      - addr: %s\n        method: nat\n", serverAddr(i))
		}
	}
	return b.String()
}

// threadedNAPI switches the director's veths to threaded NAPI and pins the
// NAPI threads to the director's CPU.
func threadedNAPI(ctx context.Context, d *netns.NS) error {
	devs := []string{"front"}
	for i := range numServers {
		devs = append(devs, backPort(i))
	}
	for _, dev := range devs {
		if out, err := d.Run(ctx, "sh", "-c", "echo 1 > /sys/class/net/"+dev+"/threaded"); err != nil {
			return fmt.Errorf("benchlab: threaded NAPI on %s: %v %s", dev, err, out)
		}
	}
	// The threads are named napi/DEV-ID; they live in the root pid space.
	out, err := exec.CommandContext(ctx, "sh", "-c",
		fmt.Sprintf("for p in $(pgrep '^napi/'); do taskset -pc %d $p >/dev/null || exit 1; done", dirCPU)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("benchlab: pinning NAPI threads: %v %s", err, out)
	}
	return nil
}

// startVSD runs vsd pinned to the director's CPU and waits for its
// control socket to report a datapath.
func (tb *testbed) startVSD(ctx context.Context, c Candidate, o *Options) (string, error) {
	d := tb.director
	sock := filepath.Join(tb.lab.Dir(), "vsd.sock")
	path := filepath.Join(tb.lab.Dir(), "vsd.yaml")
	if err := os.WriteFile(path, []byte(vsdConf(c, o.XDPMode, sock)), 0o644); err != nil {
		return "", fmt.Errorf("benchlab: %w", err)
	}
	p, err := d.StartWith(netns.StartOptions{CPUs: fmt.Sprint(dirCPU)}, "vsd", o.VSD, "run", "--config", path)
	if err != nil {
		return "", err
	}
	tb.vsd, tb.vsdSock = p, sock
	hc := api.NewClient(sock)
	defer hc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.Done():
			return "", fmt.Errorf("vsd exited during start-up: %v; log:\n%s", p.Wait(), lastLines(p.Log(), 20))
		default:
		}
		if st, err := vsdStatus(ctx, hc); err == nil && st.Datapath != "" && st.Datapath != "control plane only" {
			if c == VSDAFXDP && strings.Contains(st.Datapath, "native") {
				// Native XDP on veth runs in the receiving veth's NAPI,
				// which by default polls on the sender's CPU. Threaded
				// NAPI pinned to the director's CPU keeps that work there,
				// where a NIC's RX queue interrupt would put it.
				if err := threadedNAPI(ctx, d); err != nil {
					return "", err
				}
			}
			// Prime the kernel's neighbour entries vsd resolves next hops from.
			for i := range numServers {
				d.Run(ctx, "ping", "-c", "1", "-W", "1", serverAddr(i).String())
			}
			d.Run(ctx, "ping", "-c", "1", "-W", "1", clientAddr.String())
			return st.Datapath, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("vsd: control socket %s not ready within 15s; log:\n%s", sock, lastLines(p.Log(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// vsdDiagnosis is vsd's status and the end of its log, for an error
// message when a vsd candidate fails.
func (tb *testbed) vsdDiagnosis(ctx context.Context) string {
	if tb.vsd == nil {
		return ""
	}
	hc := api.NewClient(tb.vsdSock)
	defer hc.Close()
	var b strings.Builder
	if st, err := vsdStatus(ctx, hc); err == nil {
		fmt.Fprintf(&b, "\nvsd status: frames %d tx %d drop %d drops %v", st.Frames, st.Tx, st.Drop, st.Drops)
	} else {
		fmt.Fprintf(&b, "\nvsd status: %v", err)
	}
	fmt.Fprintf(&b, "\nvsd log (%s):\n%s", tb.vsd.LogPath(), lastLines(tb.vsd.Log(), 15))
	return b.String()
}

// vsdStatus asks vsd for its status, giving it a second.
func vsdStatus(ctx context.Context, c *api.Client) (*api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Status(ctx)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
