package conntrack

import (
	"errors"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		err     error
		buckets int
		cap     int
	}{
		{"defaults", Config{}, nil, 1 << DefaultBits, DefaultMaxEntries},
		{"min bits", Config{Bits: 8, MaxEntries: 10}, nil, 256, 10},
		{"max bits", Config{Bits: 24, MaxEntries: 10}, nil, 1 << 24, 10},
		{"bits too small", Config{Bits: 7}, ErrBits, 0, 0},
		{"bits too large", Config{Bits: 25}, ErrBits, 0, 0},
		{"negative bits", Config{Bits: -1}, ErrBits, 0, 0},
		{"negative entries", Config{MaxEntries: -5}, ErrBudget, 0, 0},
		{"budget too small", Config{Bits: 12, BudgetBytes: 1000}, ErrBudget, 0, 0},
		// 64 MiB minus 16 KiB of buckets, 128 KiB of stripes and slot 0; 32
		// bytes a slot plus 8 bytes of directory per 2^16 slots.
		{"budget", Config{Bits: 12, BudgetBytes: 64 << 20}, nil, 4096, 2092535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := New(tt.cfg)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if tb.Buckets() != tt.buckets || tb.Capacity() != tt.cap {
				t.Errorf("buckets %d cap %d, want %d %d", tb.Buckets(), tb.Capacity(), tt.buckets, tt.cap)
			}
		})
	}
}

func TestBudgetBytesIsHonoured(t *testing.T) {
	const budget = 8 << 20
	tb, _ := newTestTable(t, Config{Bits: 14, BudgetBytes: budget})
	now := clock.Seconds(1)
	n := 0
	for i := 0; ; i++ {
		k := benchKey(i)
		c := Conn{Proto: k.Proto, Caddr: k.Caddr, Vaddr: k.Vaddr, Cport: k.Cport, Vport: k.Vport, Expires: now.Add(time.Minute)}
		if _, ok := insert(tb, c, now); !ok {
			break
		}
		n++
	}
	if got := tb.BytesInUse(); got > budget {
		t.Errorf("BytesInUse %d > budget %d", got, budget)
	}
	if n != tb.Capacity() {
		t.Errorf("inserted %d, capacity %d", n, tb.Capacity())
	}
}

// protoCases covers both families and the three conn protocols.
var protoCases = []struct {
	name  string
	proto packet.Proto
	c, v  string
}{
	{"tcp4", packet.ProtoTCP, "198.51.100.7", "192.0.2.1"},
	{"udp4", packet.ProtoUDP, "198.51.100.7", "192.0.2.1"},
	{"sctp4", packet.ProtoSCTP, "198.51.100.7", "192.0.2.1"},
	{"tcp6", packet.ProtoTCP, "2001:db8::7", "2001:db8:1::1"},
	{"udp6", packet.ProtoUDP, "2001:db8::7", "2001:db8:1::1"},
	{"sctp6", packet.ProtoSCTP, "2001:db8::7", "2001:db8:1::1"},
}

func TestInsertLookupIn(t *testing.T) {
	for _, pc := range protoCases {
		t.Run(pc.name, func(t *testing.T) {
			tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
			now := clock.Seconds(100)
			c := conn(pc.proto, pc.c, 40000, pc.v, 80)
			c.Dport, c.Dest, c.State, c.Flags = 8080, 7, 3, FwdTunnel|FlagNoOutput|FlagInactive
			c.Expires = now.Add(90 * time.Second)
			idx := mustInsert(t, tb, c, now)

			if got := lookupIn(tb, c.key(), now); got != idx {
				t.Fatalf("lookup = %d, want %d", got, idx)
			}
			back := connAt(tb, c, idx, now)
			if back.Expires < c.Expires || back.Expires >= c.Expires.Add(Tick) {
				t.Errorf("expires %d, want [%d, %d)", back.Expires, c.Expires, c.Expires.Add(Tick))
			}
			want := c
			want.Expires = back.Expires
			if back != want {
				t.Errorf("read back\n got %+v\nwant %+v", back, want)
			}

			other := conn(pc.proto, "203.0.113.9", 1, "2001:db8:2::2", 1)
			misses := map[string]func(k *Key){
				"cport": func(k *Key) { k.Cport++ },
				"vport": func(k *Key) { k.Vport++ },
				"caddr": func(k *Key) { k.Caddr[15]++ },
				"vaddr": func(k *Key) { k.Vaddr[15]++ },
				"proto": func(k *Key) {
					if k.Proto == packet.ProtoUDP {
						k.Proto = packet.ProtoTCP
					} else {
						k.Proto = packet.ProtoUDP
					}
				},
				"family":    func(k *Key) { k.V6 = !k.V6 },
				"unknown":   func(k *Key) { k.Proto = packet.ProtoICMP },
				"other":     func(k *Key) { *k = other.key() },
				"cport0":    func(k *Key) { k.Cport = 0 },
				"fwmarkish": func(k *Key) { k.Proto = 0 },
			}
			if c.V6 {
				misses["vaddr0"] = func(k *Key) { k.Vaddr[0]++ }
				misses["caddr0"] = func(k *Key) { k.Caddr[0]++ }
			}
			for name, mutate := range misses {
				k := c.key()
				mutate(&k)
				if got := lookupIn(tb, k, now); got != 0 {
					t.Errorf("%s: lookup found %d", name, got)
				}
			}
		})
	}
}

