package state

import (
	"errors"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/packet"
)

// FuzzSet feeds configuration text to Timeouts.Set. Properties: no panic;
// a success changes exactly one timeout, to d, and d is in range; a failure
// changes nothing and wraps one of the package's sentinel errors.
func FuzzSet(f *testing.F) {
	f.Add("tcp", "ESTABLISHED", int64(900*time.Second))
	f.Add("sctp", "c-sent", int64(time.Second))
	f.Add("udp", "UDP", int64(0))
	f.Add("TCP", "BUG!", int64(-1))
	f.Fuzz(func(t *testing.T, proto, name string, d int64) {
		to := DefaultTimeouts()
		before := to
		err := to.Set(proto, name, time.Duration(d))
		changed := 0
		var newValue time.Duration
		for st := 0; st < 256; st++ {
			for _, p := range []packet.Proto{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP} {
				if v := to.Timeout(p, uint8(st)); v != before.Timeout(p, uint8(st)) {
					changed++
					newValue = v
				}
			}
		}
		if err != nil {
			if changed != 0 {
				t.Fatalf("failed Set(%q, %q, %d) changed %d timeouts", proto, name, d, changed)
			}
			if !errors.Is(err, ErrUnknownProto) && !errors.Is(err, ErrUnknownState) && !errors.Is(err, ErrTimeoutRange) {
				t.Fatalf("Set error %q wraps no sentinel", err)
			}
			return
		}
		if d <= 0 || time.Duration(d) > MaxTimeout {
			t.Fatalf("Set(%q, %q, %d) accepted an out-of-range timeout", proto, name, d)
		}
		// Setting a value equal to the default changes nothing visible.
		if changed > 1 || (changed == 1 && newValue != time.Duration(d)) {
			t.Fatalf("Set(%q, %q, %d) changed %d timeouts (last to %v)", proto, name, d, changed, newValue)
		}
	})
}
