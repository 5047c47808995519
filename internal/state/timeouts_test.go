package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/packet"
)

const sec = time.Second

func TestInitialTimeout(t *testing.T) {
	if InitialTimeout != 3*sec {
		t.Fatalf("InitialTimeout = %v, want 3s", InitialTimeout)
	}
}

func TestDefaultTimeouts(t *testing.T) {
	to := DefaultTimeouts()
	tcp := []time.Duration{
		TCPNone:        2 * sec,
		TCPEstablished: 900 * sec,
		TCPSynSent:     120 * sec,
		TCPSynRecv:     60 * sec,
		TCPFinWait:     120 * sec,
		TCPTimeWait:    120 * sec,
		TCPClose:       10 * sec,
		TCPCloseWait:   60 * sec,
		TCPLastAck:     30 * sec,
		TCPListen:      120 * sec,
		TCPSynAck:      120 * sec,
		TCPStateCount:  2 * sec, // LAST
	}
	sctp := []time.Duration{2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61, 2} // ids 0..13, LAST
	udp := []time.Duration{300 * sec, 2 * sec}
	if len(tcp) != int(TCPStateCount)+1 || len(sctp) != int(SCTPStateCount)+1 {
		t.Fatalf("expected tables do not cover every state")
	}
	for st, want := range tcp {
		if got := to.Timeout(packet.ProtoTCP, uint8(st)); got != want {
			t.Errorf("TCP %v timeout = %v, want %v", TCPState(st), got, want)
		}
	}
	for st, want := range sctp {
		if got := to.Timeout(packet.ProtoSCTP, uint8(st)); got != want*sec {
			t.Errorf("SCTP %v timeout = %v, want %v", SCTPState(st), got, want*sec)
		}
	}
	for st, want := range udp {
		if got := to.Timeout(packet.ProtoUDP, uint8(st)); got != want {
			t.Errorf("UDP state %d timeout = %v, want %v", st, got, want)
		}
	}
	if tcp, tcpfin, udp := to.Triple(); tcp != 900 || tcpfin != 120 || udp != 300 {
		t.Errorf("Triple() = %d %d %d, want 900 120 300", tcp, tcpfin, udp)
	}
}

func TestTimeoutOutOfRange(t *testing.T) {
	to := DefaultTimeouts()
	for _, c := range []struct {
		proto packet.Proto
		st    uint8
		want  time.Duration
	}{
		{packet.ProtoTCP, 11, 2 * sec},
		{packet.ProtoTCP, 255, 2 * sec},
		{packet.ProtoSCTP, 14, 2 * sec},
		{packet.ProtoSCTP, 99, 2 * sec},
		{packet.ProtoUDP, 1, 2 * sec},
		{packet.ProtoUDP, 255, 2 * sec},
		{packet.ProtoICMP, 0, 0},
		{0, 0, 0},
		{50, 0, 0},
	} {
		if got := to.Timeout(c.proto, c.st); got != c.want {
			t.Errorf("Timeout(%d, %d) = %v, want %v", c.proto, c.st, got, c.want)
		}
	}
}

