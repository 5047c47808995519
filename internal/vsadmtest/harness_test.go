package vsadmtest

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/control"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/sched"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/vsadm"
)

type noNeighbors struct{}

func (noNeighbors) Resolve(bool, [16]byte) ([6]byte, uint16, bool) { return [6]byte{}, 0, false }

// daemon is an in-process control plane: the same control.Server that
// `vsd run` serves, on a unix socket of the test's own.
type daemon struct {
	sock   string
	srv    *control.Server
	client *api.Client
}

func newDaemon(t testing.TB) *daemon {
	t.Helper()
	eng, err := director.New(director.Config{Ports: []director.Port{{}}, Neighbors: noNeighbors{}, TableBits: 12})
	if err != nil {
		t.Fatal(err)
	}
	s := &control.Server{Mu: new(sync.Mutex), Set: service.NewSet(sched.New), Engine: eng, Est: control.NewEstimator(),
		Now: func() clock.Time { return clock.Seconds(1) }, Published: eng.Publish}
	sock := filepath.Join(t.TempDir(), "vsd.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	c := api.NewClient(sock)
	t.Cleanup(func() { c.Close(); hs.Close(); <-done })
	return &daemon{sock: sock, srv: s, client: c}
}

// run runs one vsadm command line (without argv[0]) against the daemon.
func (d *daemon) run(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = vsadm.Main(append([]string{"ipvsadm"}, args...), strings.NewReader(stdin), &out, &errb,
		func() (vsadm.Backend, error) { return d.client, nil })
	return out.String(), errb.String(), code
}

// mustRun runs a command that must succeed.
func (d *daemon) mustRun(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := d.run(stdin, args...)
	if code != 0 {
		t.Fatalf("ipvsadm %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}
