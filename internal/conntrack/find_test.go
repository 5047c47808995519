package conntrack

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// TestFindAgreesWithLookup fills a small table (long chains) with IPv4
// and IPv6 conns, NO_CPORT conns and templates (fwmark ones too), some
// already expired and some expired templates still controlling a conn,
// then asks random keys: FindInLocked / FindTemplateLocked must name the
// entry the lazy-expiring lookups then return, and must change nothing
// (table statistics and Unbind calls stay as they were).
func TestFindAgreesWithLookup(t *testing.T) {
	tb, rec := newTestTable(t, Config{Bits: MinBits, MaxEntries: 1 << 14})
	rng := rand.New(rand.NewPCG(7, 8))
	now := clock.Seconds(100)
	protos := []packet.Proto{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP}
	clients := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"}
	vips := []string{"10.0.0.1", "10.0.0.2", "2001:db8:f::1"}
	randKey := func() Key {
		c := clients[rng.IntN(len(clients))]
		v := vips[rng.IntN(len(vips))]
		ca, va := netip.MustParseAddr(c), netip.MustParseAddr(v)
		if ca.Is6() != va.Is6() {
			va = netip.MustParseAddr(vips[2])
			if !ca.Is6() {
				va = netip.MustParseAddr(vips[0])
			}
		}
		k := Key{V6: ca.Is6(), Proto: protos[rng.IntN(3)], Caddr: ca.As16(), Vaddr: va.As16(),
			Cport: uint16(rng.IntN(6)), Vport: uint16(80 + rng.IntN(2))}
		if rng.IntN(8) == 0 {
			k.Proto, k.Vaddr, k.Vport = 0, FwmarkAddr(k.V6, uint32(1+rng.IntN(2))), 0
		}
		return k
	}
	for range 600 {
		k := randKey()
		life := time.Duration(1+rng.IntN(20)) * time.Second
		if k.Proto == 0 || rng.IntN(3) == 0 {
			// a template, maybe with a conn that keeps it past its time
			tm := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Vport: k.Vport, Flags: FlagTemplate, Dest: 1, Expires: now.Add(life)}
			if k.Proto != 0 && rng.IntN(2) == 0 {
				c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport + 100, Vport: k.Vport, Dest: 1, Expires: now.Add(30 * time.Second)}
				persistent(t, tb, tm, c, now, life)
			} else {
				insert(tb, tm, now)
			}
			continue
		}
		c := Conn{V6: k.V6, Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Dest: 1, Expires: now.Add(life)}
		if c.Cport == 0 {
			c.Flags |= FlagNoCPort
		}
		insert(tb, c, now)
	}
	found, foundT := 0, 0
	for i := range 3000 {
		at := now.Add(time.Duration(i) * 10 * time.Millisecond) // entries die during the run
		k := randKey()
		before, unbinds := tb.Stats(), rec.count()
		var fin, ftm uint32
		if k.Proto != 0 {
			h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
			tb.Lock(h)
			fin = tb.FindInLocked(h, &k, at)
			tb.Unlock(h)
		}
		th := tb.Hash(k.V6, k.Proto, &k.Caddr, 0)
		tb.Lock(th)
		ftm = tb.FindTemplateLocked(th, &k, at)
		tb.Unlock(th)
		if after := tb.Stats(); after != before || rec.count() != unbinds {
			t.Fatalf("step %d: a Find changed the table: %+v, then %+v", i, before, after)
		}
		if k.Proto != 0 {
			if got := lookupIn(tb, k, at); got != fin {
				t.Fatalf("step %d %+v: FindInLocked %d, LookupInLocked %d", i, k, fin, got)
			}
		}
		if got := lookupTemplate(tb, k, at); got != ftm {
			t.Fatalf("step %d %+v: FindTemplateLocked %d, LookupTemplateLocked %d", i, k, ftm, got)
		}
		if fin != 0 {
			found++
		}
		if ftm != 0 {
			foundT++
		}
	}
	if found < 50 || foundT < 50 {
		t.Fatalf("only %d conns and %d templates found: the test proves little", found, foundT)
	}
	if st := tb.Stats(); st.Expired == 0 || st.Postponed == 0 {
		t.Fatalf("no expiry (%d) or postponed template (%d) met: the skip rules went untested", st.Expired, st.Postponed)
	}
}