func TestSetTriple(t *testing.T) {
	cases := []struct {
		name             string
		tcp, tcpfin, udp uint32
		wantErr          string // substring; "" = success
		wantEst, wantFin time.Duration
		wantUDP          time.Duration
		wantTriple       [3]uint32
	}{
		{name: "all", tcp: 1800, tcpfin: 60, udp: 30,
			wantEst: 1800 * sec, wantFin: 60 * sec, wantUDP: 30 * sec, wantTriple: [3]uint32{1800, 60, 30}},
		{name: "zeros leave unchanged", tcp: 0, tcpfin: 0, udp: 0,
			wantEst: 900 * sec, wantFin: 120 * sec, wantUDP: 300 * sec, wantTriple: [3]uint32{900, 120, 300}},
		{name: "only tcpfin", tcpfin: 5,
			wantEst: 900 * sec, wantFin: 5 * sec, wantUDP: 300 * sec, wantTriple: [3]uint32{900, 5, 300}},
		{name: "limit", tcp: 2147483, tcpfin: 2147483, udp: 2147483,
			wantEst: 2147483 * sec, wantFin: 2147483 * sec, wantUDP: 2147483 * sec, wantTriple: [3]uint32{2147483, 2147483, 2147483}},
		{name: "tcp too large", tcp: 2147484, tcpfin: 1, udp: 1, wantErr: "tcp = 2147484 s"},
		{name: "tcpfin too large", tcp: 1, tcpfin: 3000000, udp: 1, wantErr: "tcpfin = 3000000 s"},
		{name: "udp too large", tcp: 1, tcpfin: 1, udp: 0xffffffff, wantErr: "udp = 4294967295 s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			to := DefaultTimeouts()
			before := to
			err := to.SetTriple(c.tcp, c.tcpfin, c.udp)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("SetTriple(%d, %d, %d) succeeded, want error", c.tcp, c.tcpfin, c.udp)
				}
				if !errors.Is(err, ErrTimeoutRange) || !strings.Contains(err.Error(), c.wantErr) ||
					!strings.Contains(err.Error(), "2147483") {
					t.Fatalf("SetTriple error %q: want ErrTimeoutRange naming %q and the limit", err, c.wantErr)
				}
				if to != before {
					t.Fatalf("failed SetTriple changed the timeouts")
				}
				return
			}
			if err != nil {
				t.Fatalf("SetTriple(%d, %d, %d): %v", c.tcp, c.tcpfin, c.udp, err)
			}
			if got := to.Timeout(packet.ProtoTCP, uint8(TCPEstablished)); got != c.wantEst {
				t.Errorf("ESTABLISHED = %v, want %v", got, c.wantEst)
			}
			if got := to.Timeout(packet.ProtoTCP, uint8(TCPFinWait)); got != c.wantFin {
				t.Errorf("FIN_WAIT = %v, want %v", got, c.wantFin)
			}
			if got := to.Timeout(packet.ProtoUDP, uint8(UDPNormal)); got != c.wantUDP {
				t.Errorf("UDP = %v, want %v", got, c.wantUDP)
			}
			if a, b, u := to.Triple(); [3]uint32{a, b, u} != c.wantTriple {
				t.Errorf("Triple() = %d %d %d, want %v", a, b, u, c.wantTriple)
			}
			// Nothing else moved.
			for st := TCPNone; st <= TCPStateCount; st++ {
				if st != TCPEstablished && st != TCPFinWait && to.tcp[st] != before.tcp[st] {
					t.Errorf("TCP %v changed to %v", st, to.tcp[st])
				}
			}
			if to.sctp != before.sctp || to.udp[UDPStateCount] != before.udp[UDPStateCount] {
				t.Errorf("SetTriple changed SCTP or the UDP LAST slot")
			}
		})
	}
}