func TestInsertRejectsInvalid(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(1)
	bad := []Conn{
		conn(packet.ProtoICMP, "10.0.0.1", 1, "10.0.0.2", 2),
		conn(0, "10.0.0.1", 1, "10.0.0.2", 2), // proto 0 only for templates
		func() Conn { c := conn(packet.ProtoTCP, "10.0.0.1", 1, "10.0.0.2", 2); c.Dest = MaxDest + 1; return c }(),
		func() Conn {
			c := conn(packet.ProtoTCP, "10.0.0.0", 0, "10.0.0.2", 2)
			c.Flags, c.Control = FlagTemplate, 1
			return c
		}(),
	}
	for _, c := range bad {
		if _, ok := insert(tb, c, now); ok {
			t.Errorf("insert %+v accepted", c)
		}
	}
	st := tb.Stats()
	if st.Invalid != uint64(len(bad)) || st.Conns != 0 || st.Slots != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLookupOut(t *testing.T) {
	for _, pc := range protoCases {
		t.Run(pc.name, func(t *testing.T) {
			tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
			now := clock.Seconds(5)
			rs := addr("10.1.1.1")
			if pc.c[0] == '2' {
				rs = addr("2001:db8:ff::1")
			}
			tb.SetDestAddr(3, rs)

			nat := conn(pc.proto, pc.c, 40000, pc.v, 80)
			nat.Dport, nat.Dest, nat.Flags, nat.Expires = 8080, 3, FwdMasq, now.Add(time.Minute)
			natIdx := mustInsert(t, tb, nat, now)

			dr := conn(pc.proto, pc.c, 40001, pc.v, 80)
			dr.Dport, dr.Dest, dr.Flags, dr.Expires = 8080, 3, FwdDirectRoute|FlagNoOutput, now.Add(time.Minute)
			drIdx := mustInsert(t, tb, dr, now)

			local := conn(pc.proto, pc.c, 40002, pc.v, 80)
			local.Dport, local.Dest, local.Flags, local.Expires = 80, 3, FwdLocalNode, now.Add(time.Minute)
			localIdx := mustInsert(t, tb, local, now)

			tests := []struct {
				name  string
				cport uint16
				src   [16]byte
				sport uint16
				want  uint32
			}{
				{"nat from dest", 40000, rs, 8080, natIdx},
				{"nat from dest wrong port", 40000, rs, 80, 0},
				{"nat from vip", 40000, nat.Vaddr, 80, 0},
				{"dr from vip", 40001, dr.Vaddr, 80, drIdx},
				{"dr from dest", 40001, rs, 8080, 0},
				{"local from vip", 40002, local.Vaddr, 80, localIdx},
				{"local from vip wrong port", 40002, local.Vaddr, 81, 0},
				{"unknown client port", 40003, rs, 8080, 0},
			}
			for _, tt := range tests {
				got := lookupOut(tb, nat.V6, pc.proto, nat.Caddr, tt.cport, tt.src, tt.sport, now)
				if got != tt.want {
					t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
				}
			}
			// Another client address never matches.
			other := nat.Caddr
			other[15]++
			if got := lookupOut(tb, nat.V6, pc.proto, other, 40000, rs, 8080, now); got != 0 {
				t.Errorf("other client: got %d", got)
			}
		})
	}
}

func TestLookupOutSkipsTemplates(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(5)
	rs := addr("10.1.1.1")
	tb.SetDestAddr(1, rs)
	tmpl := conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 80)
	tmpl.Flags, tmpl.Dest, tmpl.Dport, tmpl.Expires = FlagTemplate|FwdMasq, 1, 80, now.Add(time.Minute)
	mustInsert(t, tb, tmpl, now)
	if got := lookupOut(tb, false, packet.ProtoTCP, tmpl.Caddr, 0, rs, 80, now); got != 0 {
		t.Errorf("outbound lookup matched a template: %d", got)
	}
}

