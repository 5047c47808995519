package conntrack

import (
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

// A SYN proxy conn keeps its sequence word where a template index would
// be: it reads back, changes, has no controller, and freeing it detaches
// nothing even when the word happens to equal a live template's index.
func TestSeqProxyWord(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(10)
	tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 80)
	tmpl.Flags, tmpl.Dest, tmpl.Expires = FlagTemplate, 2, now.Add(300*time.Second)
	tidx := mustInsert(t, tb, tmpl, now)
	h := tb.Hash(tmpl.V6, tmpl.Proto, &tmpl.Caddr, 0)
	tb.Lock(h)
	tb.ControlLocked(tidx)
	tb.Unlock(h)

	c := conn(packet.ProtoTCP, "203.0.113.5", 40000, "192.0.2.1", 80)
	c.Dest, c.Expires, c.State = 3, now.Add(60*time.Second), 3
	c.SeqProxy, c.Seq = true, tidx // the word equals the template's index
	idx := mustInsert(t, tb, c, now)
	e := tb.At(idx)
	if !e.SeqProxied() || e.Seq() != tidx || e.Controller() != 0 || e.State() != 3 {
		t.Fatalf("proxied %v seq %d controller %d state %d", e.SeqProxied(), e.Seq(), e.Controller(), e.State())
	}
	e.SetSeq(0xdeadbeef)
	e.SetState(MaxState)
	if e.Seq() != 0xdeadbeef || e.State() != MaxState || !e.SeqProxied() {
		t.Fatalf("after SetSeq/SetState: seq %#x state %d proxied %v", e.Seq(), e.State(), e.SeqProxied())
	}
	back := connAt(tb, c, idx, now)
	if !back.SeqProxy || back.Seq != 0xdeadbeef || back.Control != 0 {
		t.Errorf("read back %+v", back)
	}
	before := tb.At(tidx).Controls()
	ch := tb.Hash(c.V6, c.Proto, &c.Caddr, c.Cport)
	tb.Lock(ch)
	tb.DeleteLocked(ch, idx)
	tb.Unlock(ch)
	if got := tb.At(tidx).Controls(); got != before || got != 1 {
		t.Errorf("template controls %d → %d: the proxied conn's word was taken for a template", before, got)
	}

	// An ordinary conn's SetSeq does nothing; a proxied conn cannot have
	// a template.
	o := conn(packet.ProtoTCP, "203.0.113.6", 1, "192.0.2.1", 80)
	o.Dest, o.Expires = 3, now.Add(time.Minute)
	oidx := mustInsert(t, tb, o, now)
	tb.At(oidx).SetSeq(7)
	if tb.At(oidx).Seq() != 0 || tb.At(oidx).SeqProxied() {
		t.Error("SetSeq changed an ordinary conn")
	}
	bad := conn(packet.ProtoTCP, "203.0.113.7", 1, "192.0.2.1", 80)
	bad.Dest, bad.Expires, bad.SeqProxy, bad.Control = 3, now.Add(time.Minute), true, tidx
	bh := tb.Hash(bad.V6, bad.Proto, &bad.Caddr, bad.Cport)
	tb.Lock(bh)
	_, ok := tb.InsertLocked(bh, &bad, now)
	tb.Unlock(bh)
	if ok {
		t.Error("a SYN proxy conn with a template was inserted")
	}
}
