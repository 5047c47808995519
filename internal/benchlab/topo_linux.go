package benchlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/netns"
)

// The testbed's addresses. The client and the director's front port share
// 10.0.0.0/24; real server i (1-based) sits alone on 172.16.i.0/24 with
// the director's port b<i>. The VIP is on no interface and no subnet: the
// client routes everything via the director's front address.
var (
	clientAddr = netip.MustParseAddr("10.0.0.2")
	frontAddr  = netip.MustParseAddr("10.0.0.1")
	vip        = netip.MustParseAddr("10.0.9.80")
)

const (
	numServers = 3
	udpPort    = 9  // the UDP service; real servers drop it at ingress (after the counters)
	httpPort   = 80 // nginx
	genCPU     = 0  // generator, wrk, real servers, client and server softirq
	dirCPU     = 1  // everything the director does
	bodySize   = 100
)

func serverAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 16, byte(i + 1), 2}) }
func backAddr(i int) netip.Addr   { return netip.AddrFrom4([4]byte{172, 16, byte(i + 1), 1}) }
func backPort(i int) string       { return fmt.Sprintf("b%d", i+1) }

// testbed is one candidate's namespaces: client, director, real servers.
type testbed struct {
	lab      *netns.Lab
	client   *netns.NS
	director *netns.NS
	servers  []*netns.NS
	frontMAC string      // the director's front port: the generator's next hop
	vsd      *netns.Proc // the vsd candidates' daemon
	vsdSock  string
	log      func(format string, a ...any)
}

// placement is where one interface's receive processing runs.
type placement struct {
	ns  *netns.NS
	dev string
	cpu int
}

// rpsMask is the rps_cpus mask of one CPU.
func rpsMask(cpu int) string { return fmt.Sprintf("%x", 1<<cpu) }

// buildTestbed makes the namespaces and links, addresses and routes,
// offloads off, RPS placement, sysctls, the UDP sinks and nginx on every
// real server. The caller closes tb.lab (also on error).
func buildTestbed(ctx context.Context, lab *netns.Lab, logf func(string, ...any)) (*testbed, error) {
	tb := &testbed{lab: lab, log: logf}
	var err error
	if tb.client, err = lab.NS("c"); err != nil {
		return nil, err
	}
	if tb.director, err = lab.NS("d"); err != nil {
		return nil, err
	}
	c, d := tb.client, tb.director
	if err := lab.Veth(c, "eth0", d, "front"); err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return c.IP("addr", "add", clientAddr.String()+"/24", "dev", "eth0") },
		func() error { return d.IP("addr", "add", frontAddr.String()+"/24", "dev", "front") },
		func() error { return c.IP("route", "add", "default", "via", frontAddr.String()) },
	}
	for i := range numServers {
		s, err := lab.NS(fmt.Sprintf("s%d", i+1))
		if err != nil {
			return nil, err
		}
		tb.servers = append(tb.servers, s)
		if err := lab.Veth(s, "eth0", d, backPort(i)); err != nil {
			return nil, err
		}
		steps = append(steps,
			func() error { return s.IP("addr", "add", serverAddr(i).String()+"/24", "dev", "eth0") },
			func() error { return d.IP("addr", "add", backAddr(i).String()+"/24", "dev", backPort(i)) },
			func() error { return s.IP("route", "add", "default", "via", backAddr(i).String()) },
		)
	}
	for _, st := range steps {
		if err := st(); err != nil {
			return nil, err
		}
	}
	// No 64 KiB super-packets anywhere; receive of the client and the
	// servers on the generator's CPU, of the director on its own.
	devs := []placement{{c, "eth0", genCPU}, {d, "front", dirCPU}}
	for i, s := range tb.servers {
		devs = append(devs, placement{s, "eth0", genCPU}, placement{d, backPort(i), dirCPU})
	}
	for _, x := range devs {
		if _, err := x.ns.Run(ctx, "ethtool", "-K", x.dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"); err != nil {
			return nil, err
		}
		if err := setRPS(ctx, x.ns, x.dev, x.cpu); err != nil {
			return nil, err
		}
	}
	// Connection: close runs open tens of thousands of connections.
	for _, ns := range []*netns.NS{c, d} {
		if err := ns.Sysctl("net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
			return nil, err
		}
		if err := ns.Sysctl("net.ipv4.tcp_tw_reuse", "1"); err != nil {
			return nil, err
		}
	}
	mac, err := macOf(d, "front")
	if err != nil {
		return nil, err
	}
	tb.frontMAC = mac
	for i, s := range tb.servers {
		if err := startServer(ctx, lab, s, i); err != nil {
			return nil, err
		}
	}
	return tb, nil
}

// setRPS steers dev's receive processing to cpu. It goes through
// `ip netns exec` so that /sys shows the namespace's devices.
func setRPS(ctx context.Context, ns *netns.NS, dev string, cpu int) error {
	path := "/sys/class/net/" + dev + "/queues/rx-0/rps_cpus"
	_, err := ns.Run(ctx, "sh", "-c", "echo "+rpsMask(cpu)+" > "+path)
	return err
}

// macOf is dev's hardware address inside ns.
func macOf(ns *netns.NS, dev string) (string, error) {
	var mac string
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return fmt.Errorf("benchlab: %s in %s: %w", dev, ns.Name(), err)
		}
		mac = ifi.HardwareAddr.String()
		return nil
	})
	return mac, err
}

const sinkRules = `table netdev vsbench_sink {
	chain in {
		type filter hook ingress device "eth0" priority 0; policy accept;
		udp dport %d counter drop
	}
}
`

const nginxConf = `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 16384; }
http {
	access_log off;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]d backlog=4096;
		location / { return 200 "%[3]s"; }
	}
}
`

// startServer makes real server i: the UDP sink (an ingress drop after the
// interface counters, so no ICMP comes back) and nginx pinned to genCPU.
func startServer(ctx context.Context, lab *netns.Lab, s *netns.NS, i int) error {
	dir := filepath.Join(lab.Dir(), fmt.Sprintf("nginx%d", i+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("benchlab: %w", err)
	}
	sink := filepath.Join(dir, "sink.nft")
	if err := os.WriteFile(sink, fmt.Appendf(nil, sinkRules, udpPort), 0o644); err != nil {
		return fmt.Errorf("benchlab: %w", err)
	}
	if _, err := s.Run(ctx, "nft", "-f", sink); err != nil {
		return err
	}
	body := strings.Repeat("x", bodySize-1) + `\n`
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, httpPort, body), 0o644); err != nil {
		return fmt.Errorf("benchlab: %w", err)
	}
	if _, err := s.StartWith(netns.StartOptions{CPUs: fmt.Sprint(genCPU)}, "nginx",
		"nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf); err != nil {
		return err
	}
	return nil
}

// waitHTTP polls url from the client until it answers 200 or the time is up.
func (tb *testbed) waitHTTP(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		out, err := tb.client.Run(cctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", url)
		cancel()
		if err == nil && strings.TrimSpace(string(out)) == "200" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("HTTP status %q", strings.TrimSpace(string(out)))
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("benchlab: %s not answering from the client within %v: %v", url, within, last)
}

// delivered sums the packets the real servers' interfaces received.
func (tb *testbed) delivered() (uint64, error) {
	var n uint64
	for _, s := range tb.servers {
		st, err := s.LinkStats("eth0")
		if err != nil {
			return 0, err
		}
		n += st.RxPackets
	}
	return n, nil
}
