package conntrack

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// recorder is an Unbinder that remembers what was freed.
type recorder struct {
	mu    sync.Mutex
	t     *Table
	calls map[Conn]int // key fields only (see keyOf)
	n     int
	dests map[uint32]int
}

func newRecorder() *recorder {
	return &recorder{calls: map[Conn]int{}, dests: map[uint32]int{}}
}

func (r *recorder) Unbind(idx uint32, e *Entry) {
	c := r.t.ConnLocked(idx, 0)
	r.mu.Lock()
	r.calls[keyOf(c)]++
	r.dests[e.Dest()]++
	r.n++
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// keyOf keeps the identifying fields of c.
func keyOf(c Conn) Conn {
	return Conn{V6: c.V6, Proto: c.Proto, Caddr: c.Caddr, Vaddr: c.Vaddr, Cport: c.Cport, Vport: c.Vport,
		Flags: c.Flags & FlagTemplate}
}

func newTestTable(t testing.TB, cfg Config) (*Table, *recorder) {
	t.Helper()
	r := newRecorder()
	if cfg.Unbinder == nil {
		cfg.Unbinder = r
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.t = tb
	return tb, r
}

func addr(s string) [16]byte { return netip.MustParseAddr(s).As16() }

func conn(proto packet.Proto, c string, cport uint16, v string, vport uint16) Conn {
	ca, va := netip.MustParseAddr(c), netip.MustParseAddr(v)
	return Conn{V6: ca.Is6() && !ca.Is4In6(), Proto: proto, Caddr: ca.As16(), Cport: cport, Vaddr: va.As16(), Vport: vport}
}

func (c Conn) key() Key {
	return Key{V6: c.V6, Proto: c.Proto, Caddr: c.Caddr, Vaddr: c.Vaddr, Cport: c.Cport, Vport: c.Vport}
}

func mustInsert(t testing.TB, tb *Table, c Conn, now clock.Time) uint32 {
	t.Helper()
	idx, ok := insert(tb, c, now)
	if !ok {
		t.Fatalf("insert %+v refused", c)
	}
	return idx
}

func insert(tb *Table, c Conn, now clock.Time) (uint32, bool) {
	h := tb.Hash(c.V6, c.Proto, &c.Caddr, c.Cport)
	tb.Lock(h)
	defer tb.Unlock(h)
	return tb.InsertLocked(h, &c, now)
}

// lookupIn looks k up with LookupInLocked, and again in the packet form
// (LookupPacketLocked), which must agree; with the prefetch hints called
// first, which must not change anything.
func lookupIn(tb *Table, k Key, now clock.Time) uint32 {
	h := tb.Hash(k.V6, k.Proto, &k.Caddr, k.Cport)
	tb.PrefetchBucket(h)
	tb.Lock(h)
	defer tb.Unlock(h)
	tb.PrefetchEntry(h)
	tb.PrefetchNext(h, k.Cport, k.Vport)
	tb.PrefetchInsert(h)
	idx := tb.LookupInLocked(h, &k, now)
	p := packet.Parsed{V6: k.V6, Proto: k.Proto, Src: k.Caddr, Dst: k.Vaddr, SrcPort: k.Cport, DstPort: k.Vport}
	if again := tb.LookupPacketLocked(h, &p, now); again != idx {
		panic(fmt.Sprintf("LookupPacketLocked = %d, LookupInLocked = %d", again, idx))
	}
	return idx
}

func lookupOut(tb *Table, v6 bool, proto packet.Proto, dst [16]byte, dport uint16, src [16]byte, sport uint16, now clock.Time) uint32 {
	h := tb.Hash(v6, proto, &dst, dport)
	tb.Lock(h)
	defer tb.Unlock(h)
	return tb.LookupOutLocked(h, v6, proto, &dst, dport, &src, sport, now)
}

func lookupTemplate(tb *Table, k Key, now clock.Time) uint32 {
	h := tb.Hash(k.V6, k.Proto, &k.Caddr, 0)
	tb.Lock(h)
	defer tb.Unlock(h)
	return tb.LookupTemplateLocked(h, &k, now)
}

func connAt(tb *Table, c Conn, idx uint32, now clock.Time) Conn {
	h := tb.Hash(c.V6, c.Proto, &c.Caddr, c.Cport)
	tb.Lock(h)
	defer tb.Unlock(h)
	return tb.ConnLocked(idx, now)
}

func deleteConn(tb *Table, c Conn, idx uint32) bool {
	h := tb.Hash(c.V6, c.Proto, &c.Caddr, c.Cport)
	tb.Lock(h)
	defer tb.Unlock(h)
	return tb.DeleteLocked(h, idx)
}

// persistent inserts (or finds) template tmpl and a conn c controlled by it,
// as the director does, and returns both indices.
func persistent(t testing.TB, tb *Table, tmpl, c Conn, now clock.Time, timeout time.Duration) (tidx, idx uint32) {
	t.Helper()
	th := tb.Hash(tmpl.V6, tmpl.Proto, &tmpl.Caddr, 0)
	tb.Lock(th)
	k := tmpl.key()
	tidx = tb.LookupTemplateLocked(th, &k, now)
	if tidx == 0 {
		tmpl.Flags |= FlagTemplate
		tmpl.Expires = now.Add(timeout)
		var ok bool
		if tidx, ok = tb.InsertLocked(th, &tmpl, now); !ok {
			tb.Unlock(th)
			t.Fatal("template insert refused")
		}
	}
	tb.ControlLocked(tidx)
	tb.At(tidx).Touch(now, timeout)
	tb.Unlock(th)
	c.Control = tidx
	idx, ok := insert(tb, c, now)
	if !ok {
		tb.Uncontrol(tidx)
		t.Fatal("conn insert refused")
	}
	return tidx, idx
}
