package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ExplainRequest describes a client packet for Client.Explain: which real
// server would it go to now, and why.
type ExplainRequest struct {
	Protocol Protocol       // TCP, UDP or SCTP
	Client   netip.AddrPort // the packet's source
	Virtual  netip.AddrPort // its destination: a VIP and port
	// FwMark, if not 0, is the firewall mark to look the service up with
	// (as if a MARK rule had set it); 0 means the daemon's own mark rules
	// decide.
	FwMark uint32
	// TCPFlags of a TCP packet, by name joined with "," or "|"
	// ("SYN", "ACK", "FIN,ACK"); "" means SYN.
	TCPFlags string
}

// Decision kinds of an Explanation.
const (
	ExplainConnection    = "connection"     // an existing connection entry
	ExplainTemplate      = "template"       // a persistence template
	ExplainScheduler     = "scheduler"      // a new connection, the scheduler's pick now
	ExplainNoService     = "no-service"     // not for a virtual service: the host's stack
	ExplainNoDestination = "no-destination" // a service without an available server
	ExplainNotCreated    = "not-created"    // for a service, but the packet opens no connection
	ExplainRefused       = "refused"        // dropped by a limit (removed server, full table)
)

// Actions of an Explanation: what happens to the packet.
const (
	ActionForward     = "forward"          // to Explanation.Server
	ActionHost        = "host"             // passed to the host's own stack
	ActionUnreachable = "icmp-unreachable" // answered with ICMP port unreachable
	ActionDrop        = "drop"
)

// Explanation is the daemon's answer to an ExplainRequest. It describes
// this moment: the next new connection may change it (rr moves on).
type Explanation struct {
	Kind    string      `json:"kind"`   // Explain* constants
	Action  string      `json:"action"` // Action* constants
	Service *ServiceKey `json:"service,omitempty"`
	// Server and Method: the real server (address and port on it) and
	// its forwarding method, when the packet is forwarded (for a refused
	// connection: the server it belonged to).
	Server netip.AddrPort `json:"server,omitzero"`
	Method Method         `json:"method,omitempty"`
	// State and Expires of the connection or template that decides:
	// protocol state ("ESTABLISHED", template "NONE"/"ASSURED") and
	// seconds until it expires if nothing more comes.
	State   string `json:"state,omitempty"`
	Expires int64  `json:"expires,omitempty"`
	Why     string `json:"why"` // one sentence
	// Notes are caveats: limits that may still drop the packet, the
	// template a new connection leaves, an entry that would be replaced.
	Notes []string `json:"notes,omitempty"`
}

// Query is the query string of GET /v1/explain for r.
func (r ExplainRequest) Query() url.Values {
	v := url.Values{}
	v.Set("proto", string(r.Protocol))
	v.Set("client", r.Client.String())
	v.Set("virtual", r.Virtual.String())
	if r.FwMark != 0 {
		v.Set("fwmark", strconv.FormatUint(uint64(r.FwMark), 10))
	}
	if r.TCPFlags != "" {
		v.Set("flags", r.TCPFlags)
	}
	return v
}

// Explain asks which real server a packet would go to now, and why. It
// changes nothing in the daemon. A bad request is an error naming the bad
// field (the daemon answers 400).
func (c *Client) Explain(ctx context.Context, r ExplainRequest) (Explanation, error) {
	var e Explanation
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vsd/v1/explain?"+r.Query().Encode(), nil)
	if err != nil {
		return e, err
	}
	resp, err := c.do(req)
	if err != nil {
		return e, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		msg := strings.TrimSpace(string(data))
		if resp.StatusCode == http.StatusBadRequest && msg != "" {
			return e, errors.New(msg) // names the bad field
		}
		return e, fmt.Errorf("GET /v1/explain: %s: %s", resp.Status, msg)
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return e, fmt.Errorf("GET /v1/explain: %w", err)
	}
	return e, nil
}
