package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vsd/vsd/api"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vsd/vsd/internal/netns"
)

// The lab's addresses. The front segment joins the client, the director's
// front port and each real server's direct return path (DR/TUN replies);
// the back segment joins the director's back port and the real servers.
// The VIPs sit on the front segment but on no interface of the director:
// vsd answers ARP and neighbour solicitations for them.
var (
	front4 = netip.MustParsePrefix("10.0.0.0/24")
	back4  = netip.MustParsePrefix("172.16.0.0/24")
	front6 = netip.MustParsePrefix("2001:db8:f::/64")
	back6  = netip.MustParsePrefix("2001:db8:b::/64")
)

// host returns host n (< 100) of prefix p: the last byte for IPv4, the
// last group written with the same digits for IPv6 (2001:db8:f::80), so
// both families read alike.
func host(p netip.Prefix, n int) netip.Addr {
	b := p.Addr().AsSlice()
	if p.Addr().Is4() {
		b[3] = byte(n)
	} else {
		b[15] = byte(n/10<<4 | n%10)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Lab host numbers on both segments.
const (
	hostDirector = 1
	hostClient   = 2
	hostServer1  = 11 // servers are 11, 12, 13, ...
	vipNAT       = 80
	vipDR        = 81
	vipTUN       = 82
)

// Method is one forwarding method the lab sets a service up for.
type Method string

// The lab's methods.
const (
	NAT Method = "nat"
	DR  Method = "dr"
	TUN Method = "tun"
)

// VIP returns the lab's VIP of method m in family v6.
func VIP(m Method, v6 bool) netip.Addr {
	n := map[Method]int{NAT: vipNAT, DR: vipDR, TUN: vipTUN}[m]
	if v6 {
		return host(front6, n)
	}
	return host(front4, n)
}

// ClientAddr is the lab client's address in family v6.
func ClientAddr(v6 bool) netip.Addr {
	if v6 {
		return host(front6, hostClient)
	}
	return host(front4, hostClient)
}

// TopoOptions configure BuildTopo.
type TopoOptions struct {
	Exe       string // the vsd binary (started in the namespaces)
	Prefix    string // namespace name prefix (letters, digits, _)
	Servers   int    // real servers (default 3)
	Server    string // "auto" (nginx if installed), "nginx", "go", or "mixed" (odd servers nginx, even ones Go)
	Datapath  string // vsd datapath: auto, afxdp, afpacket
	Scheduler string // scheduler of every service (default rr)
	Port      uint16 // service and real-server port (default 80)
	Methods   []Method
	Progress  io.Writer // set-up steps, one line each (may be nil)
	// ExtraConfig is YAML appended to vsd's configuration file (top-level
	// keys such as table: or tunables:).
	ExtraConfig string
	// ClientMTU, if set, puts the client behind a router (namespace rt)
	// on a segment of its own, with a route MTU of ClientMTU towards the
	// client on the router (both families) while every interface stays
	// at 1500: see topo_router.go.
	ClientMTU int
	// SynProxy turns syn_proxy on for the NAT services (it needs a hash
	// Scheduler).
	SynProxy bool
	// ExtraServices is YAML appended to the services list (items
	// starting "  - ").
	ExtraServices string
}

// Topo is a built lab: namespaces, links, real servers and a running vsd.
type Topo struct {
	Lab                      *netns.Lab
	Client, Director, Switch *netns.NS
	Router                   *netns.NS // nil unless TopoOptions.ClientMTU
	Servers                  []*netns.NS
	ServerNames              []string
	ServerProgram            string // "nginx" or "vsd lab-server"
	Socket                   string // vsd's control socket
	ConfigPath               string
	VSD                      *netns.Proc
	httpd                    []*netns.Proc // Go real servers, by server index (nil for nginx)
	o                        TopoOptions
}

func (o *TopoOptions) defaults() error {
	if o.Exe == "" {
		return errors.New("lab: the vsd binary is needed (TopoOptions.Exe)")
	}
	if o.Prefix == "" {
		o.Prefix = "vsdlab" // fixed: a rerun sweeps what a killed run left
	}
	if o.Servers == 0 {
		o.Servers = 3
	}
	if o.Servers < 1 || o.Servers > 9 {
		return fmt.Errorf("lab: %d real servers: must be 1..9", o.Servers)
	}
	if o.Server == "" {
		o.Server = "auto"
	}
	if o.Datapath == "" {
		o.Datapath = "auto"
	}
	if o.Scheduler == "" {
		o.Scheduler = "rr"
	}
	if o.Port == 0 {
		o.Port = 80
	}
	if len(o.Methods) == 0 {
		o.Methods = []Method{NAT, DR, TUN}
	}
	if o.ClientMTU != 0 && (o.ClientMTU < 1280 || o.ClientMTU > 1500) {
		return fmt.Errorf("lab: client MTU %d: must be 1280..1500 (IPv6 needs 1280)", o.ClientMTU)
	}
	return nil
}

func (t *Topo) step(format string, a ...any) {
	if t.o.Progress != nil {
		fmt.Fprintf(t.o.Progress, "vsd lab: "+format+"\n", a...)
	}
}

// BuildTopo builds the lab and starts vsd in it. On error everything made
// so far is removed.
func BuildTopo(ctx context.Context, o TopoOptions) (_ *Topo, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	l, err := netns.New(o.Prefix)
	if err != nil {
		return nil, err
	}
	t := &Topo{Lab: l, o: o}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	t.step("building namespaces %s-* (client, director, switch, %d real servers)", o.Prefix, o.Servers)
	if err := t.buildNet(); err != nil {
		return nil, err
	}
	if err := t.startServers(); err != nil {
		return nil, err
	}
	if err := t.startVSD(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// must runs the set-up steps in order and stops at the first error.
func must(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func (t *Topo) buildNet() error {
	l := t.Lab
	var err error
	if t.Switch, err = l.NS("sw"); err != nil {
		return err
	}
	if t.Client, err = l.NS("client"); err != nil {
		return err
	}
	if t.Director, err = l.NS("director"); err != nil {
		return err
	}
	// Fresh interfaces: skip IPv6 duplicate-address detection, which
	// holds a new link-local address (and the neighbour discovery that
	// needs it) for a second or two; a director that has been up a while
	// has none pending.
	for _, ns := range []*netns.NS{t.Switch, t.Client, t.Director} {
		if err := must(
			func() error { return ns.Sysctl("net.ipv6.conf.all.accept_dad", "0") },
			func() error { return ns.Sysctl("net.ipv6.conf.default.accept_dad", "0") },
		); err != nil {
			return err
		}
	}
	sw := t.Switch
	if err := must(
		func() error { return sw.IP("link", "add", "brf", "type", "bridge") },
		func() error { return sw.IP("link", "add", "brb", "type", "bridge") },
		func() error { return sw.IP("link", "set", "brf", "up") },
		func() error { return sw.IP("link", "set", "brb", "up") },
	); err != nil {
		return err
	}
	// plug joins end inside ns to bridge br of the switch through a veth
	// (the switch end is swName).
	plug := func(ns *netns.NS, end, swName, br string) error {
		return must(
			func() error { return l.Veth(ns, end, sw, swName) },
			func() error { return sw.IP("link", "set", swName, "master", br) },
			func() error { return noOffloads(ns, end) },
			func() error { return noOffloads(sw, swName) },
		)
	}
	c, d := t.Client, t.Director
	plugClient := func() error {
		return must(
			func() error { return plug(c, "eth0", "c0", "brf") },
			func() error { return addAddrs(c, "eth0", hostClient, front4, front6) },
		)
	}
	if t.o.ClientMTU > 0 {
		plugClient = func() error { return t.buildRouter(plug) }
	}
	if err := must(
		plugClient,
		func() error { return plug(d, "front", "d0", "brf") },
		func() error { return plug(d, "back", "d1", "brb") },
		func() error { return addAddrs(d, "front", hostDirector, front4, front6) },
		func() error { return addAddrs(d, "back", hostDirector, back4, back6) },
		// The director's kernel forwards nothing: vsd does.
		func() error { return d.Sysctl("net.ipv4.ip_forward", "0") },
		func() error { return d.Sysctl("net.ipv6.conf.all.forwarding", "0") },
	); err != nil {
		return err
	}
	for i := range t.o.Servers {
		name := fmt.Sprintf("rs%d", i+1)
		s, err := l.NS(name)
		if err != nil {
			return err
		}
		if err := must(
			func() error { return s.Sysctl("net.ipv6.conf.all.accept_dad", "0") },
			func() error { return s.Sysctl("net.ipv6.conf.default.accept_dad", "0") },
		); err != nil {
			return err
		}
		t.Servers = append(t.Servers, s)
		t.ServerNames = append(t.ServerNames, name)
		n := hostServer1 + i
		tbl := "100"
		if err := must(
			func() error { return plug(s, "front", fmt.Sprintf("s%df", i+1), "brf") },
			func() error { return plug(s, "back", fmt.Sprintf("s%db", i+1), "brb") },
			func() error { return addAddrs(s, "front", n, front4, front6) },
			func() error { return addAddrs(s, "back", n, back4, back6) },
			// DR and TUN: the VIPs on lo, never answered in ARP/NDP.
			func() error { return s.IP("addr", "add", VIP(DR, false).String()+"/32", "dev", "lo") },
			func() error { return s.IP("addr", "add", VIP(TUN, false).String()+"/32", "dev", "lo") },
			func() error { return s.IP("-6", "addr", "add", VIP(DR, true).String()+"/128", "dev", "lo", "nodad") },
			func() error { return s.IP("-6", "addr", "add", VIP(TUN, true).String()+"/128", "dev", "lo", "nodad") },
			func() error { return s.Sysctl("net.ipv4.conf.all.arp_ignore", "1") },
			func() error { return s.Sysctl("net.ipv4.conf.all.arp_announce", "2") },
			func() error { return s.Sysctl("net.ipv4.conf.all.rp_filter", "0") },
			func() error { return s.Sysctl("net.ipv4.conf.default.rp_filter", "0") },
			func() error { return s.Sysctl("net.ipv4.conf.front.rp_filter", "0") },
			func() error { return s.Sysctl("net.ipv4.conf.back.rp_filter", "0") },
			// NAT: replies from the real-server address go back through
			// the director; DR/TUN replies (from the VIP) go straight to
			// the client on the front segment.
			func() error { return s.IP("route", "add", back4.String(), "dev", "back", "table", tbl) },
			func() error {
				return s.IP("route", "add", "default", "via", host(back4, hostDirector).String(), "table", tbl)
			},
			func() error { return s.IP("rule", "add", "from", back4.String(), "lookup", tbl) },
			func() error { return s.IP("-6", "route", "add", back6.String(), "dev", "back", "table", tbl) },
			func() error {
				return s.IP("-6", "route", "add", "default", "via", host(back6, hostDirector).String(), "table", tbl)
			},
			func() error { return s.IP("-6", "rule", "add", "from", back6.String(), "lookup", tbl) },
		); err != nil {
			return err
		}
	}
	if t.o.ClientMTU > 0 {
		return t.routeToClient()
	}
	return nil
}

// addAddrs gives dev host number n on both families' prefixes (no DAD, so
// IPv6 is usable at once).
func addAddrs(ns *netns.NS, dev string, n int, p4, p6 netip.Prefix) error {
	return must(
		func() error {
			return ns.IP("addr", "add", fmt.Sprintf("%s/%d", host(p4, n), p4.Bits()), "dev", dev)
		},
		func() error {
			return ns.IP("-6", "addr", "add", fmt.Sprintf("%s/%d", host(p6, n), p6.Bits()), "dev", dev, "nodad")
		},
	)
}

// noOffloads turns checksum and segmentation offloads off on a veth end,
// so the lab carries what a real wire does: a veth otherwise hands on
// packets whose TCP/UDP checksum is only a partial sum for a NIC to finish
// (a director forwarding the raw bytes would pass that on), and 64 KiB
// super-packets.
func noOffloads(ns *netns.NS, dev string) error {
	out, err := ns.Run(context.Background(), "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
	if err != nil {
		return fmt.Errorf("lab: ethtool -K %s in %s: %v (%s)", dev, ns.Name(), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startServers starts the HTTP real servers and, for TUN, the decapsulator
// on each server's back port.
func (t *Topo) startServers() error {
	prog := t.o.Server
	if prog == "auto" {
		prog = "go"
		if _, err := exec.LookPath("nginx"); err == nil {
			prog = "nginx"
		}
	}
	switch prog {
	case "nginx":
		t.ServerProgram = "nginx"
	case "go":
		t.ServerProgram = "vsd lab-server"
	case "mixed":
		t.ServerProgram = "nginx and vsd lab-server"
	default:
		return fmt.Errorf("lab: server %q: use auto, nginx, go or mixed", t.o.Server)
	}
	for i, s := range t.Servers {
		name := t.ServerNames[i]
		var err error
		var p *netns.Proc
		if prog == "nginx" || (prog == "mixed" && i%2 == 0) {
			err = t.startNginx(s, name)
		} else {
			p, err = s.Start("httpd", t.o.Exe, "lab-server", "--name", name,
				"--listen", fmt.Sprintf(":%d,[::]:%d", t.o.Port, t.o.Port))
		}
		t.httpd = append(t.httpd, p)
		if err != nil {
			return err
		}
		if t.has(TUN) {
			vips := VIP(TUN, false).String() + "," + VIP(TUN, true).String()
			if _, err := s.Start("decap", t.o.Exe, "decap", "--dev", "back", "--vip", vips); err != nil {
				return err
			}
		}
	}
	t.step("real servers: %d × %s on port %d%s", len(t.Servers), t.ServerProgram, t.o.Port,
		map[bool]string{true: ", vsd decap on their back ports for TUN", false: ""}[t.has(TUN)])
	// Wait until every server answers locally (bounded).
	for i, s := range t.Servers {
		addr := host(back4, hostServer1+i)
		if err := waitTCP(s, netip.AddrPortFrom(addr, t.o.Port), 10*time.Second); err != nil {
			return fmt.Errorf("lab: real server %s did not start: %w", t.ServerNames[i], err)
		}
	}
	return nil
}

// serverLog returns the log of Go real server i ("" for nginx).
func (t *Topo) serverLog(i int) string {
	if i < len(t.httpd) && t.httpd[i] != nil {
		return t.httpd[i].Log()
	}
	return ""
}

func (t *Topo) has(m Method) bool {
	for _, x := range t.o.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// nginxConf is a complete nginx configuration for one real server that
// answers every request with "NAME CLIENT-ADDRESS".
const nginxConf = `worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 100000;
    server {
        listen %[3]d reuseport;
        listen [::]:%[3]d reuseport;
        default_type text/plain;
        location / { return 200 "%[2]s $remote_addr\n"; }
    }
}
`

func (t *Topo) startNginx(s *netns.NS, name string) error {
	dir := filepath.Join(t.Lab.Dir(), "nginx-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, name, t.o.Port)), 0o644); err != nil {
		return err
	}
	_, err := s.Start("nginx", "nginx", "-c", conf, "-e", filepath.Join(dir, "error.log"))
	return err
}

// waitTCP waits until addr accepts a TCP connection from inside ns.
func waitTCP(ns *netns.NS, addr netip.AddrPort, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ns.Do(func() error {
			c, err := net.DialTimeout("tcp", addr.String(), 500*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Config returns the vsd configuration of the lab.
func (t *Topo) Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# vsd lab: written by BuildTopo\ninterfaces:\n  - name: front\n  - name: back\n")
	fmt.Fprintf(&b, "datapath: %s\ncontrol:\n  socket: %s\nservices:\n", t.o.Datapath, t.Socket)
	for _, m := range t.o.Methods {
		for _, v6 := range []bool{false, true} {
			fmt.Fprintf(&b, "  - proto: tcp\n    vip: %s\n    port: %d\n    scheduler: %s\n", VIP(m, v6), t.o.Port, t.o.Scheduler)
			if t.o.SynProxy && m == NAT {
				b.WriteString("    syn_proxy: true\n")
			}
			b.WriteString("    real_servers:\n")
			for i := range t.Servers {
				p := back4
				if v6 {
					p = back6
				}
				fmt.Fprintf(&b, "      - addr: %s\n        method: %s\n", host(p, hostServer1+i), m)
				if m == TUN {
					fmt.Fprintf(&b, "        tunnel: ipip\n")
				}
			}
		}
	}
	b.WriteString(t.o.ExtraServices)
	b.WriteString(t.o.ExtraConfig)
	return b.String()
}

// startVSD writes the configuration and starts vsd in the director
// namespace, waiting until its control socket answers.
func (t *Topo) startVSD(ctx context.Context) error {
	t.Socket = filepath.Join(t.Lab.Dir(), "vsd.sock")
	t.ConfigPath = filepath.Join(t.Lab.Dir(), "vsd.yaml")
	if err := os.WriteFile(t.ConfigPath, []byte(t.Config()), 0o644); err != nil {
		return err
	}
	return t.StartVSD(ctx)
}

// StartVSD (re)starts vsd with the lab's configuration file and waits until
// it serves its control socket.
func (t *Topo) StartVSD(ctx context.Context) error {
	p, err := t.Director.Start("vsd", t.o.Exe, "run", "--config", t.ConfigPath)
	if err != nil {
		return err
	}
	t.VSD = p
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := t.Status(); err == nil {
			break
		}
		select {
		case <-p.Done():
			return fmt.Errorf("lab: vsd exited: %v\n%s", p.Wait(), p.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: vsd did not serve %s within 15 s\n%s", t.Socket, p.Log())
		}
	}
	t.step("director: %s", strings.TrimSpace(lastLine(p.Log(), "running on")))
	return nil
}

// StopVSD stops vsd with sig (SIGTERM: clean shutdown; SIGKILL: a crash).
func (t *Topo) StopVSD(sig syscall.Signal) error {
	if t.VSD == nil {
		return nil
	}
	err := t.VSD.Stop(sig, 10*time.Second)
	t.VSD = nil
	return err
}

func lastLine(log, containing string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], containing) {
			return lines[i]
		}
	}
	return ""
}

// client is an API client of the lab's vsd, for one call.
func (t *Topo) client() (*api.Client, context.Context, func()) {
	c := api.NewClient(t.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	return c, ctx, func() { cancel(); c.Close() }
}

// Listing returns vsd's table as `ipvsadm -L -n` prints it.
func (t *Topo) Listing() (string, error) {
	c, ctx, done := t.client()
	defer done()
	return c.Listing(ctx)
}

// Status returns vsd's status.
func (t *Topo) Status() (*api.Status, error) {
	c, ctx, done := t.client()
	defer done()
	st, err := c.Status(ctx)
	if err == nil && st.Link == nil {
		st.Link = &api.LinkStatus{} // control plane only: no datapath counters
	}
	return st, err
}

// Reload asks vsd to re-read its file.
func (t *Topo) Reload() (string, error) {
	c, ctx, done := t.client()
	defer done()
	return c.Reload(ctx)
}

// Fetch runs the lab client in the client namespace against url.
func (t *Topo) Fetch(ctx context.Context, url string, n, conc int, keepAlive bool) (*LoadResult, error) {
	args := []string{t.o.Exe, "lab-client", "--url", url, "-n", fmt.Sprint(n), "-c", fmt.Sprint(conc)}
	if !keepAlive {
		args = append(args, "--close")
	}
	out, err := t.Client.Run(ctx, args...)
	if err != nil {
		return nil, err
	}
	var r LoadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("lab client: %v: %q", err, out)
	}
	return &r, nil
}

// URL is the lab's URL of method m's service in family v6.
func (t *Topo) URL(m Method, v6 bool) string {
	return "http://" + netip.AddrPortFrom(VIP(m, v6), t.o.Port).String() + "/"
}

// Close stops everything and removes the namespaces.
func (t *Topo) Close() error {
	if t == nil || t.Lab == nil {
		return nil
	}
	return t.Lab.Close()
}
