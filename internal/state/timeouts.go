package state

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/packet"
)

// InitialTimeout is the timeout of a connection from its creation until its
// first state transition (which normally follows at once, on the same
// packet).
const InitialTimeout = 3 * time.Second

// MaxTimeoutSeconds is the largest timeout accepted, in seconds. The kernel
// accepts 0..INT_MAX/HZ; vsd uses the strictest common HZ (1000), so that
// seconds*1000 fits an int32 and every value vsd accepts is also accepted by
// any kernel.
const MaxTimeoutSeconds = math.MaxInt32 / 1000

// MaxTimeout is MaxTimeoutSeconds as a duration.
const MaxTimeout = MaxTimeoutSeconds * time.Second

// Errors returned by SetTriple and Set; the returned errors wrap them and
// name the offending field, protocol or state.
var (
	ErrTimeoutRange = errors.New("state: timeout out of range")
	ErrUnknownProto = errors.New("state: unknown protocol")
	ErrUnknownState = errors.New("state: unknown state")
)

// Timeouts holds the idle timeout of every protocol state. After each
// transition the connection table arms a connection's timer with the
// timeout of its (new or unchanged) state. Each table has one extra entry
// after the last state: the kernel's "LAST"/"BUG!" slot (2 s), which
// Timeout returns for an out-of-range state.
//
// The zero value has every timeout 0; start from DefaultTimeouts. A
// Timeouts is plain data with no lock: modify a private copy and publish it.
type Timeouts struct {
	tcp  [TCPStateCount + 1]time.Duration
	sctp [SCTPStateCount + 1]time.Duration
	udp  [UDPStateCount + 1]time.Duration
}

// DefaultTimeouts returns the kernel's default timeouts.
func DefaultTimeouts() Timeouts {
	const s = time.Second
	return Timeouts{
		tcp: [TCPStateCount + 1]time.Duration{
			TCPNone:        2 * s,
			TCPEstablished: 900 * s,
			TCPSynSent:     120 * s,
			TCPSynRecv:     60 * s,
			TCPFinWait:     120 * s,
			TCPTimeWait:    120 * s,
			TCPClose:       10 * s,
			TCPCloseWait:   60 * s,
			TCPLastAck:     30 * s,
			TCPListen:      120 * s,
			TCPSynAck:      120 * s,
			TCPStateCount:  2 * s,
		},
		sctp: [SCTPStateCount + 1]time.Duration{
			SCTPNone:             2 * s,
			SCTPInit1:            4 * s,
			SCTPInit:             61 * s,
			SCTPCookieSent:       61 * s,
			SCTPCookieReplied:    61 * s,
			SCTPCookieWait:       61 * s,
			SCTPCookie:           61 * s,
			SCTPCookieEchoed:     61 * s,
			SCTPEstablished:      900 * s,
			SCTPShutdownSent:     61 * s,
			SCTPShutdownReceived: 61 * s,
			SCTPShutdownAckSent:  61 * s,
			SCTPRejected:         4 * s,
			SCTPClosed:           61 * s,
			SCTPStateCount:       2 * s,
		},
		udp: [UDPStateCount + 1]time.Duration{
			UDPNormal:     300 * s,
			UDPStateCount: 2 * s,
		},
	}
}

// Timeout returns the timeout of state st of protocol proto (a TCPState,
// SCTPState or UDPState as uint8). An out-of-range state gets the "LAST"
// slot's timeout; a protocol without states (anything but TCP, UDP and
// SCTP) gets 0: such connections do not exist.
func (t *Timeouts) Timeout(proto packet.Proto, st uint8) time.Duration {
	switch proto {
	case packet.ProtoTCP:
		return t.tcp[min(st, uint8(TCPStateCount))]
	case packet.ProtoUDP:
		return t.udp[min(st, uint8(UDPStateCount))]
	case packet.ProtoSCTP:
		return t.sctp[min(st, uint8(SCTPStateCount))]
	}
	return 0
}

