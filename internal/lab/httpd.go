package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ServerOptions configure Serve, the lab's real server.
type ServerOptions struct {
	Name   string   // answered in every response body
	Listen []string // addresses to listen on, e.g. ":80" or "[::]:80"
	Log    io.Writer
}

// Serve is a minimal HTTP real server: every request is answered with
// "NAME CLIENT-ADDRESS\n", so a client can tell which real server answered
// and whether the server saw the client's own address (no proxying). Each
// request is logged to Log as "NAME CLIENT-ADDRESS METHOD PATH". It returns
// when ctx is done.
func Serve(ctx context.Context, o ServerOptions) error {
	if o.Name == "" {
		return errors.New("lab server: a name is needed")
	}
	if len(o.Listen) == 0 {
		o.Listen = []string{":80"}
	}
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		body := o.Name + " " + host + "\n"
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body)
		if o.Log != nil {
			mu.Lock()
			fmt.Fprintf(o.Log, "%s %s %s %s\n", o.Name, host, r.Method, r.URL.Path)
			mu.Unlock()
		}
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, len(o.Listen))
	for _, addr := range o.Listen {
		network := "tcp4"
		if strings.HasPrefix(addr, "[") {
			network = "tcp6"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("lab server %s: %w", o.Name, err)
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
		srv.Close()
		return nil
	case err := <-errc:
		srv.Close()
		return err
	}
}