func TestLookupTemplate(t *testing.T) {
	now := clock.Seconds(10)
	tests := []struct {
		name string
		tmpl Conn
	}{
		{"tcp4 port", conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 443)},
		{"tcp4 port 0", conn(packet.ProtoTCP, "198.51.100.0", 0, "192.0.2.1", 0)},
		{"udp6", conn(packet.ProtoUDP, "2001:db8::", 0, "2001:db8:1::1", 53)},
		{"fwmark4", Conn{Proto: 0, Caddr: addr("198.51.100.0"), Vaddr: FwmarkAddr(false, 0x1234)}},
		{"fwmark6", Conn{V6: true, Proto: 0, Caddr: addr("2001:db8::"), Vaddr: FwmarkAddr(true, 0x1234)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
			c := tt.tmpl
			c.Flags, c.Dest, c.Expires = FlagTemplate|FwdDirectRoute, 2, now.Add(300*time.Second)
			idx := mustInsert(t, tb, c, now)
			if got := lookupTemplate(tb, c.key(), now); got != idx {
				t.Fatalf("template lookup = %d, want %d", got, idx)
			}
			// A conn with the template's key is not a template.
			if got := lookupIn(tb, c.key(), now); got != 0 {
				t.Errorf("inbound lookup matched the template")
			}
			for name, mutate := range map[string]func(k *Key){
				"vport":  func(k *Key) { k.Vport++ },
				"net":    func(k *Key) { k.Caddr[14]++ },
				"vaddr":  func(k *Key) { k.Vaddr[3]++; k.Vaddr[15]++ },
				"family": func(k *Key) { k.V6 = !k.V6 },
				"proto":  func(k *Key) { k.Proto = packet.ProtoSCTP },
			} {
				k := c.key()
				mutate(&k)
				if got := lookupTemplate(tb, k, now); got != 0 {
					t.Errorf("%s: found %d", name, got)
				}
			}
			// Cport is ignored by template lookups.
			k := c.key()
			k.Cport = 99
			if got := lookupTemplate(tb, k, now); got != idx {
				t.Errorf("cport not ignored")
			}
		})
	}
}

func TestFwmarkTemplateV6ComparesFirst32Bits(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
	now := clock.Seconds(10)
	c := Conn{V6: true, Caddr: addr("2001:db8::"), Vaddr: FwmarkAddr(true, 7), Flags: FlagTemplate, Expires: now.Add(time.Minute)}
	c.Vaddr[9] = 0xaa // garbage after the mark
	idx := mustInsert(t, tb, c, now)
	k := c.key()
	k.Vaddr[9], k.Vaddr[12] = 0, 0xbb // different garbage
	if got := lookupTemplate(tb, k, now); got != idx {
		t.Fatalf("got %d, want %d", got, idx)
	}
	k.Vaddr[3] = 8 // different mark
	if got := lookupTemplate(tb, k, now); got != 0 {
		t.Fatalf("different mark matched")
	}
}

func TestNoCPort(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 100})
		now := clock.Seconds(1)
		ca, va := "198.51.100.7", "192.0.2.1"
		if v6 {
			ca, va = "2001:db8::7", "2001:db8:1::1"
		}
		// FTP-data-like conn whose client port is not known yet.
		nc := conn(packet.ProtoTCP, ca, 0, va, 20)
		nc.Flags, nc.Expires = FlagNoCPort|FwdMasq, now.Add(time.Minute)
		ncIdx := mustInsert(t, tb, nc, now)
		// Ordinary conn.
		oc := conn(packet.ProtoTCP, ca, 5000, va, 21)
		oc.Expires = now.Add(time.Minute)
		ocIdx := mustInsert(t, tb, oc, now)
		if tb.NoCPortConns() != 1 {
			t.Fatalf("NoCPortConns = %d", tb.NoCPortConns())
		}

		k := nc.key()
		k.Cport = 6000
		if got := lookupIn(tb, k, now); got != 0 {
			t.Errorf("known cport matched a NO_CPORT conn")
		}
		k.Cport = 0
		if got := lookupIn(tb, k, now); got != ncIdx {
			t.Errorf("cport 0 lookup = %d, want %d", got, ncIdx)
		}
		k = oc.key()
		k.Cport = 0
		if got := lookupIn(tb, k, now); got != 0 {
			t.Errorf("cport 0 matched a conn without NO_CPORT")
		}
		if got := lookupIn(tb, oc.key(), now); got != ocIdx {
			t.Errorf("ordinary lookup failed")
		}

		// The retry the kernel does, then fill the port in.
		h0 := tb.Hash(nc.V6, nc.Proto, &nc.Caddr, 0)
		if tb.FillCPort(h0, ncIdx, 0) {
			t.Error("FillCPort accepted port 0")
		}
		if !tb.FillCPort(h0, ncIdx, 6000) {
			t.Fatal("FillCPort failed")
		}
		if tb.FillCPort(h0, ncIdx, 6001) {
			t.Error("FillCPort succeeded twice")
		}
		k = nc.key()
		k.Cport = 6000
		if got := lookupIn(tb, k, now); got != ncIdx {
			t.Errorf("after fill: lookup = %d, want %d", got, ncIdx)
		}
		k.Cport = 0
		if got := lookupIn(tb, k, now); got != 0 {
			t.Errorf("after fill: cport 0 still matches")
		}
		if tb.NoCPortConns() != 0 {
			t.Errorf("NoCPortConns = %d after fill", tb.NoCPortConns())
		}
		if st := tb.Stats(); st.Conns != 2 || st.Slots != map[bool]int64{false: 2, true: 4}[v6] {
			t.Errorf("stats after fill: %+v", st)
		}
	}
}

