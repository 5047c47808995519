package vsadm

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/vsd/vsd/api"
)

// explain is the extension command
//
//	--explain (-t|-u|--sctp-service) VIP:PORT --client CIP:CPORT [-f MARK] [--tcp-flags FLAGS]
//
// It asks the daemon which real server a client packet would go to now
// and why, and prints the answer: the server and method (or what happens
// instead) with the kind of decision, then the reason and any caveats.
func (r *runner) explain(args []string) int {
	req, perr := parseExplain(args)
	if perr != nil {
		return r.refuse(perr)
	}
	be, code := r.backend()
	if be == nil {
		return code
	}
	ex, err := be.Explain(context.Background(), req)
	if err != nil {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitRefused
	}
	writeExplanation(r.stdout, ex)
	return ExitOK
}

// parseExplain reads the arguments of --explain (args[0] is the
// --explain word itself). Options take their value as the next word or
// after "=" (long options) or attached (short options: -t10.0.0.1:80).
func parseExplain(args []string) (api.ExplainRequest, *Error) {
	var req api.ExplainRequest
	var haveSvc, haveMark, haveFlags bool
	if v, ok := strings.CutPrefix(args[0], "--explain="); ok {
		return req, fail("--explain takes no value (got `%s')", v)
	}
	rest := args[1:]
	for len(rest) > 0 {
		word := rest[0]
		rest = rest[1:]
		name, val, attached := word, "", false
		switch {
		case strings.HasPrefix(word, "--"):
			name, val, attached = strings.Cut(word, "=")
		case len(word) > 2 && word[0] == '-':
			name, val, attached = word[:2], word[2:], true
		}
		value := func() (string, *Error) {
			if attached {
				return val, nil
			}
			if len(rest) == 0 {
				return "", fail("--explain: option %s needs a value", name)
			}
			v := rest[0]
			rest = rest[1:]
			return v, nil
		}
		switch name {
		case "-t", "--tcp-service", "-u", "--udp-service", "--sctp-service":
			if haveSvc {
				return req, fail("--explain: more than one of -t, -u, --sctp-service")
			}
			haveSvc = true
			v, err := value()
			if err != nil {
				return req, err
			}
			req.Protocol = map[string]api.Protocol{"-t": api.TCP, "--tcp-service": api.TCP, "-u": api.UDP,
				"--udp-service": api.UDP, "--sctp-service": api.SCTP}[name]
			ap, ok := parseExplainAddr(v)
			if !ok {
				return req, fail("--explain: illegal virtual server address:port `%s'", v)
			}
			req.Virtual = ap
		case "--client":
			if req.Client.IsValid() {
				return req, fail("--explain: more than one --client")
			}
			v, err := value()
			if err != nil {
				return req, err
			}
			ap, ok := parseExplainAddr(v)
			if !ok || ap.Port() == 0 {
				return req, fail("--explain: illegal client address:port `%s' (a port 1..65535 is needed)", v)
			}
			req.Client = ap
		case "-f", "--fwmark-service":
			if haveMark {
				return req, fail("--explain: more than one -f")
			}
			haveMark = true
			v, err := value()
			if err != nil {
				return req, err
			}
			l, whole, erange := strtoul(v)
			if !whole || erange || l == 0 || l > 0xffffffff {
				return req, fail("--explain: invalid fwmark value `%s' specified", v)
			}
			req.FwMark = uint32(l)
		case "--tcp-flags":
			if haveFlags {
				return req, fail("--explain: more than one --tcp-flags")
			}
			haveFlags = true
			v, err := value()
			if err != nil {
				return req, err
			}
			if strings.Trim(v, ",|") == "" {
				return req, fail("--explain: --tcp-flags `%s' names no flag", v)
			}
			req.TCPFlags = v
		default:
			return req, fail("--explain: unknown option or argument `%s'", word)
		}
	}
	switch {
	case !haveSvc:
		return req, fail("--explain needs -t, -u or --sctp-service VIP:PORT: the packet's protocol and destination")
	case !req.Client.IsValid():
		return req, fail("--explain needs --client ADDR:PORT: the packet's source")
	case req.Client.Addr().Is4() != req.Virtual.Addr().Is4():
		return req, fail("--explain: client %s and virtual server %s are of different address families", req.Client.Addr(), req.Virtual.Addr())
	case haveFlags && req.Protocol != api.TCP:
		return req, fail("--explain: --tcp-flags given for a %s packet", req.Protocol)
	}
	return req, nil
}

// parseExplainAddr reads a numeric ADDR:PORT or [IPv6]:PORT (IPv4-mapped
// addresses count as IPv4).
func parseExplainAddr(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// writeExplanation prints an explanation:
//
//	-> 10.1.1.1:80 Masq  (scheduler)
//	why: no connection or persistence template exists: ...
//	note: rr moves on with every new connection: ...
func writeExplanation(w io.Writer, ex api.Explanation) {
	var first string
	switch ex.Action {
	case api.ActionForward:
		if ex.Server.IsValid() {
			first = fmt.Sprintf("-> %s %s", ex.Server, ex.Method)
		} else {
			first = "-> (not known)"
		}
	case api.ActionHost:
		first = "-> the host's own stack"
	case api.ActionUnreachable:
		first = "-> ICMP port unreachable to the client"
	default:
		first = "-> dropped"
	}
	fmt.Fprintf(w, "%s  (%s)\n", first, ex.Kind)
	fmt.Fprintf(w, "why: %s\n", ex.Why)
	for _, n := range ex.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
