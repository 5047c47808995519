package control

import (
	"net"
	"net/http"
	"testing"
)

// serve runs s's routes on ln until the returned stop is called.
func serve(t *testing.T, s *Server, ln net.Listener) (stop func()) {
	t.Helper()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return func() { srv.Close(); <-done }
}