func TestSet(t *testing.T) {
	cases := []struct {
		proto, state string
		d            time.Duration
		wantProto    packet.Proto
		wantState    uint8
	}{
		{"tcp", "SYN_RECV", 10 * sec, packet.ProtoTCP, uint8(TCPSynRecv)},
		{"TCP", "syn_recv", 2 * sec, packet.ProtoTCP, uint8(TCPSynRecv)},
		{"tcp", "SYNACK", 500 * time.Millisecond, packet.ProtoTCP, uint8(TCPSynAck)},
		{"tcp", "none", MaxTimeout, packet.ProtoTCP, uint8(TCPNone)},
		{"udp", "UDP", 60 * sec, packet.ProtoUDP, uint8(UDPNormal)},
		{"sctp", "C-SENT", 30 * sec, packet.ProtoSCTP, uint8(SCTPCookieSent)},
		{"sctp", "cookie_sent", 31 * sec, packet.ProtoSCTP, uint8(SCTPCookieSent)},
		{"Sctp", "S-ACK-SENT", 7 * sec, packet.ProtoSCTP, uint8(SCTPShutdownAckSent)},
		{"sctp", "ESTABLISHED", 1 * sec, packet.ProtoSCTP, uint8(SCTPEstablished)},
	}
	for _, c := range cases {
		to := DefaultTimeouts()
		before := to
		if err := to.Set(c.proto, c.state, c.d); err != nil {
			t.Errorf("Set(%q, %q, %v): %v", c.proto, c.state, c.d, err)
			continue
		}
		if got := to.Timeout(c.wantProto, c.wantState); got != c.d {
			t.Errorf("after Set(%q, %q, %v): Timeout = %v", c.proto, c.state, c.d, got)
		}
		// Exactly one entry changed.
		changed := 0
		for st := 0; st < 16; st++ {
			for _, p := range []packet.Proto{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP} {
				if to.Timeout(p, uint8(st)) != before.Timeout(p, uint8(st)) {
					changed++
				}
			}
		}
		if changed != 1 {
			t.Errorf("Set(%q, %q) changed %d entries, want 1", c.proto, c.state, changed)
		}
	}
}

func TestSetErrors(t *testing.T) {
	cases := []struct {
		proto, state string
		d            time.Duration
		sentinel     error
		mention      []string
	}{
		{"icmp", "NONE", sec, ErrUnknownProto, []string{`"icmp"`}},
		{"", "NONE", sec, ErrUnknownProto, []string{`""`}},
		{"tcp", "ESTABLISH", sec, ErrUnknownState, []string{`"ESTABLISH"`, "tcp", "SYNACK"}},
		{"tcp", "BUG!", sec, ErrUnknownState, []string{`"BUG!"`}},
		{"tcp", "LAST", sec, ErrUnknownState, []string{`"LAST"`}},
		{"tcp", "C-SENT", sec, ErrUnknownState, []string{`"C-SENT"`}},
		{"udp", "NONE", sec, ErrUnknownState, []string{`"NONE"`, "udp", "UDP"}},
		{"sctp", "SYN_RECV", sec, ErrUnknownState, []string{`"SYN_RECV"`, "sctp", "C-ECHOED"}},
		{"tcp", "ESTABLISHED", 0, ErrTimeoutRange, []string{"tcp ESTABLISHED", "2147483"}},
		{"tcp", "established", -sec, ErrTimeoutRange, []string{"tcp ESTABLISHED", "-1s"}},
		{"udp", "UDP", MaxTimeout + 1, ErrTimeoutRange, []string{"udp UDP"}},
		{"sctp", "c-wait", 1000 * time.Hour, ErrTimeoutRange, []string{"sctp C-WAIT"}},
	}
	for _, c := range cases {
		to := DefaultTimeouts()
		before := to
		err := to.Set(c.proto, c.state, c.d)
		if err == nil {
			t.Errorf("Set(%q, %q, %v) succeeded, want error", c.proto, c.state, c.d)
			continue
		}
		if !errors.Is(err, c.sentinel) {
			t.Errorf("Set(%q, %q, %v) = %q, want it to wrap %q", c.proto, c.state, c.d, err, c.sentinel)
		}
		for _, m := range c.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Set(%q, %q, %v) error %q does not mention %q", c.proto, c.state, c.d, err, m)
			}
		}
		if to != before {
			t.Errorf("failed Set(%q, %q) changed the timeouts", c.proto, c.state)
		}
	}
}

func TestMaxTimeout(t *testing.T) {
	if MaxTimeoutSeconds != 2147483 {
		t.Fatalf("MaxTimeoutSeconds = %d, want INT_MAX/1000 = 2147483", MaxTimeoutSeconds)
	}
	if int64(MaxTimeoutSeconds)*1000 > 1<<31-1 || int64(MaxTimeoutSeconds+1)*1000 <= 1<<31-1 {
		t.Fatalf("MaxTimeoutSeconds is not the largest value whose milliseconds fit an int32")
	}
}
