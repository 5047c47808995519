package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/netns"
)

// Helpers of the issue 6 lab tests (path MTU, fragments, ICMP junk): extra
// services added through the API, and real servers run by the test
// process itself inside the real servers' namespaces (a socket keeps the
// namespace it was opened in), so they can serve and check bulk data.

// apiMethod maps a lab method to the API's.
func apiMethod(m Method) api.Method {
	switch m {
	case NAT:
		return api.Masq
	case DR:
		return api.Route
	}
	return api.Tunnel
}

// serverAddr is real server i's back-segment address (the NAT target and
// the address the director forwards DR/TUN packets to).
func serverAddr(i int, v6 bool) netip.Addr {
	if v6 {
		return host(back6, hostServer1+i)
	}
	return host(back4, hostServer1+i)
}

// addServices adds, through the API, a proto service on port for every
// method of the lab and both families, rr over every real server on the
// same port.
func addServices(t *testing.T, topo *Topo, proto api.Protocol, port uint16) {
	t.Helper()
	var ops []api.Op
	for _, m := range topo.o.Methods {
		for _, v6 := range []bool{false, true} {
			key := api.ServiceKey{Protocol: proto, Addr: VIP(m, v6), Port: port}
			ops = append(ops, api.Op{Kind: api.AddService, Service: &api.Service{ServiceKey: key, Scheduler: "rr"}})
			for i := range topo.Servers {
				d := &api.Dest{DestKey: api.DestKey{Addr: serverAddr(i, v6), Port: port}, Method: apiMethod(m), Weight: 1}
				if m == TUN {
					d.TunType = api.TunIPIP
				}
				ops = append(ops, api.Op{Kind: api.AddDest, Service: &api.Service{ServiceKey: key}, Dest: d})
			}
		}
	}
	c, ctx, done := topo.client()
	defer done()
	if err := c.Apply(ctx, ops...); err != nil {
		t.Fatalf("adding the %s services on port %d: %v", proto, port, err)
	}
}

// setTunable sets one of vsd's tunables through the API (vsadm --sysctl).
func setTunable(topo *Topo, name string, value int64) error {
	c, ctx, done := topo.client()
	defer done()
	return c.Apply(ctx, api.Op{Kind: api.SetTunable, Tunable: &api.Tunable{Name: name, Value: value}})
}

// addClientAddr gives the client host n of its segment in family v6 (no
// DAD) and returns it. A fresh client address is a fresh path for every
// real server: nothing they learnt about another address (a path MTU)
// applies to it.
func addClientAddr(t *testing.T, topo *Topo, v6 bool, n int) netip.Addr {
	t.Helper()
	a := topo.ClientHost(v6, n)
	args := []string{"addr", "add", fmt.Sprintf("%s/%d", a, topo.ClientNet(v6).Bits()), "dev", "eth0"}
	if v6 {
		args = append([]string{"-6"}, append(args, "nodad")...)
	}
	if err := topo.Client.IP(args...); err != nil {
		t.Fatal(err)
	}
	return a
}

// bulkBody is the deterministic body the bulk servers send: bulkSize
// bytes of a seeded ChaCha8 stream (incompressible, no repeats that could
// hide a misplaced segment).
const bulkSize = 4 << 20

var bulkBody = sync.OnceValue(func() []byte {
	b := make([]byte, bulkSize)
	r := rand.NewChaCha8([32]byte{'v', 's', 'd', '6'})
	r.Read(b)
	return b
})

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// bulkServers are HTTP real servers run by the test process, one per real
// server namespace, listening on both families:
//
//	GET /bulk          the 4 MiB bulkBody
//	PUT or POST /upload   reads the body, answers "NAME LENGTH SHA256"
//
// Each answer carries X-Server: NAME; served records the server of every
// request by the client's address.
type bulkServers struct {
	mu     sync.Mutex
	served map[netip.Addr]int // client address → server index
}

func startBulkServers(t *testing.T, topo *Topo, port uint16) *bulkServers {
	t.Helper()
	bs := &bulkServers{served: map[netip.Addr]int{}}
	for i, s := range topo.Servers {
		name := topo.ServerNames[i]
		var ln net.Listener
		if err := s.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)) // both families
			return err
		}); err != nil {
			t.Fatalf("bulk server in %s: %v", name, err)
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
				bs.mu.Lock()
				bs.served[ap.Addr().Unmap()] = i
				bs.mu.Unlock()
			}
			w.Header().Set("X-Server", name)
			switch {
			case r.URL.Path == "/bulk" && r.Method == http.MethodGet:
				w.Header().Set("Content-Length", fmt.Sprint(bulkSize))
				w.Write(bulkBody())
			case r.URL.Path == "/upload" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
				h := sha256.New()
				n, err := io.Copy(h, r.Body)
				if err != nil {
					http.Error(w, fmt.Sprintf("%s: reading the body after %d bytes: %v", name, n, err), http.StatusBadRequest)
					return
				}
				fmt.Fprintf(w, "%s %d %s\n", name, n, hex.EncodeToString(h.Sum(nil)))
			default:
				http.NotFound(w, r)
			}
		})
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return bs
}

// server returns the index of the real server that served client a (-1
// if none did).
func (bs *bulkServers) server(a netip.Addr) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if i, ok := bs.served[a]; ok {
		return i
	}
	return -1
}

// routeMTU returns the path MTU the kernel of ns holds for dst from src
// (a cached exception learnt from ICMP), or 0 if it holds none.
func routeMTU(ctx context.Context, ns *netns.NS, dst, src netip.Addr) (int, string) {
	fam := "-4"
	if dst.Is6() {
		fam = "-6"
	}
	out, err := ns.Run(ctx, "ip", fam, "route", "get", dst.String(), "from", src.String())
	if err != nil {
		return 0, err.Error()
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mtu" {
			var n int
			fmt.Sscan(f[i+1], &n)
			return n, strings.TrimSpace(string(out))
		}
	}
	return 0, strings.TrimSpace(string(out))
}

// famName names a family in subtest names and messages.
func famName(v6 bool) string {
	if v6 {
		return "ipv6"
	}
	return "ipv4"
}

// dropsBy returns the drop counters of st with the given name prefixes
// summed, and the names found.
func dropsBy(st *api.Status, names ...string) (uint64, []string) {
	var n uint64
	var found []string
	for _, name := range names {
		if v, ok := st.Drops[name]; ok {
			n += v
			found = append(found, name)
		}
	}
	return n, found
}
