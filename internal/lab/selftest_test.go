package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/netns"
)

// The kernel selftest ipvs.sh (interfaces.md §6), with vsd as the director
// instead of kernel IPVS: the same namespaces, addresses and modes, the same
// 32 random bytes through socat — plus the checks the selftest lacks: the
// real server must see the client's own address, and in DR and TUN the
// replies must leave the real server by its direct link to the client, not
// through the director.
const (
	stCIP  = "10.0.0.2"
	stGIP  = "10.0.0.1"
	stDIP  = "172.16.0.1"
	stRIP  = "172.16.0.2"
	stSIP  = "10.0.0.3"
	stVIP  = "207.175.44.110"
	stPort = "8080"
)

type selftest struct {
	lab           *netns.Lab
	ns0, ns1, ns2 *netns.NS
	dir           string
	vsd           *netns.Proc
}

func setupSelftest(t *testing.T, mode string) *selftest {
	t.Helper()
	lab, err := netns.New("ipvs" + mode)
	if err != nil {
		t.Fatal(err)
	}
	s := &selftest{lab: lab, dir: lab.Dir()}
	t.Cleanup(func() {
		if t.Failed() && s.vsd != nil {
			t.Logf("vsd log:\n%s", s.vsd.Log())
		}
		if err := lab.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, p := range []struct {
		ns   **netns.NS
		name string
	}{{&s.ns0, "ns0"}, {&s.ns1, "ns1"}, {&s.ns2, "ns2"}} {
		if *p.ns, err = lab.NS(p.name); err != nil {
			t.Fatal(err)
		}
	}
	ns0, ns1, ns2 := s.ns0, s.ns1, s.ns2
	steps := []func() error{}
	// ipvs.sh is IPv4 only; without IPv6 no router solicitation or MLD
	// report muddies the interface counters the checks read.
	for _, ns := range []*netns.NS{ns0, ns1, ns2} {
		steps = append(steps,
			func() error { return ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1") },
			func() error { return ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1") })
	}
	steps = append(steps,
		func() error { return lab.Veth(ns0, "veth01", ns1, "veth10") },
		func() error { return lab.Veth(ns0, "veth02", ns2, "veth20") },
		func() error { return lab.Veth(ns1, "veth12", ns2, "veth21") },
		func() error { return ns0.IP("link", "add", "br0", "type", "bridge") },
		func() error { return ns0.IP("link", "set", "veth01", "master", "br0") },
		func() error { return ns0.IP("link", "set", "veth02", "master", "br0") },
		func() error { return ns0.IP("link", "set", "br0", "up") },
		func() error { return ns0.IP("addr", "add", stCIP+"/24", "dev", "br0") },
		func() error { return ns0.IP("route", "add", stVIP, "via", stGIP, "dev", "br0") },
		func() error { return ns1.IP("addr", "add", stGIP+"/24", "dev", "veth10") },
		func() error { return ns1.IP("addr", "add", stDIP+"/24", "dev", "veth12") },
		func() error { return ns1.IP("addr", "add", stVIP+"/32", "dev", "lo", "label", "lo:1") },
		func() error { return ns2.IP("addr", "add", stRIP+"/24", "dev", "veth21") },
		func() error { return ns2.IP("addr", "add", stSIP+"/24", "dev", "veth20") },
	)
	for _, dev := range []struct {
		ns  *netns.NS
		dev string
	}{{ns0, "veth01"}, {ns0, "veth02"}, {ns1, "veth10"}, {ns1, "veth12"}, {ns2, "veth21"}, {ns2, "veth20"}} {
		steps = append(steps, func() error { return noOffloads(dev.ns, dev.dev) })
	}
	if err := must(steps...); err != nil {
		t.Fatal(err)
	}
	return s
}

// startDirector writes the service (ipvsadm -A -t VIP:8080 -s rr; -a -r
// RIP:8080 with the mode's method) and starts vsd in ns1.
func (s *selftest) startDirector(t *testing.T, method string) {
	t.Helper()
	sock := filepath.Join(s.dir, "vsd.sock")
	cfg := fmt.Sprintf(`interfaces:
  - name: veth10
  - name: veth12
control:
  socket: %s
services:
  - proto: tcp
    vip: %s
    port: %s
    scheduler: rr
    real_servers:
      - addr: %s
        port: %s
        method: %s
`, sock, stVIP, stPort, stRIP, stPort, method)
	path := filepath.Join(s.dir, "vsd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := s.ns1.Start("vsd", vsdBinary(t), "run", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	s.vsd = p
	waitFor(t, 15*time.Second, func() bool {
		_, err := os.Stat(sock)
		select {
		case <-p.Done():
			t.Fatalf("vsd exited: %v\n%s", p.Wait(), p.Log())
		default:
		}
		return err == nil && strings.Contains(p.Log(), "running on")
	})
}

// transfer is the selftest's check: 32 random bytes from ns0 to VIP:8080
// must arrive unchanged at the socat listener in ns2. It returns the peer
// address the server saw.
func (s *selftest) transfer(t *testing.T) string {
	t.Helper()
	in := make([]byte, 32)
	rand.Read(in)
	inFile := filepath.Join(s.dir, "infile")
	outFile := filepath.Join(s.dir, "outfile")
	peerFile := filepath.Join(s.dir, "peer")
	os.Remove(outFile)
	os.Remove(peerFile)
	if err := os.WriteFile(inFile, in, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := s.ns2.Start("socat-server", "timeout", "5", "socat", "-u", "-4", "TCP-LISTEN:"+stPort+",reuseaddr",
		"SYSTEM:echo $SOCAT_PEERADDR > "+peerFile+"; cat > "+outFile)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := s.ns0.Run(ctx, "sh", "-c", "timeout 2 socat -u -4 STDIN TCP:"+stVIP+":"+stPort+" < "+inFile); err != nil {
		t.Fatalf("client socat: %v %s", err, out)
	}
	<-srv.Done()
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatalf("the server wrote nothing: %v\n%s", err, srv.Log())
	}
	if !bytes.Equal(got, in) {
		t.Fatalf("cmp: the server received %x, the client sent %x", got, in)
	}
	peer, _ := os.ReadFile(peerFile)
	return strings.TrimSpace(string(peer))
}

// vipOnServer are the real server's steps for DR and TUN in ipvs.sh: the
// VIP on lo, never announced, and no reverse-path filter (requests arrive
// on veth21, replies leave by veth20).
func (s *selftest) vipOnServer() []func() error {
	return []func() error{
		func() error { return s.ns2.Sysctl("net.ipv4.conf.all.arp_ignore", "1") },
		func() error { return s.ns2.Sysctl("net.ipv4.conf.all.arp_announce", "2") },
		func() error { return s.ns2.Sysctl("net.ipv4.conf.all.rp_filter", "0") },
		func() error { return s.ns2.Sysctl("net.ipv4.conf.veth21.rp_filter", "0") },
		func() error { return s.ns2.IP("addr", "add", stVIP+"/32", "dev", "lo") },
	}
}

func TestSelftestIPVS(t *testing.T) {
	needRoot(t, "socat", "ethtool", "timeout")
	t.Run("DR", func(t *testing.T) {
		s := setupSelftest(t, "dr")
		if err := must(append([]func() error{
			func() error { return s.ns1.Sysctl("net.ipv4.ip_forward", "1") },
		}, s.vipOnServer()...)...); err != nil {
			t.Fatal(err)
		}
		s.startDirector(t, "dr")
		s.checkDirect(t, true)
	})
	t.Run("NAT", func(t *testing.T) {
		s := setupSelftest(t, "nat")
		if err := must(
			func() error { return s.ns1.Sysctl("net.ipv4.ip_forward", "1") },
			func() error { return s.ns2.IP("link", "del", "veth20") },
			func() error { return s.ns2.IP("route", "add", "default", "via", stDIP, "dev", "veth21") },
		); err != nil {
			t.Fatal(err)
		}
		s.startDirector(t, "nat")
		s.checkDirect(t, false)
	})
	t.Run("TUN", func(t *testing.T) {
		s := setupSelftest(t, "tun")
		if err := must(append([]func() error{
			func() error { return s.ns1.Sysctl("net.ipv4.ip_forward", "0") },
			func() error { return s.ns1.Sysctl("net.ipv4.conf.all.send_redirects", "0") },
		}, s.vipOnServer()...)...); err != nil {
			t.Fatal(err)
		}
		// No ipip module here: the shipped decapsulator stands in for tunl0.
		if _, err := s.ns2.Start("decap", vsdBinary(t), "decap", "--dev", "veth21", "--vip", stVIP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		s.startDirector(t, "tun")
		s.checkDirect(t, true)
	})
}

// checkDirect runs the transfer and checks who saw what: the server saw the
// client's address; with direct replies (DR, TUN) the director's client-side
// port sent nothing back and the server's direct link did, with NAT the
// replies came back through the director.
func (s *selftest) checkDirect(t *testing.T, direct bool) {
	t.Helper()
	d0, err := s.ns1.LinkStats("veth10")
	if err != nil {
		t.Fatal(err)
	}
	peer := s.transfer(t)
	d1, err := s.ns1.LinkStats("veth10")
	if err != nil {
		t.Fatal(err)
	}
	if peer != stCIP {
		t.Errorf("the real server saw the connection from %q, want the client %s", peer, stCIP)
	}
	sent := d1.TxPackets - d0.TxPackets
	if direct {
		if sent > 3 {
			t.Errorf("the director sent %d packets towards the client; replies must go straight from the real server", sent)
		}
		st, err := s.ns2.LinkStats("veth20")
		if err != nil {
			t.Fatal(err)
		}
		if st.TxPackets < 3 {
			t.Errorf("the real server's direct link sent only %d packets", st.TxPackets)
		}
	} else if sent < 3 {
		t.Errorf("NAT: the director sent only %d packets towards the client", sent)
	}
}
