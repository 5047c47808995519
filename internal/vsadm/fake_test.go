package vsadm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

// fakeBackend is an in-memory daemon: it returns canned answers and
// records every batch Apply receives (also the refused ones).
type fakeBackend struct {
	table    *api.Table
	conns    []api.Conn
	timeouts api.Timeouts
	daemons  []api.SyncDaemon
	// applyErr is returned by Apply; listErr by every read.
	applyErr error
	listErr  error
	batches  [][]api.Op
	// explained are the Explain requests; explanation is the answer.
	explained   []api.ExplainRequest
	explanation api.Explanation
}

func (f *fakeBackend) Explain(_ context.Context, r api.ExplainRequest) (api.Explanation, error) {
	f.explained = append(f.explained, r)
	if f.listErr != nil {
		return api.Explanation{}, f.listErr
	}
	if f.explanation.Kind == "" {
		return api.Explanation{Kind: api.ExplainNoService, Action: api.ActionHost, Why: "no virtual service matches"}, nil
	}
	return f.explanation, nil
}

func (f *fakeBackend) Table(context.Context) (*api.Table, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	if f.table == nil {
		return &api.Table{TableSize: 4096}, nil
	}
	return f.table, nil
}

func (f *fakeBackend) Conns(context.Context) ([]api.Conn, error) { return f.conns, f.listErr }

func (f *fakeBackend) Timeouts(context.Context) (api.Timeouts, error) { return f.timeouts, f.listErr }

func (f *fakeBackend) Daemons(context.Context) ([]api.SyncDaemon, error) { return f.daemons, f.listErr }

func (f *fakeBackend) Tunables(context.Context) ([]api.Tunable, error) {
	return []api.Tunable{{Name: "drop_entry", Value: 0}, {Name: "pmtu_disc", Value: 1}}, f.listErr
}

func (f *fakeBackend) Apply(_ context.Context, ops ...api.Op) error {
	f.batches = append(f.batches, append([]api.Op(nil), ops...))
	return f.applyErr
}

// applied is every operation of every batch Apply accepted.
func (f *fakeBackend) applied() []api.Op {
	if f.applyErr != nil {
		return nil
	}
	var ops []api.Op
	for _, b := range f.batches {
		ops = append(ops, b...)
	}
	return ops
}

// fakeServices is a small /etc/services.
const fakeServices = `
# comment line
http		80/tcp		www		# WorldWideWeb HTTP
domain		53/tcp
domain		53/udp
https		443/tcp
https		443/udp
http-alt	8080/tcp	webcache
amqp		5672/sctp
`

// fakeResolver knows two host names and fakeServices; it never touches
// the network or the file system.
type fakeResolver struct{}

func (fakeResolver) host(name string) (netip.Addr, bool) {
	switch name {
	case "localhost":
		return netip.MustParseAddr("127.0.0.1"), true
	case "www.example":
		return netip.MustParseAddr("192.0.2.7"), true
	case "mask.example":
		return netip.MustParseAddr("255.255.0.0"), true
	}
	return netip.Addr{}, false
}

func (fakeResolver) port(name string, proto int) (uint16, bool) {
	return lookupService(bufio.NewScanner(strings.NewReader(fakeServices)), name, protoName(proto))
}

// result is what one vsadm run printed and returned.
type result struct {
	stdout, stderr string
	code           int
	connected      bool
}

// runWith runs vsadm with argv (argv[0] included) against be.
func runWith(argv []string, stdin string, be *fakeBackend) result {
	var out, errb bytes.Buffer
	var r result
	connect := func() (Backend, error) {
		r.connected = true
		if be == nil {
			return nil, errors.New("control socket /run/vsd/vsd.sock: dial unix /run/vsd/vsd.sock: connect: no such file or directory")
		}
		return be, nil
	}
	r.code = mainWith(argv, strings.NewReader(stdin), &out, &errb, connect, fakeResolver{})
	r.stdout, r.stderr = out.String(), errb.String()
	return r
}

// run runs `ipvsadm <args>`, the words split on blanks.
func run(line string, be *fakeBackend) result {
	return runWith(append([]string{"ipvsadm"}, strings.Fields(line)...), "", be)
}

// mustParse parses a line with the fake resolver.
func mustParse(t *testing.T, line string) *Command {
	t.Helper()
	c, err := parse("ipvsadm", strings.Fields(line), fakeResolver{})
	if err != nil {
		t.Fatalf("%q: %s (exit %d)", line, err.Msg, err.Code)
	}
	return c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func tcp(a string, port uint16) api.ServiceKey {
	return api.ServiceKey{Protocol: api.TCP, Addr: addr(a), Port: port}
}

func udp(a string, port uint16) api.ServiceKey {
	return api.ServiceKey{Protocol: api.UDP, Addr: addr(a), Port: port}
}

func fwm(mark uint32) api.ServiceKey { return api.ServiceKey{FwMark: mark} }

func dkey(a string, port uint16) api.DestKey { return api.DestKey{Addr: addr(a), Port: port} }

func sprint(v any) string { return fmt.Sprintf("%+v", v) }
