package control

import (
	"fmt"
	"strings"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/state"
)

// tunableError is a refused tunable: its text is the message (ipvsadm has
// no words for these).
type tunableError struct{ err error }

func (e tunableError) Error() string { return e.err.Error() }
func (e tunableError) Unwrap() error { return e.err }

// timeoutStates are the per-state timeouts: protocol and state names.
func timeoutStates() []struct {
	proto packet.Proto
	name  string
	st    uint8
} {
	var out []struct {
		proto packet.Proto
		name  string
		st    uint8
	}
	for s := range state.TCPStateCount {
		out = append(out, struct {
			proto packet.Proto
			name  string
			st    uint8
		}{packet.ProtoTCP, "timeout_tcp_" + strings.ToLower(state.TCPState(s).String()), uint8(s)})
	}
	out = append(out, struct {
		proto packet.Proto
		name  string
		st    uint8
	}{packet.ProtoUDP, "timeout_udp", 0})
	for s := range state.SCTPStateCount {
		n := strings.ToLower(strings.ReplaceAll(state.SCTPState(s).String(), "-", "_"))
		out = append(out, struct {
			proto packet.Proto
			name  string
			st    uint8
		}{packet.ProtoSCTP, "timeout_sctp_" + n, uint8(s)})
	}
	return out
}

// TunablesOf lists every tunable with its value, in a fixed order.
func TunablesOf(t director.Tunables, to state.Timeouts) []api.Tunable {
	var out []api.Tunable
	for _, f := range t.Fields() {
		v := int64(0)
		switch {
		case f.Int != nil:
			v = int64(*f.Int)
		case *f.Bool:
			v = 1
		}
		out = append(out, api.Tunable{Name: f.Name, Value: v})
	}
	for _, s := range timeoutStates() {
		out = append(out, api.Tunable{Name: s.name, Value: int64(to.Timeout(s.proto, s.st) / time.Second)})
	}
	if t.TableBudget != 0 {
		out = append(out, api.Tunable{Name: tableBudget, Value: t.TableBudget})
	}
	return out
}

// tableBudget is the tunable of the connection table's memory budget
// (bytes; director.Engine.SetTableBudget). It is the config file's
// table.budget, so it is not among director.Tunables.Fields (the file's
// tunables: keys).
const tableBudget = "table_budget"

// setTableBudget checks a table_budget value against the bounds the engine
// reported with its tunables.
func setTableBudget(t *director.Tunables, v int64) error {
	lo, hi := max(t.TableBudgetMin, director.MinTableBudget), t.TableBudgetMax
	if v < lo || (hi > 0 && v > hi) {
		return tunableError{fmt.Errorf("%s %d: out of range %d..%d bytes (1 MiB up to the table's maximum)", tableBudget, v, lo, hi)}
	}
	t.TableBudget = v
	return nil
}

// setTunable sets one tunable by name, after checking the value.
func setTunable(t *director.Tunables, to *state.Timeouts, tu *api.Tunable) error {
	if tu == nil {
		return tunableError{fmt.Errorf("set-tunable: no tunable given")}
	}
	if tu.Name == tableBudget {
		return setTableBudget(t, tu.Value)
	}
	for _, f := range t.Fields() {
		if f.Name != tu.Name {
			continue
		}
		if f.Bool != nil {
			if tu.Value != 0 && tu.Value != 1 {
				return tunableError{fmt.Errorf("%s %d: want 0 (off) or 1 (on)", tu.Name, tu.Value)}
			}
			*f.Bool = tu.Value == 1
			return nil
		}
		if tu.Value < f.Min || tu.Value > f.Max {
			return tunableError{fmt.Errorf("%s %d: out of range %d..%d", tu.Name, tu.Value, f.Min, f.Max)}
		}
		*f.Int = int(tu.Value)
		if err := t.Defense.Validate(); err != nil {
			return tunableError{err}
		}
		return nil
	}
	for _, s := range timeoutStates() {
		if s.name == tu.Name {
			if tu.Value <= 0 || tu.Value > state.MaxTimeoutSeconds {
				return tunableError{fmt.Errorf("%s %d: want 1..%d seconds", tu.Name, tu.Value, state.MaxTimeoutSeconds)}
			}
			name := map[packet.Proto]string{packet.ProtoTCP: "tcp", packet.ProtoUDP: "udp", packet.ProtoSCTP: "sctp"}[s.proto]
			var stName string
			switch s.proto {
			case packet.ProtoTCP:
				stName = state.TCPState(s.st).String()
			case packet.ProtoUDP:
				stName = "UDP"
			default:
				stName = state.SCTPState(s.st).String()
			}
			if err := to.Set(name, stName, time.Duration(tu.Value)*time.Second); err != nil {
				return tunableError{err}
			}
			return nil
		}
	}
	return tunableError{fmt.Errorf("unknown tunable %q (vsadm --sysctl lists them)", tu.Name)}
}
