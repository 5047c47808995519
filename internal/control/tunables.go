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

// tunableInts are the integer tunables, by sysctl name.
func tunableInts(t *director.Tunables) []struct {
	name   string
	v      *int
	lo, hi int64
} {
	return []struct {
		name   string
		v      *int
		lo, hi int64
	}{
		{"drop_entry", &t.Defense.DropEntry, 0, 3},
		{"drop_packet", &t.Defense.DropPacket, 0, 3},
		{"secure_tcp", &t.Defense.SecureTCP, 0, 3},
		{"amemthresh", &t.Defense.AmemThresh, 0, 1 << 40},
		{"am_droprate", &t.Defense.AmDropRate, 1, 1<<31 - 1},
		{"conn_reuse_mode", &t.ConnReuseMode, 0, 3},
		{"debug_level", &t.DebugLevel, 0, 12},
	}
}

// tunableBools are the on/off tunables, by sysctl name.
func tunableBools(t *director.Tunables) []struct {
	name string
	v    *bool
} {
	return []struct {
		name string
		v    *bool
	}{
		{"expire_nodest_conn", &t.ExpireNodestConn},
		{"expire_quiescent_template", &t.ExpireQuiescentTemplate},
		{"sloppy_tcp", &t.SloppyTCP},
		{"sloppy_sctp", &t.SloppySCTP},
		{"pmtu_disc", &t.PMTUDisc},
		{"no_icmp_unreachable", &t.NoICMPUnreachable},
		{"overload_forward", &t.OverloadForward},
		{"host_memory", &t.HostMemory},
	}
}

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
	for _, f := range tunableInts(&t) {
		out = append(out, api.Tunable{Name: f.name, Value: int64(*f.v)})
	}
	for _, f := range tunableBools(&t) {
		v := int64(0)
		if *f.v {
			v = 1
		}
		out = append(out, api.Tunable{Name: f.name, Value: v})
	}
	for _, s := range timeoutStates() {
		out = append(out, api.Tunable{Name: s.name, Value: int64(to.Timeout(s.proto, s.st) / time.Second)})
	}
	return out
}

// setTunable sets one tunable by name, after checking the value.
func setTunable(t *director.Tunables, to *state.Timeouts, tu *api.Tunable) error {
	if tu == nil {
		return tunableError{fmt.Errorf("set-tunable: no tunable given")}
	}
	for _, f := range tunableInts(t) {
		if f.name == tu.Name {
			if tu.Value < f.lo || tu.Value > f.hi {
				return tunableError{fmt.Errorf("%s %d: out of range %d..%d", tu.Name, tu.Value, f.lo, f.hi)}
			}
			*f.v = int(tu.Value)
			if err := t.Defense.Validate(); err != nil {
				return tunableError{err}
			}
			return nil
		}
	}
	for _, f := range tunableBools(t) {
		if f.name == tu.Name {
			if tu.Value != 0 && tu.Value != 1 {
				return tunableError{fmt.Errorf("%s %d: want 0 (off) or 1 (on)", tu.Name, tu.Value)}
			}
			*f.v = tu.Value == 1
			return nil
		}
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
