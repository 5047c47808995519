package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// SocketPath returns the control socket to use: $VSD_SOCKET if set, else
// DefaultSocket.
func SocketPath() string {
	if p := os.Getenv("VSD_SOCKET"); p != "" {
		return p
	}
	return DefaultSocket
}

// Client talks to one daemon. The zero value is not usable; make one with
// NewClient. Safe for concurrent use.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the daemon listening on the unix socket
// path ("" means SocketPath()). It does not connect yet.
func NewClient(path string) *Client {
	if path == "" {
		path = SocketPath()
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 10 * time.Second,
	}
	return &Client{path: path, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close releases the client's idle connections to the daemon. The client
// stays usable (a later call connects again).
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Path is the socket the client connects to.
func (c *Client) Path() string { return c.path }

// ConnectError says the daemon could not be reached at all (not running,
// wrong socket, no permission).
type ConnectError struct {
	Path string
	Err  error
}

func (e *ConnectError) Error() string { return fmt.Sprintf("control socket %s: %v", e.Path, e.Err) }
func (e *ConnectError) Unwrap() error { return e.Err }

// Table returns the service table with counters and rates.
func (c *Client) Table(ctx context.Context) (*Table, error) {
	var t Table
	return &t, c.get(ctx, "/v1/table", &t)
}

// Conns returns every entry of the connection table, templates included.
func (c *Client) Conns(ctx context.Context) ([]Conn, error) {
	var cs []Conn
	return cs, c.get(ctx, "/v1/conns", &cs)
}

// Timeouts returns the TCP, TCP FIN_WAIT and UDP timeouts.
func (c *Client) Timeouts(ctx context.Context) (Timeouts, error) {
	var t Timeouts
	return t, c.get(ctx, "/v1/timeouts", &t)
}

// Tunables returns every tunable with its value, in a fixed order.
func (c *Client) Tunables(ctx context.Context) ([]Tunable, error) {
	var ts []Tunable
	return ts, c.get(ctx, "/v1/tunables", &ts)
}

// Daemons returns the sync daemons, master first.
func (c *Client) Daemons(ctx context.Context) ([]SyncDaemon, error) {
	var ds []SyncDaemon
	return ds, c.get(ctx, "/v1/daemons", &ds)
}

// Status returns the daemon's counters and datapath.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.get(ctx, "/v1/status", &s)
}

// Listing returns the table as `ipvsadm -L -n` prints it.
func (c *Client) Listing(ctx context.Context) (string, error) {
	b, err := c.text(ctx, http.MethodGet, "/v1/listing")
	return string(b), err
}

// Reload makes the daemon re-read its configuration file and returns its
// summary of what changed.
func (c *Client) Reload(ctx context.Context) (string, error) {
	b, err := c.text(ctx, http.MethodPost, "/v1/reload")
	return strings.TrimSpace(string(b)), err
}

// text does a request whose answer is text.
func (c *Client) text(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://vsd"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// Apply validates every operation, then applies them all, atomically: on
// an error (an *OpError) nothing was changed.
func (c *Client) Apply(ctx context.Context, ops ...Op) error {
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://vsd/v1/apply", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("apply: reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusConflict, http.StatusUnprocessableEntity:
		var oe OpError
		if json.Unmarshal(data, &oe) == nil && oe.Message != "" {
			return &oe
		}
	}
	return fmt.Errorf("apply: %s: %s", resp.Status, strings.TrimSpace(string(data)))
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return nil, &ConnectError{Path: c.path, Err: ne.Err}
		}
		return nil, fmt.Errorf("control socket %s: %w", c.path, err)
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vsd"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
