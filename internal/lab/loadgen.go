package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions configure Load, the lab's HTTP client.
type LoadOptions struct {
	URL         string
	Requests    int           // total requests (bounded)
	Concurrency int           // parallel connections
	KeepAlive   bool          // reuse connections (else Connection: close)
	Timeout     time.Duration // per request
	Deadline    time.Duration // for the whole run
}

// LoadResult tallies the answers of the lab servers ("NAME CLIENT" bodies).
type LoadResult struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Errors   int            `json:"errors"`
	ByServer map[string]int `json:"by_server"`
	// Clients counts the client addresses the servers said they saw.
	Clients  map[string]int `json:"clients"`
	FirstErr string         `json:"first_error,omitempty"`
	Elapsed  time.Duration  `json:"elapsed_ns"`
}

// Servers returns the server names in order.
func (r *LoadResult) Servers() []string {
	var s []string
	for k := range r.ByServer {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Load sends Requests GET requests to URL from Concurrency workers and
// tallies which server answered and which client address it saw.
func Load(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if o.Requests <= 0 || o.Requests > 10_000_000 {
		return nil, fmt.Errorf("requests %d: must be 1..10000000", o.Requests)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Deadline <= 0 {
		o.Deadline = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: o.Timeout}).DialContext,
		DisableKeepAlives:   !o.KeepAlive,
		MaxIdleConnsPerHost: o.Concurrency,
		MaxConnsPerHost:     o.Concurrency,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: o.Timeout}
	res := &LoadResult{Requests: o.Requests, ByServer: map[string]int{}, Clients: map[string]int{}}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(o.Requests) {
				name, client, err := fetch(ctx, cl, o.URL)
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
				} else {
					res.OK++
					res.ByServer[name]++
					res.Clients[client]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

func fetch(ctx context.Context, cl *http.Client, url string) (name, client string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("status %s", resp.Status)
	}
	f := strings.Fields(string(body))
	if len(f) != 2 {
		return "", "", fmt.Errorf("unexpected answer %q", body)
	}
	return f[0], f[1], nil
}
