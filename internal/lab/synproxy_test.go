package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSYNFloodSynProxy: the NAT service has syn_proxy on (SYN cookies). A
// SYN flood from spoofed sources (30,000/s for 8 s from 500,000 sources;
// FLOOD=long: vsflood's maximum rate from 1,000,000 sources for 60 s)
// must create no connection entries at all — every flood SYN is answered
// with a cookie — while a real client's requests through the proxied
// service succeed (≥ 99 %). Before the flood the added latency of the
// proxy is measured: sequential new connections through the proxied
// service and through the same real servers behind a plain NAT service
// (port 81), alternately, reported as a ratio.
func TestSYNFloodSynProxy(t *testing.T) {
	needRoot(t, "ethtool")
	o := floodOptions{rate: 30000, duration: 8 * time.Second, sources: 500000}
	if os.Getenv("FLOOD") == "long" {
		o = floodOptions{rate: 0, duration: 60 * time.Second, sources: 1000000}
	}
	var plain strings.Builder
	plain.WriteString("  - proto: tcp\n    vip: " + VIP(NAT, false).String() + "\n    port: 81\n    scheduler: sh\n    real_servers:\n")
	for i := range 3 {
		fmt.Fprintf(&plain, "      - addr: %s\n        port: 80\n        method: nat\n", host(back4, hostServer1+i))
	}
	topo := buildTopo(t, TopoOptions{Prefix: "vsdsynp", Server: "go", Methods: []Method{NAT}, Scheduler: "sh", SynProxy: true,
		ExtraServices: plain.String(), ExtraConfig: "table:\n  budget: 16777216\n"})
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+3*time.Minute)
	defer cancel()

	proxied := topo.URL(NAT, false)
	direct := "http://" + netip.AddrPortFrom(VIP(NAT, false), 81).String() + "/"
	// Latency: 5 rounds of 100 sequential new connections each way.
	var tp, td time.Duration
	var np, nd int
	for range 5 {
		for _, c := range []struct {
			url string
			d   *time.Duration
			n   *int
		}{{proxied, &tp, &np}, {direct, &td, &nd}} {
			r, err := topo.Fetch(ctx, c.url, 100, 1, false)
			if err != nil {
				t.Fatalf("%s: %v", c.url, err)
			}
			if r.OK != r.Requests {
				st, _ := topo.Status()
				t.Fatalf("%s before the flood: %d of %d ok (%s); vsd drops %v events %v", c.url, r.OK, r.Requests, r.FirstErr, st.Drops, st.Events)
			}
			*c.d += r.Elapsed
			*c.n += r.Requests
		}
	}
	perP, perD := tp/time.Duration(np), td/time.Duration(nd)
	t.Logf("new connection + request, sequential: syn_proxy %v, plain NAT %v (ratio %.2f, added %v)",
		perP, perD, float64(perP)/float64(perD), perP-perD)
	before, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	if before.Events["syn_proxy_open"] < uint64(np) {
		t.Errorf("only %d proxied joins for %d proxied connections", before.Events["syn_proxy_open"], np)
	}

	fl := openSYNFlood(t, topo, o)
	done := runFlood(ctx, fl)
	time.Sleep(o.duration / 8)
	var peak int64
	legit, err := topo.Fetch(ctx, proxied, 400, 4, false)
	if err != nil {
		t.Fatalf("client during the flood: %v", err)
	}
	if st, err := topo.Status(); err == nil {
		peak = st.Connections
	}
	fd := <-done
	if fd.err != nil {
		t.Fatalf("vsflood: %v", fd.err)
	}
	st, err := topo.Status()
	if err != nil {
		t.Fatal(err)
	}
	peak = max(peak, st.Connections)
	cookies := st.Events["syn_cookie"] - before.Events["syn_cookie"]
	t.Logf("vsflood: %s", fd.res.String())
	t.Logf("during the flood: %d of %d proxied requests ok; %d SYN cookies sent; peak %d entries; drops %v; events %v",
		legit.OK, legit.Requests, cookies, peak, st.Drops, st.Events)
	if legit.OK*100 < legit.Requests*99 {
		t.Errorf("only %d of %d legitimate requests succeeded (want ≥ 99 %%; first error: %s)", legit.OK, legit.Requests, legit.FirstErr)
	}
	// The flood made no entries: only the real client's connections (at
	// most the 1,000 made in this test, most still in TIME_WAIT) are there.
	if limit := int64(np + nd + legit.Requests); peak > limit {
		t.Errorf("peak %d entries: the flood made entries (real connections: at most %d)", peak, limit)
	}
	if received := st.Frames - before.Frames; cookies < received/2 {
		t.Errorf("%d SYN cookies for %d frames received during the flood", cookies, received)
	}
	var counted uint64
	for _, n := range st.Drops {
		counted += n
	}
	if counted != st.Drop {
		t.Errorf("%d frames dropped but %d counted under a reason (%v)", st.Drop, counted, st.Drops)
	}
}
