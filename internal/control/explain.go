package control

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
)

// explainParams are the query parameters GET /v1/explain accepts.
var explainParams = []string{"proto", "client", "virtual", "fwmark", "flags"}

// ParseExplainQuery reads the query string of GET /v1/explain (see
// api.ExplainRequest.Query): proto (tcp, udp, sctp), client and virtual
// (ADDR:PORT, [IPv6]:PORT), optional fwmark (1..2^32-1, decimal or 0x
// hex) and flags (TCP flag names joined by "," or "|"). An error names
// the bad parameter. The engine's clock is the caller's to set.
func ParseExplainQuery(v url.Values) (director.ExplainQuery, error) {
	var q director.ExplainQuery
	for name, vals := range v {
		known := false
		for _, p := range explainParams {
			known = known || p == name
		}
		if !known {
			return q, fmt.Errorf("explain: unknown parameter %q (want %s)", name, strings.Join(explainParams, ", "))
		}
		if len(vals) != 1 {
			return q, fmt.Errorf("explain: %s: given %d times", name, len(vals))
		}
	}
	switch p := strings.ToLower(v.Get("proto")); p {
	case "tcp":
		q.Proto = packet.ProtoTCP
	case "udp":
		q.Proto = packet.ProtoUDP
	case "sctp":
		q.Proto = packet.ProtoSCTP
	case "":
		return q, fmt.Errorf("explain: proto: missing (tcp, udp or sctp)")
	default:
		return q, fmt.Errorf("explain: proto: %q is not tcp, udp or sctp", clip(p))
	}
	var err error
	if q.Client, err = parseAddrPort("client", v.Get("client")); err != nil {
		return q, err
	}
	if q.Client.Port() == 0 {
		return q, fmt.Errorf("explain: client: %s has port 0", q.Client)
	}
	if q.Virtual, err = parseAddrPort("virtual", v.Get("virtual")); err != nil {
		return q, err
	}
	if q.Client.Addr().Is4() != q.Virtual.Addr().Is4() {
		return q, fmt.Errorf("explain: client %s and virtual %s are of different address families", q.Client.Addr(), q.Virtual.Addr())
	}
	if s := v.Get("fwmark"); s != "" {
		m, err := strconv.ParseUint(s, 0, 32)
		if err != nil || m == 0 {
			return q, fmt.Errorf("explain: fwmark: %q is not a mark 1..4294967295", clip(s))
		}
		q.FwMark = uint32(m)
	}
	if s := v.Get("flags"); s != "" {
		if q.Proto != packet.ProtoTCP {
			return q, fmt.Errorf("explain: flags: TCP flags given for %s", ProtocolOf(q.Proto))
		}
		if q.TCPFlags, err = ParseTCPFlags(s); err != nil {
			return q, err
		}
	}
	return q, nil
}

// parseAddrPort reads ADDR:PORT or [IPv6]:PORT; an IPv4-mapped IPv6
// address counts as IPv4.
func parseAddrPort(name, s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("explain: %s: missing (ADDR:PORT)", name)
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("explain: %s: %q is not ADDR:PORT or [IPv6]:PORT", name, clip(s))
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("explain: %s: %q: no zones", name, clip(s))
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

var tcpFlagBits = map[string]packet.TCPFlags{
	"FIN": packet.TCPFin, "SYN": packet.TCPSyn, "RST": packet.TCPRst, "PSH": packet.TCPPsh,
	"ACK": packet.TCPAck, "URG": packet.TCPUrg, "ECE": packet.TCPEce, "CWR": packet.TCPCwr,
}

// ParseTCPFlags reads TCP flag names joined by "," or "|" ("SYN",
// "fin,ack"; case does not matter).
func ParseTCPFlags(s string) (packet.TCPFlags, error) {
	var f packet.TCPFlags
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' }) {
		b, ok := tcpFlagBits[strings.ToUpper(strings.TrimSpace(name))]
		if !ok {
			return 0, fmt.Errorf("explain: flags: %q is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)", clip(name))
		}
		f |= b
	}
	if f == 0 {
		return 0, fmt.Errorf("explain: flags: %q names no TCP flag", clip(s))
	}
	return f, nil
}

// clip shortens outside text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ExplanationOf is the API's form of an explanation.
func ExplanationOf(ex director.Explanation) api.Explanation {
	a := api.Explanation{Kind: ex.Kind.String(), Action: ex.Action.String(), State: ex.State, Why: ex.Why, Notes: ex.Notes}
	if ex.Service != nil {
		k := KeyOf(ex.Service.Key)
		a.Service = &k
	}
	if ex.Dest != nil {
		a.Server = netip.AddrPortFrom(ex.Dest.Addr.Unmap(), ex.DPort)
		a.Method = MethodOf(ex.Method)
	}
	if ex.Remaining > 0 && (ex.Kind == director.ExplainConnection || ex.Kind == director.ExplainTemplate || ex.Kind == director.ExplainRefused) {
		a.Expires = int64((ex.Remaining + 999_999_999) / 1e9) // whole seconds, rounded up
	}
	return a
}

// explain serves GET /v1/explain.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q, err := ParseExplainQuery(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.Now = s.Now()
	ex := s.Engine.Explain(q)
	if ex.Kind == director.ExplainInvalid {
		http.Error(w, ex.Why, http.StatusBadRequest)
		return
	}
	writeJSON(w, ExplanationOf(ex))
}
