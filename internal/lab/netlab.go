package lab

import (
	"context"
	"fmt"
	"github.com/vsd/vsd/api"
	"io"
	"os"
	"strings"
	"time"
)

// NetLabOptions configure RunNetLab (`vsd lab`).
type NetLabOptions struct {
	Exe         string // the vsd binary
	Scheduler   string
	Requests    int // per service
	Concurrency int
	Datapath    string
	Server      string // auto, nginx, go
	IPv4, IPv6  bool
	Keep        bool      // wait for ctx before removing the lab
	Out         io.Writer // the report
	Progress    io.Writer // set-up steps
}

// ServiceResult is what one service of the lab did.
type ServiceResult struct {
	Method   Method
	V6       bool
	URL      string
	Load     *LoadResult
	Err      error
	Problems []string
	// Interface counters over the run: packets the client received, and
	// packets the director sent towards the client (on its front port).
	ClientRx, DirectorFrontTx uint64
	// Counters is what vsd counted for the service over the run (the
	// --stats view's numbers, through the control API).
	Counters api.Stats
}

// NetLabResult is what RunNetLab observed.
type NetLabResult struct {
	Services []ServiceResult
	Table    string
	Datapath string
	Elapsed  time.Duration
}

// OK reports whether every service passed its checks.
func (r *NetLabResult) OK() bool {
	for _, s := range r.Services {
		if s.Err != nil || len(s.Problems) > 0 {
			return false
		}
	}
	return len(r.Services) > 0
}

