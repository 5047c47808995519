package daemon

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
)

// TestAPIChangesAndReload: a change made through the control API is in the
// daemon's table; a reload of a file without a services key leaves it; a
// reload of a file with one makes the table the file's again. The
// proc_dir files appear and follow the table.
func TestAPIChangesAndReload(t *testing.T) {
	dir := t.TempDir()
	procDir := filepath.Join(dir, "proc")
	path := writeConfig(t, dir, "control:\n  proc_dir: "+procDir+"\n")
	// writeConfig put a control key first; merge the two into one.
	body, _ := os.ReadFile(path)
	merged := strings.Replace(string(body), "\ncontrol:\n", "\n", 1)
	if err := os.WriteFile(path, []byte(merged), 0o644); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	d, err := Start(Options{ConfigPath: path, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := api.NewClient(filepath.Join(dir, "vsd.sock"))
	ctx := context.Background()
	svc := &api.Service{ServiceKey: api.ServiceKey{Protocol: api.TCP, Addr: netip.MustParseAddr("10.1.1.1"), Port: 80}, Scheduler: "wrr"}
	if err := c.Apply(ctx, api.Op{Kind: api.AddService, Service: svc},
		api.Op{Kind: api.AddDest, Service: svc, Dest: &api.Dest{DestKey: api.DestKey{Addr: netip.MustParseAddr("10.2.2.2"), Port: 80}, Method: api.Masq, Weight: 3}}); err != nil {
		t.Fatal(err)
	}
	tab, err := c.Table(ctx)
	if err != nil || len(tab.Services) != 1 || len(tab.Services[0].Dests) != 1 || tab.Services[0].Dests[0].Weight != 3 {
		t.Fatalf("table after the change: %+v %v", tab, err)
	}
	if len(d.eng.Snapshot().Services) != 1 {
		t.Fatal("the engine did not get the new snapshot")
	}
	if want := "vsd: control: applied 2 changes: add-service TCP 10.1.1.1:80 scheduler wrr; add-server TCP 10.1.1.1:80 -> 10.2.2.2:80 Masq weight 3\n"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	// The proc view follows within one estimator interval (2 s).
	want := "TCP  0A010101:0050 wrr  \n  -> 0A020202:0050      Masq    3      0          0         \n"
	deadline := time.Now().Add(6 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(procDir, "net", "ip_vs"))
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proc_dir/net/ip_vs never showed the service; last:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(procDir, "net", "ip_vs_stats")); err != nil || !strings.HasPrefix(string(b), "   Total Incoming") {
		t.Errorf("ip_vs_stats: %q %v", b, err)
	}

	if msg, err := d.Reload(); err != nil || !strings.Contains(msg, "services left as they are") {
		t.Fatalf("reload without services: %q %v", msg, err)
	}
	if tab, _ := c.Table(ctx); len(tab.Services) != 1 {
		t.Fatalf("a reload of a file without services changed the table: %+v", tab)
	}
	if err := os.WriteFile(path, []byte(merged+controlOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	tab, _ = c.Table(ctx)
	if len(tab.Services) != 2 || tab.Find(svc.ServiceKey) != nil {
		t.Fatalf("a reload of a file with services did not make the table the file's: %+v", tab)
	}
}

// TestNoConfigFile: `vsd run` without --config is a control plane on the
// socket $VSD_SOCKET names, with an empty table for vsadm; a reload says
// there is nothing to reload.
func TestNoConfigFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vsd.sock")
	t.Setenv("VSD_SOCKET", sock)
	d, err := Start(Options{Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := api.NewClient("")
	defer c.Close()
	tab, err := c.Table(context.Background())
	if err != nil || len(tab.Services) != 0 {
		t.Fatalf("table %+v %v", tab, err)
	}
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "nothing to reload") {
		t.Errorf("reload without a file: %v", err)
	}
}

// lockedBuffer is a log writer safe for the daemon's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