// SetTriple applies the "tcp tcpfin udp" triple of `ipvsadm --set`, in
// seconds: tcp is the ESTABLISHED timeout, tcpfin the FIN_WAIT timeout, udp
// the UDP timeout. A 0 leaves that timeout unchanged. A value above
// MaxTimeoutSeconds is rejected with an error naming the field, and then
// nothing is changed.
func (t *Timeouts) SetTriple(tcp, tcpfin, udp uint32) error {
	for _, f := range [...]struct {
		name string
		v    uint32
	}{{"tcp", tcp}, {"tcpfin", tcpfin}, {"udp", udp}} {
		if f.v > MaxTimeoutSeconds {
			return fmt.Errorf("%w: %s = %d s, the limit is %d s", ErrTimeoutRange, f.name, f.v, MaxTimeoutSeconds)
		}
	}
	if tcp != 0 {
		t.tcp[TCPEstablished] = time.Duration(tcp) * time.Second
	}
	if tcpfin != 0 {
		t.tcp[TCPFinWait] = time.Duration(tcpfin) * time.Second
	}
	if udp != 0 {
		t.udp[UDPNormal] = time.Duration(udp) * time.Second
	}
	return nil
}

// Triple returns the "tcp tcpfin udp" triple (ESTABLISHED, FIN_WAIT and UDP
// timeouts) in whole seconds, as `ipvsadm -L --timeout` shows it.
func (t *Timeouts) Triple() (tcp, tcpfin, udp uint32) {
	return uint32(t.tcp[TCPEstablished] / time.Second),
		uint32(t.tcp[TCPFinWait] / time.Second),
		uint32(t.udp[UDPNormal] / time.Second)
}

// Set changes the timeout of one state. proto is "tcp", "udp" or "sctp";
// stateName is the state's listing name ("ESTABLISHED", "SYN_RECV",
// "C-SENT", "UDP"; for SCTP the long names such as "COOKIE_SENT" work too),
// both case-insensitive. d must be positive and at most MaxTimeout. The
// errors wrap ErrUnknownProto, ErrUnknownState or ErrTimeoutRange and name
// the bad value.
func (t *Timeouts) Set(proto, stateName string, d time.Duration) error {
	var table []time.Duration
	var idx int
	switch strings.ToLower(proto) {
	case "tcp":
		table, idx = t.tcp[:TCPStateCount], tcpStateIndex(stateName)
	case "udp":
		table, idx = t.udp[:UDPStateCount], udpStateIndex(stateName)
	case "sctp":
		table, idx = t.sctp[:SCTPStateCount], sctpStateIndex(stateName)
	default:
		return fmt.Errorf("%w %q (want tcp, udp or sctp)", ErrUnknownProto, proto)
	}
	if idx < 0 {
		return fmt.Errorf("%w %q for %s (known: %s)", ErrUnknownState, stateName, strings.ToLower(proto), knownStates(strings.ToLower(proto)))
	}
	if d <= 0 || d > MaxTimeout {
		return fmt.Errorf("%w: %s %s = %v, want more than 0 and at most %d s", ErrTimeoutRange, strings.ToLower(proto), strings.ToUpper(stateName), d, MaxTimeoutSeconds)
	}
	table[idx] = d
	return nil
}

func tcpStateIndex(name string) int {
	for i, n := range tcpStateNames {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

func sctpStateIndex(name string) int {
	for i, n := range sctpStateNames {
		if strings.EqualFold(n[0], name) || strings.EqualFold(n[1], name) {
			return i
		}
	}
	return -1
}

func udpStateIndex(name string) int {
	if strings.EqualFold(name, UDPNormal.String()) {
		return int(UDPNormal)
	}
	return -1
}

func knownStates(proto string) string {
	var names []string
	switch proto {
	case "tcp":
		names = tcpStateNames[:]
	case "udp":
		names = []string{UDPNormal.String()}
	case "sctp":
		for _, n := range sctpStateNames {
			names = append(names, n[0])
		}
	}
	return strings.Join(names, ", ")
}