// RunNetLab builds the LVS in namespaces, drives HTTP through every
// service, checks what it sees, prints a report and removes the lab.
func RunNetLab(ctx context.Context, o NetLabOptions) (*NetLabResult, error) {
	began := time.Now()
	if o.Requests == 0 {
		o.Requests = 300
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	if !o.IPv4 && !o.IPv6 {
		o.IPv4, o.IPv6 = true, true
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	t, err := BuildTopo(ctx, TopoOptions{Exe: o.Exe, Server: o.Server, Datapath: o.Datapath, Scheduler: o.Scheduler, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	stopSig := t.Lab.CloseOnSignal()
	defer func() {
		stopSig()
		t.Close()
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "vsd lab: removed the namespaces, links and processes it created\n")
		}
	}()
	res := &NetLabResult{}
	if st, err := t.Status(); err == nil {
		res.Datapath = st.Datapath
	}
	w := o.Out
	fmt.Fprintf(w, "vsd lab: client %s / %s → vsd (%s) → %d real servers (%s), scheduler %s\n\n",
		ClientAddr(false), ClientAddr(true), res.Datapath, len(t.Servers), t.ServerProgram, t.o.Scheduler)
	for _, m := range t.o.Methods {
		for _, v6 := range []bool{false, true} {
			if (v6 && !o.IPv6) || (!v6 && !o.IPv4) {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sr := t.RunService(ctx, m, v6, o.Requests, o.Concurrency)
			res.Services = append(res.Services, sr)
			sr.Write(w, t.ServerNames)
		}
	}
	res.Table, _ = t.Listing()
	fmt.Fprintf(w, "== director table (vsd, ipvsadm -L -n) ==\n%s\n", res.Table)
	if st, err := t.Status(); err == nil {
		fmt.Fprintf(w, "director: %d frames, %d sent, %d dropped", st.Frames, st.Tx, st.Drop)
		for k, v := range st.Drops {
			fmt.Fprintf(w, ", %s %d", k, v)
		}
		fmt.Fprintf(w, "; %d connections in the table\n", st.Connections)
		fmt.Fprintf(w, "datapath: %d frames lost to full rings on receive, %d on send, %d passed frames lost\n",
			st.Link.RxDropped, st.Link.TxDropped, st.Link.PassLost)
	}
	if o.Keep {
		fmt.Fprintf(o.Progress, "vsd lab: -keep: namespaces %s-* stay until Ctrl-C (try: ip netns exec %s curl %s)\n",
			t.Lab.Prefix(), t.Client.Name(), t.URL(NAT, false))
		<-ctx.Done()
	}
	res.Elapsed = time.Since(began)
	total, failed, bad := 0, 0, 0
	for _, s := range res.Services {
		if s.Load != nil {
			total += s.Load.Requests
			failed += s.Load.Errors
		}
		if s.Err != nil || len(s.Problems) > 0 {
			bad++
		}
	}
	fmt.Fprintf(w, "\nsummary: %d requests, %d failed, %d/%d services passed every check, %v\n",
		total, failed, len(res.Services)-bad, len(res.Services), res.Elapsed.Round(100*time.Millisecond))
	return res, nil
}

// serviceStats reads one service's counters from vsd's control API.
func (t *Topo) serviceStats(ctx context.Context, k api.ServiceKey) (api.Stats, error) {
	c := api.NewClient(t.Socket)
	defer c.Close()
	tab, err := c.Table(ctx)
	if err != nil {
		return api.Stats{}, err
	}
	svc := tab.Find(k)
	if svc == nil {
		return api.Stats{}, fmt.Errorf("vsd has no service %s", k)
	}
	return svc.Stats, nil
}

// RunService drives n requests (one connection each, so the scheduler sees
// every one) through method m's service and checks: no failures, every
// server answered, the servers saw the client's own address, the share
// follows rr, and for DR/TUN the replies did not pass through the director.
func (t *Topo) RunService(ctx context.Context, m Method, v6 bool, n, conc int) ServiceResult {
	sr := ServiceResult{Method: m, V6: v6, URL: t.URL(m, v6)}
	key := api.ServiceKey{Protocol: api.TCP, Addr: VIP(m, v6), Port: t.o.Port}
	c0, err1 := t.Client.LinkStats("eth0")
	d0, err2 := t.Director.LinkStats("front")
	s0, err5 := t.serviceStats(ctx, key)
	sr.Load, sr.Err = t.Fetch(ctx, sr.URL, n, conc, false)
	c1, err3 := t.Client.LinkStats("eth0")
	d1, err4 := t.Director.LinkStats("front")
	s1, err6 := t.serviceStats(ctx, key)
	sr.Counters = api.Stats{Conns: s1.Conns - s0.Conns, InPkts: s1.InPkts - s0.InPkts, OutPkts: s1.OutPkts - s0.OutPkts,
		InBytes: s1.InBytes - s0.InBytes, OutBytes: s1.OutBytes - s0.OutBytes}
	for _, e := range []error{err1, err2, err3, err4, err5, err6} {
		if e != nil && sr.Err == nil {
			sr.Err = e
		}
	}
	if sr.Err != nil {
		return sr
	}
	sr.ClientRx = c1.RxPackets - c0.RxPackets
	sr.DirectorFrontTx = d1.TxPackets - d0.TxPackets
	sr.Problems = t.check(&sr, n)
	return sr
}

func (t *Topo) check(sr *ServiceResult, n int) []string {
	var p []string
	l := sr.Load
	if l.Errors > 0 {
		p = append(p, fmt.Sprintf("%d of %d requests failed (first: %s)", l.Errors, l.Requests, l.FirstErr))
	}
	want := ClientAddr(sr.V6).String()
	for addr, k := range l.Clients {
		if addr != want {
			p = append(p, fmt.Sprintf("%d requests reached a server from %s, not from the client %s", k, addr, want))
		}
	}
	if len(l.ByServer) != len(t.Servers) {
		p = append(p, fmt.Sprintf("%d of %d real servers answered", len(l.ByServer), len(t.Servers)))
	}
	if t.o.Scheduler == "rr" && l.OK == n {
		lo, hi := n/len(t.Servers), (n+len(t.Servers)-1)/len(t.Servers)
		for _, s := range t.ServerNames {
			if k := l.ByServer[s]; k < lo-1 || k > hi+1 {
				p = append(p, fmt.Sprintf("rr gave %s %d of %d connections (want %d..%d)", s, k, n, lo-1, hi+1))
			}
		}
	}
	// vsd's own counters: one connection per request (SYN retransmits
	// create none), at least SYN, ACK, request and FIN in; with NAT the
	// replies counted out, with DR and TUN none (they bypass vsd).
	if c := sr.Counters; c.Conns != uint64(l.Requests) || c.InPkts < uint64(4*l.OK) || c.InBytes < 40*c.InPkts {
		p = append(p, fmt.Sprintf("vsd counted %d connections, %d packets (%d bytes) in for %d requests", c.Conns, c.InPkts, c.InBytes, l.Requests))
	}
	switch out := sr.Counters.OutPkts; {
	case sr.Method == NAT && out < uint64(3*l.OK):
		p = append(p, fmt.Sprintf("NAT: vsd counted only %d packets out for %d requests", out, l.OK))
	case sr.Method != NAT && out != 0:
		p = append(p, fmt.Sprintf("%s: vsd counted %d packets out; replies must bypass it", strings.ToUpper(string(sr.Method)), out))
	}
	// Each request is at least a SYN-ACK, the answer and a FIN towards the
	// client. With NAT all of it leaves the director's front port; with DR
	// and TUN none of it may (a few ARP/NDP answers at most).
	switch sr.Method {
	case NAT:
		if sr.DirectorFrontTx < uint64(3*l.OK) {
			p = append(p, fmt.Sprintf("NAT: only %d packets left the director towards the client for %d requests", sr.DirectorFrontTx, l.OK))
		}
	default:
		if limit := uint64(10 + l.OK/100); sr.DirectorFrontTx > limit {
			p = append(p, fmt.Sprintf("%s: %d packets left the director towards the client (replies must go straight from the real servers; allowed %d)",
				strings.ToUpper(string(sr.Method)), sr.DirectorFrontTx, limit))
		}
		if sr.ClientRx < uint64(3*l.OK) {
			p = append(p, fmt.Sprintf("the client received only %d packets for %d requests", sr.ClientRx, l.OK))
		}
	}
	return p
}

// Write prints one service's result.
func (sr *ServiceResult) Write(w io.Writer, servers []string) {
	fam := "IPv4"
	if sr.V6 {
		fam = "IPv6"
	}
	fmt.Fprintf(w, "== %s %s %s ==\n", strings.ToUpper(string(sr.Method)), fam, sr.URL)
	if sr.Err != nil {
		fmt.Fprintf(w, "  error: %v\n\n", sr.Err)
		return
	}
	l := sr.Load
	fmt.Fprintf(w, "  %d requests (a connection each) in %v: %d ok, %d failed\n", l.Requests, l.Elapsed.Round(time.Millisecond), l.OK, l.Errors)
	fmt.Fprintf(w, "  per real server:")
	for _, s := range servers {
		share := 0.0
		if l.OK > 0 {
			share = 100 * float64(l.ByServer[s]) / float64(l.OK)
		}
		fmt.Fprintf(w, "  %s %d (%.1f %%)", s, l.ByServer[s], share)
	}
	fmt.Fprintf(w, "\n  client address seen by the servers:")
	for a, k := range l.Clients {
		fmt.Fprintf(w, " %s ×%d", a, k)
	}
	c := sr.Counters
	fmt.Fprintf(w, "\n  vsd counted (vsadm -L --stats): %d conns, %d packets / %d bytes in, %d packets / %d bytes out", c.Conns, c.InPkts, c.InBytes, c.OutPkts, c.OutBytes)
	fmt.Fprintf(w, "\n  packets to the client: %d received by it, %d sent by the director's front port", sr.ClientRx, sr.DirectorFrontTx)
	if sr.Method != NAT {
		fmt.Fprintf(w, " (DR/TUN: must be ~0)")
	}
	fmt.Fprintln(w)
	if len(sr.Problems) == 0 {
		fmt.Fprintf(w, "  ok\n\n")
		return
	}
	for _, p := range sr.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", p)
	}
	fmt.Fprintln(w)
}