func TestEntryAccessors(t *testing.T) {
	tb, _ := newTestTable(t, Config{Bits: 8, MaxEntries: 10})
	now := clock.Seconds(1)
	c := conn(packet.ProtoTCP, "198.51.100.7", 1234, "192.0.2.1", 80)
	c.Flags, c.Dest, c.Dport, c.Expires = FwdTunnel|FlagInactive|FlagNoOutput, 9, 8080, now.Add(time.Second)
	idx := mustInsert(t, tb, c, now)
	e := tb.At(idx)
	if e.V6() || e.Proto() != packet.ProtoTCP || e.CPort() != 1234 || e.VPort() != 80 || e.DPort() != 8080 ||
		e.Method() != FwdTunnel || e.Dest() != 9 || e.IsTemplate() || e.Controller() != 0 || e.Controls() != 0 {
		t.Fatalf("accessors wrong: %+v", tb.ConnLocked(idx, now))
	}
	e.SetFlags(FlagNoOutput | FlagTemplate | FwdBypass) // only NoOutput/Inactive are mutable
	if e.Flags() != FwdTunnel|FlagNoOutput {
		t.Errorf("flags = %#x", e.Flags())
	}
	for _, s := range []uint8{0, 5, 13, MaxState} {
		e.SetState(s)
		if e.State() != s || e.Flags() != FwdTunnel|FlagNoOutput {
			t.Errorf("state %d → %d", s, e.State())
		}
	}
	e.SetDest(MaxDest)
	for i := 0; i < 300; i++ {
		e.CountInPkt()
	}
	if e.InPkts() != 255 || e.Dest() != MaxDest {
		t.Errorf("in_pkts %d dest %d", e.InPkts(), e.Dest())
	}
	e.SetDest(4)
	if e.InPkts() != 255 || e.Dest() != 4 {
		t.Errorf("SetDest touched in_pkts: %d %d", e.InPkts(), e.Dest())
	}
}

func TestFlagsKernel(t *testing.T) {
	tests := []struct {
		f Flags
		k uint32
	}{
		{FwdMasq, 0},
		{FwdDirectRoute | FlagNoOutput | FlagInactive, 0x0183},
		{FwdTunnel | FlagTemplate, 0x1002},
		{FwdBypass | FlagNoCPort | FlagOnePacket, 0x2804},
		{FwdLocalNode, 1},
	}
	for _, tt := range tests {
		if got := tt.f.Kernel(); got != tt.k {
			t.Errorf("%#x.Kernel() = %#x, want %#x", tt.f, got, tt.k)
		}
		if got := FlagsFromKernel(tt.k | 0x10640); got != tt.f { // SYNC-less extras: HASHED, SEQ, NFCT dropped
			t.Errorf("FlagsFromKernel(%#x) = %#x, want %#x", tt.k, got, tt.f)
		}
	}
}

func TestFwmarkAddr(t *testing.T) {
	if got, want := FwmarkAddr(false, 0x01020304), addr("1.2.3.4"); got != want {
		t.Errorf("v4: %v", got)
	}
	if got, want := FwmarkAddr(true, 0x01020304), addr("102:304::"); got != want {
		t.Errorf("v6: %v", got)
	}
}
