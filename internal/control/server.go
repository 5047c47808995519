package control

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/service"
)

// MaxBatch is the largest request body POST /v1/apply accepts.
const MaxBatch = 64 << 20

// Server serves the control API for one engine and its service set.
type Server struct {
	// Mu serialises every change of Set and the engine's settings (the
	// daemon's own lock, shared with its reload).
	Mu     *sync.Mutex
	Set    *service.Set
	Engine *director.Engine
	Est    *Estimator
	Now    func() clock.Time
	// Published is called with Mu held after a batch changed something,
	// with the set's new snapshot: the daemon publishes it to the
	// engine and updates its steering.
	Published func(*service.Snapshot)
	// Applied, if set, is told of every batch that was applied (with Mu
	// held), for the daemon's log.
	Applied func(ops []api.Op)
	// IsLocal, if set, says whether an address is the director's own
	// (see Target.IsLocal).
	IsLocal func(netip.Addr) bool

	daemons []api.SyncDaemon // guarded by Mu
}

// Apply applies a batch of operations atomically (see package Apply).
func (s *Server) Apply(ops []api.Op) error {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	to := s.Engine.Timeouts()
	tun := s.Engine.Tunables()
	ds := s.daemons
	tgt := Target{
		Set: s.Set, Timeouts: &to, Tunables: &tun, Daemons: &ds, Totals: s.Engine.Stats(), Now: s.Now(), IsLocal: s.IsLocal,
		Zero: func(st *service.Stats) {
			st.Zero()
			if s.Est != nil {
				s.Est.Reset(st)
			}
		},
	}
	if err := Apply(tgt, ops); err != nil {
		return err
	}
	s.daemons = ds
	s.Engine.SetTimeouts(to)
	if tun != s.Engine.Tunables() {
		s.Engine.SetTunables(tun)
	}
	if s.Published != nil {
		s.Published(s.Set.Snapshot())
	}
	if s.Applied != nil {
		s.Applied(ops)
	}
	return nil
}

// Describe says in a few words what an operation does, for log lines:
// "edit-server TCP 10.0.0.1:80 -> 10.1.1.1:80 Masq weight 0".
func Describe(op api.Op) string {
	b := []string{string(op.Kind)}
	if op.Service != nil {
		b = append(b, op.Service.ServiceKey.String())
	}
	switch op.Kind {
	case api.AddService, api.EditService:
		if op.Service != nil {
			b = append(b, "scheduler "+cmp.Or(op.Service.Scheduler, "wlc"))
			if op.Service.Persistent {
				b = append(b, fmt.Sprintf("persistent %d", op.Service.Timeout))
			}
		}
	case api.AddDest, api.EditDest:
		if op.Dest != nil {
			b = append(b, fmt.Sprintf("-> %s %s weight %d", netip.AddrPortFrom(op.Dest.Addr, op.Dest.Port), op.Dest.Method, op.Dest.Weight))
		}
	case api.DeleteDest:
		if op.Dest != nil {
			b = append(b, "-> "+netip.AddrPortFrom(op.Dest.Addr, op.Dest.Port).String())
		}
	case api.SetTimeouts:
		if t := op.Timeouts; t != nil {
			b = append(b, fmt.Sprintf("tcp %d tcpfin %d udp %d", t.TCP, t.TCPFin, t.UDP))
		}
	case api.StartDaemon, api.StopDaemon:
		if op.Daemon != nil {
			b = append(b, op.Daemon.Role)
		}
	}
	return strings.Join(b, " ")
}

// Table returns the API's view of the table.
func (s *Server) Table() api.Table {
	return TableOf(s.Set.Snapshot(), s.Engine, s.Est)
}

// Timeouts returns the --set triple in force.
func (s *Server) Timeouts() api.Timeouts {
	to := s.Engine.Timeouts()
	tcp, fin, udp := to.Triple()
	return api.Timeouts{TCP: tcp, TCPFin: fin, UDP: udp}
}

// Daemons returns the sync-daemon settings, master first.
func (s *Server) Daemons() []api.SyncDaemon {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return append([]api.SyncDaemon{}, s.daemons...)
}

// Sample runs one estimator interval over every counter set (call it
// every EstimatorInterval seconds).
func (s *Server) Sample() {
	if s.Est != nil {
		s.Est.Sample(StatsOf(s.Set.Snapshot(), s.Engine))
	}
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/table", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Table()) })
	mux.HandleFunc("GET /v1/conns", func(w http.ResponseWriter, r *http.Request) { s.writeConns(w) })
	mux.HandleFunc("GET /v1/timeouts", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Timeouts()) })
	mux.HandleFunc("GET /v1/tunables", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, TunablesOf(s.Engine.Tunables(), s.Engine.Timeouts()))
	})
	mux.HandleFunc("GET /v1/daemons", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Daemons()) })
	mux.HandleFunc("GET /v1/explain", s.explain)
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		var ops []api.Op
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBatch))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ops); err != nil {
			http.Error(w, "apply: bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := dec.Decode(&struct{}{}); err != io.EOF {
			http.Error(w, "apply: request body holds more than one JSON value", http.StatusBadRequest)
			return
		}
		if err := s.Apply(ops); err != nil {
			var oe *api.OpError
			if errors.As(err, &oe) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				json.NewEncoder(w).Encode(oe)
				return
			}
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, struct{}{})
	})
}

// connPiece is how many buckets the connection list is read in at a time
// (the response is written between pieces, no lock held).
const connPiece = 256

// writeConns streams the connection table as one JSON array, piece by
// piece: the daemon never holds more than a piece of a huge table in
// memory for it.
func (s *Server) writeConns(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	bw.WriteByte('[')
	first := true
	err := EachConns(s.Engine, s.Now(), connPiece, func(cs []api.Conn) error {
		for i := range cs {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			if err := enc.Encode(&cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		bw.WriteString("]\n")
		bw.Flush()
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// HostAddress reports whether a is an address of this host (in this
// network namespace): on one of its interfaces, or in 127.0.0.0/8 or ::1.
// It asks the kernel each time (a control-plane call, not per packet).
func HostAddress(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

var umaskMu sync.Mutex

// Listen opens the control socket at path with mode 0600 (only root, or
// whoever runs vsd, may connect), creating its directory if needed. A
// socket file left by a vsd that was killed is replaced; one that answers
// belongs to a running vsd and is an error.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another vsd is already running there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
	}
	// The umask makes the socket 0600 from the moment it exists, so
	// nobody can connect in the window before a chmod.
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &peerListener{UnixListener: ln.(*net.UnixListener), uid: uint32(os.Geteuid())}, nil
}

// peerListener accepts only connections from root or from the user vsd
// runs as (SO_PEERCRED), whatever the socket file's mode has become: the
// API changes what the director forwards.
type peerListener struct {
	*net.UnixListener
	uid uint32
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if errors.Is(err, errNoPeerCred) || err == nil && (uid == 0 || uid == l.uid) {
			return c, nil
		}
		c.Close() // someone else: not even an answer
	}
}
