package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vsd/vsd/api"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vsd/vsd/internal/control"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/listing"
)

// The control API, HTTP on a unix socket that only root may open (package
// control serves the API proper; see package api):
//
//	GET  /v1/table, /v1/conns, /v1/timeouts, /v1/daemons, /v1/explain; POST /v1/apply
//	GET  /v1/listing   the service table as `ipvsadm -L -n` prints it
//	GET  /v1/status    JSON: datapath, counters, connections in the table
//	POST /v1/reload    re-read the configuration file (as SIGHUP does)
type controlServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

func startControl(path string, d *Daemon) (*controlServer, error) {
	ln, err := control.Listen(path)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	d.api.Register(mux)
	mux.HandleFunc("GET /v1/listing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		tab := d.api.Table()
		listing.WriteTable(w, &tab, listing.Options{Numeric: true})
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.Status())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		msg, err := d.Reload()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprintln(w, msg)
	})
	c := &controlServer{path: path, ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.srv.Serve(ln)
	}()
	return c, nil
}

func (c *controlServer) close() error {
	err := c.srv.Close()
	<-c.done
	os.Remove(c.path)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Status reports the daemon's counters.
func (d *Daemon) Status() api.Status {
	c := d.eng.Counters()
	s := api.Status{
		Config:      d.cfg.Path,
		Datapath:    "control plane only",
		Uptime:      time.Since(d.started).Round(time.Second).String(),
		Services:    len(d.eng.Snapshot().Services),
		Connections: d.eng.Table().Len(),
		Frames:      c.Frames, Tx: c.Tx, Pass: c.Pass, Drop: c.Drop,
		Drops:  map[string]uint64{},
		Events: map[string]uint64{},
	}
	for _, r := range director.Reasons() {
		if c.Drops[r] != 0 {
			s.Drops[r.String()] = c.Drops[r]
		}
	}
	df := d.eng.Defense()
	s.Defense = api.DefenseStatus{DropEntry: df.Settings.DropEntry, DropPacket: df.Settings.DropPacket, SecureTCP: df.Settings.SecureTCP,
		AmemThresh: df.Settings.AmemThresh, AvailablePages: d.eng.AvailablePages(), NoMem: df.NoMem, DropRate: df.DropRate,
		SecureTables: df.SecureTCP, EntriesDropped: c.DropEntries}
	for _, e := range director.Events() {
		if c.Events[e] != 0 {
			s.Events[e.String()] = c.Events[e]
		}
	}
	if d.dp != nil {
		s.Datapath = d.dp.describe()
		s.Ports = make([]api.PortStatus, len(d.ports))
		for i, p := range d.ports {
			s.Ports[i].Name = p.name
		}
		s.Link = &api.LinkStatus{}
		for _, q := range d.dp.queues() {
			st := q.Stats()
			s.Link.RxDropped += st.RxDropped
			s.Link.TxDropped += st.TxDropped
			s.Link.PassLost += st.PassLost
			s.Link.Kicks += st.Kicks
			s.Link.Polls += st.Polls
			s.Link.FillEmpty += st.FillEmpty
			for i := range s.Ports {
				s.Ports[i].RxFrames += st.PerPortRx[i]
				s.Ports[i].TxFrames += st.PerPortTx[i]
			}
		}
	}
	return s
}
