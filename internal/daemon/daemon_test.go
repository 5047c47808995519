package daemon

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/config"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/roottest"
	"github.com/vsd/vsd/internal/steer"
)

const controlOnly = `services:
  - proto: tcp
    vip: 10.0.0.80
    port: 80
    scheduler: rr
    real_servers:
      - addr: 172.16.0.11
        method: nat
      - addr: 172.16.0.12
        method: nat
  - proto: udp
    vip: 2001:db8::53
    port: 53
    real_servers:
      - addr: 2001:db8:1::1
        method: dr
`

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "vsd.yaml")
	body = "control:\n  socket: " + filepath.Join(dir, "vsd.sock") + "\n" + body
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func get(t *testing.T, sock, method, path string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	req, _ := http.NewRequest(method, "http://vsd"+path, nil)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControlPlaneOnly: with no interfaces the daemon keeps and lists the
// services, reloads, refuses a bad reload without changing anything, and
// removes its socket on Close.
func TestControlPlaneOnly(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, controlOnly)
	var logBuf bytes.Buffer
	d, err := Start(Options{ConfigPath: path, Log: &logBuf})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "vsd.sock")
	code, body := get(t, sock, "GET", "/v1/listing")
	if code != 200 || !strings.Contains(body, "TCP  10.0.0.80:80 rr") || !strings.Contains(body, "-> 172.16.0.12:80") ||
		!strings.Contains(body, "UDP  [2001:db8::53]:53 wlc") {
		t.Fatalf("listing %d:\n%s", code, body)
	}
	if !strings.Contains(logBuf.String(), "control plane only") {
		t.Errorf("log does not say control plane only:\n%s", logBuf.String())
	}

	// A second daemon on the same socket is refused.
	if _, err := Start(Options{ConfigPath: path, Log: io.Discard}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second daemon on one socket: %v", err)
	}

	// Reload: a third real server.
	writeConfig(t, dir, strings.Replace(controlOnly, "      - addr: 172.16.0.12\n        method: nat\n",
		"      - addr: 172.16.0.12\n        method: nat\n      - addr: 172.16.0.13\n        method: nat\n", 1))
	code, body = get(t, sock, "POST", "/v1/reload")
	if code != 200 || !strings.Contains(body, "real servers +1") {
		t.Fatalf("reload %d: %s", code, body)
	}
	_, listed := get(t, sock, "GET", "/v1/listing")
	if !strings.Contains(listed, "-> 172.16.0.13:80") {
		t.Fatalf("after reload:\n%s", listed)
	}

	// A bad file: refused with the file, line and field; nothing changes.
	writeConfig(t, dir, strings.Replace(controlOnly, "port: 80", "port: http", 1))
	code, body = get(t, sock, "POST", "/v1/reload")
	if code == 200 || !strings.Contains(body, `services[0].port: "http" is not a number`) {
		t.Errorf("bad reload %d: %s", code, body)
	}
	if _, again := get(t, sock, "GET", "/v1/listing"); again != listed {
		t.Errorf("a refused reload changed the listing:\n%s\nwas:\n%s", again, listed)
	}
	if code, body := get(t, sock, "GET", "/v1/status"); code != 200 || !strings.Contains(body, `"services": 2`) {
		t.Errorf("status %d: %s", code, body)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStaleSocketReplaced: a socket file left by a killed daemon is taken over.
func TestStaleSocketReplaced(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, controlOnly)
	sock := filepath.Join(dir, "vsd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens: what SIGKILL leaves
	d, err := Start(Options{ConfigPath: path, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if code, _ := get(t, sock, "GET", "/v1/listing"); code != 200 {
		t.Fatalf("listing: %d", code)
	}
}

// TestMatchOf: what the BPF programs are told to send to vsd.
func TestMatchOf(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(controlOnly))
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := matchOf(set.Snapshot())
	a := netip.MustParseAddr
	has := func(list []steer.Endpoint, e steer.Endpoint) bool {
		for _, x := range list {
			if x == e {
				return true
			}
		}
		return false
	}
	for _, e := range []steer.Endpoint{
		{Proto: uint8(packet.ProtoTCP), Addr: a("10.0.0.80"), Port: 80},
		{Proto: uint8(packet.ProtoICMP), Addr: a("10.0.0.80")},
		{Proto: uint8(packet.ProtoUDP), Addr: a("2001:db8::53"), Port: 53},
		{Proto: uint8(packet.ProtoICMPv6), Addr: a("2001:db8::53")},
	} {
		if !has(m.Services, e) {
			t.Errorf("Services lacks %+v: %+v", e, m.Services)
		}
	}
	for _, e := range []steer.Endpoint{
		{Proto: uint8(packet.ProtoTCP), Addr: a("172.16.0.11"), Port: 80},
		{Proto: uint8(packet.ProtoTCP), Addr: a("172.16.0.12"), Port: 80},
		{Proto: uint8(packet.ProtoICMP), Addr: a("172.16.0.11")},
	} {
		if !has(m.Replies, e) {
			t.Errorf("Replies lacks %+v: %+v", e, m.Replies)
		}
	}
	// DR real servers' replies never come back through the director.
	for _, e := range m.Replies {
		if e.Addr == a("2001:db8:1::1") {
			t.Errorf("a DR real server is in Replies: %+v", e)
		}
	}
	if len(m.VIPs) != 2 || len(m.Services) != 4 || len(m.Replies) != 4 {
		t.Errorf("match sizes: %d VIPs, %d services, %d replies", len(m.VIPs), len(m.Services), len(m.Replies))
	}
}

// TestMatchOfTunnels: the BPF programs are told the IPv4 TUN real servers
// (IPIP, GUE with its tunnel port), of every service including
// firewall-mark ones, once each; not IPv6 ones, nor other methods.
func TestMatchOfTunnels(t *testing.T) {
	const body = `services:
  - proto: tcp
    vip: 10.0.0.80
    port: 80
    real_servers:
      - addr: 172.16.1.5
        method: tun
        tunnel: ipip
      - addr: 172.16.1.6
        method: tun
        tunnel: gue
        tunnel_port: 6080
      - addr: 172.16.1.8
        method: nat
  - proto: udp
    vip: 10.0.0.80
    port: 53
    real_servers:
      - addr: 172.16.1.5
        method: tun
      - addr: 172.16.1.6
        method: tun
        tunnel: gue
        tunnel_port: 6081
      - addr: 172.16.1.9
        method: dr
  - proto: tcp
    vip: 2001:db8::80
    port: 80
    real_servers:
      - addr: 2001:db8:1::5
        method: tun
  - fwmark: 7
    real_servers:
      - addr: 172.16.1.7
        method: tun
`
	cfg, err := config.Parse("t.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := matchOf(set.Snapshot())
	a := netip.MustParseAddr
	ipip, udp := uint8(packet.ProtoIPIP), uint8(packet.ProtoUDP)
	want := map[steer.Endpoint]bool{
		{Proto: ipip, Addr: a("172.16.1.5")}:            true,
		{Proto: udp, Addr: a("172.16.1.6"), Port: 6080}: true,
		{Proto: udp, Addr: a("172.16.1.6"), Port: 6081}: true,
		{Proto: ipip, Addr: a("172.16.1.7")}:            true,
	}
	got := map[steer.Endpoint]bool{}
	for _, e := range m.Tunnels {
		if got[e] {
			t.Errorf("Tunnels holds %+v twice", e)
		}
		got[e] = true
	}
	for e := range want {
		if !got[e] {
			t.Errorf("Tunnels lacks %+v: %+v", e, m.Tunnels)
		}
	}
	for e := range got {
		if !want[e] {
			t.Errorf("Tunnels holds %+v, which is no IPv4 TUN real server: %+v", e, m.Tunnels)
		}
	}
	// The steering maps take it as it is.
	t.Run("maps", func(t *testing.T) {
		roottest.Require(t, "creating BPF maps")
		maps, err := steer.NewMaps(16)
		if err != nil {
			t.Fatal(err)
		}
		defer maps.Close()
		if err := maps.Update(m); err != nil {
			t.Errorf("steer rejects the match: %v", err)
		}
	})
}
