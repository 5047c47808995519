package listing

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

// fuzzAddr makes an IPv4 (4 bytes), IPv6 (16 bytes) or invalid (other
// lengths) address.
func fuzzAddr(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

var (
	fuzzProtos  = []api.Protocol{api.TCP, api.UDP, api.SCTP, "", "ICMP"}
	fuzzMethods = []api.Method{api.Masq, api.Route, api.Tunnel, api.Local, "", "Bypass"}
	fuzzTuns    = []string{"", api.TunIPIP, api.TunGUE, api.TunGRE, "vxlan"}
	fuzzCsums   = []string{"", api.CsumNone, api.CsumOn, api.CsumRemote, "bogus"}
)

// FuzzWriteTable builds a table of two services with up to seven real
// servers from random fields and checks that no writer panics, that the
// writers refuse exactly the tables checkTable refuses, and the structure
// of what they print: header lines, one line per service and server, real
// server lines starting "  -> ", the caller's table unchanged, and WriteTable
// printing Sort's order.
func FuzzWriteTable(f *testing.F) {
	f.Add(byte(0), []byte{10, 0, 0, 1}, uint16(80), uint32(0), false, "rr", uint32(0x18), true, uint32(360), 24, "", true,
		[]byte{192, 168, 10, 1}, uint16(8080), byte(0), int32(3), int32(6), int32(34), uint64(370370367036), byte(2), uint16(6080), byte(2), byte(3))
	f.Add(byte(2), make([]byte, 16), uint16(0), uint32(1), true, "", uint32(0), false, uint32(0), 64, "sip", false,
		[]byte{32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 160, 160}, uint16(0), byte(2), int32(-1), int32(-1), int32(0), uint64(1<<63), byte(1), uint16(0), byte(3), byte(7))
	f.Fuzz(func(t *testing.T, proto byte, vip []byte, port uint16, mark uint32, v6 bool, sched string, flags uint32,
		persistent bool, timeout uint32, netmask int, pe string, ops bool,
		rip []byte, rport uint16, method byte, weight, active, inact int32, big uint64, tun byte, tunPort uint16, csum byte, n byte) {
		svc := api.Service{
			ServiceKey: api.ServiceKey{Protocol: fuzzProtos[int(proto)%len(fuzzProtos)], Addr: fuzzAddr(vip), Port: port, FwMark: mark, IPv6: v6},
			Scheduler:  sched, SchedFlags: flags, Persistent: persistent, Timeout: timeout, Netmask: netmask, PE: pe, OnePacket: ops,
			Stats: api.Stats{Conns: big, InPkts: big / 3, OutPkts: big >> 7, InBytes: big * 3, OutBytes: ^big},
			Rates: api.Rates{CPS: big >> 20, InPPS: big, OutPPS: big / 7, InBPS: big, OutBPS: big >> 1},
		}
		for i := range int(n % 8) {
			a := fuzzAddr(rip)
			if a.IsValid() {
				b := a.AsSlice()
				b[len(b)-1] ^= byte(i * 37)
				a, _ = netip.AddrFromSlice(b)
			}
			svc.Dests = append(svc.Dests, api.Dest{
				DestKey: api.DestKey{Addr: a, Port: rport + uint16(i)*4099},
				Method:  fuzzMethods[(int(method)+i)%len(fuzzMethods)], Weight: weight + int32(i),
				UThreshold: uint32(active), LThreshold: uint32(inact),
				TunType: fuzzTuns[(int(tun)+i)%len(fuzzTuns)], TunPort: tunPort, TunCsum: fuzzCsums[(int(csum)+i)%len(fuzzCsums)],
				ActiveConns: active, InactConns: inact, PersistConns: active ^ inact,
				Stats: api.Stats{Conns: big >> i, OutBytes: big << i}, Rates: api.Rates{CPS: big >> i, InBPS: big << i},
			})
		}
		// A second service: the first with its address and mark turned
		// around, and the servers in the other order.
		svc2 := svc
		svc2.Dests = nil
		for i := len(svc.Dests) - 1; i >= 0; i-- {
			svc2.Dests = append(svc2.Dests, svc.Dests[i])
		}
		if svc.Addr.IsValid() {
			b := svc.Addr.AsSlice()
			b[0] ^= 0x80
			svc2.Addr, _ = netip.AddrFromSlice(b)
		}
		if svc.FwMark != 0 {
			svc2.FwMark = svc.FwMark ^ 0x80000000
			if svc2.FwMark == 0 {
				svc2.FwMark = 1
			}
		}
		tab := &api.Table{TableSize: int(port), Services: []api.Service{svc, svc2}}
		keep := &api.Table{TableSize: tab.TableSize, Services: []api.Service{svc, svc2}}
		keep.Services[0].Dests = append([]api.Dest(nil), svc.Dests...)
		keep.Services[1].Dests = append([]api.Dest(nil), svc2.Dests...)
		nlines := 2 + 2*len(svc.Dests)
		bad := checkTable(tab) != nil

		for v := ViewPlain; v <= ViewTunInfo; v++ {
			for _, o := range []Options{{Numeric: true, View: v}, {View: v, Exact: true}, {Numeric: true, NoSort: true, View: v}} {
				var buf bytes.Buffer
				err := WriteTable(&buf, tab, o)
				if bad != (err != nil) {
					t.Fatalf("view %d: WriteTable error %v, checkTable says bad=%v", v, err, bad)
				}
				if err != nil {
					if buf.Len() != 0 {
						t.Fatalf("WriteTable wrote %q with error %v", buf.String(), err)
					}
					continue
				}
				out := buf.String()
				head := "IP Virtual Server version 1.2.1 (size="
				if !strings.HasPrefix(out, head) || !strings.Contains(out, ")\n"+titles[v]) {
					t.Fatalf("view %d: bad header:\n%s", v, out)
				}
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if len(lines) != 3+nlines {
					t.Fatalf("view %d: %d lines, want %d:\n%s", v, len(lines), 3+nlines, out)
				}
				dests := 0
				for _, l := range lines[3:] {
					if strings.HasPrefix(l, "  -> ") {
						dests++
						if len(l) < 5+destLabelWidth {
							t.Fatalf("view %d: short server line %q", v, l)
						}
					}
				}
				if dests != 2*len(svc.Dests) {
					t.Fatalf("view %d: %d server lines, want %d:\n%s", v, dests, 2*len(svc.Dests), out)
				}
				if !o.NoSort {
					// WriteTable prints Sort's order.
					c := &api.Table{TableSize: tab.TableSize, Services: append([]api.Service(nil), tab.Services...)}
					for i := range c.Services {
						c.Services[i].Dests = append([]api.Dest(nil), c.Services[i].Dests...)
					}
					Sort(c)
					o2 := o
					o2.NoSort = true
					var buf2 bytes.Buffer
					if err := WriteTable(&buf2, c, o2); err != nil || buf2.String() != out {
						t.Fatalf("view %d: WriteTable differs from Sort + NoSort (%v):\n%s\n%s", v, err, out, buf2.String())
					}
				}
			}
		}
		if !reflect.DeepEqual(tab, keep) {
			t.Fatal("WriteTable modified its table")
		}

		var buf bytes.Buffer
		err := WriteSave(&buf, tab, Options{Numeric: true})
		if bad != (err != nil) {
			t.Fatalf("WriteSave error %v, checkTable says bad=%v", err, bad)
		}
		if err == nil {
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != nlines {
				t.Fatalf("save: %d lines, want %d:\n%s", len(lines), nlines, buf.String())
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "-A ") && !strings.HasPrefix(l, "-a ") {
					t.Fatalf("save: bad line %q", l)
				}
			}
		}

		for _, name := range ProcNames() {
			buf.Reset()
			conns := []api.Conn{{Protocol: string(svc.Protocol), Client: netip.AddrPortFrom(fuzzAddr(rip), rport),
				Virtual: netip.AddrPortFrom(svc.Addr, port), State: sched, Expires: timeout, PEName: pe, PEData: sched, Synced: ops}}
			err := WriteProc(&buf, name, tab, conns)
			badConn := checkConns(conns) != nil
			if (name == ProcConns || name == ProcConnsSync) && badConn {
				if err == nil || buf.Len() != 0 {
					t.Fatalf("%s: error %v, output %q for a bad entry", name, err, buf.String())
				}
				continue
			}
			if name == ProcServices {
				if bad != (err != nil) {
					t.Fatalf("WriteProc error %v, checkTable says bad=%v", err, bad)
				}
				if err == nil && strings.Count(buf.String(), "\n") != 3+nlines {
					t.Fatalf("ip_vs: want %d lines:\n%s", 3+nlines, buf.String())
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == ProcConns || name == ProcConnsSync {
				if want := 2; strings.Count(buf.String(), "\n") != want {
					t.Fatalf("%s: want %d lines:\n%s", name, want, buf.String())
				}
			}
			buf.Reset()
			if err := WriteConns(&buf, conns, Options{View: ViewPersistentConn}); (err != nil) != badConn {
				t.Fatalf("WriteConns: error %v, bad entry %v", err, badConn)
			} else if err == nil && strings.Count(buf.String(), "\n") != 3 {
				t.Fatalf("WriteConns: want 3 lines:\n%s", buf.String())
			}
		}
		if !reflect.DeepEqual(tab, keep) {
			t.Fatal("a writer modified its table")
		}
	})
}

// FuzzParseServices: any /etc/services text parses without panicking,
// every name found is a non-empty field without spaces or '#', and a
// name the parser reports is what a second parse reports.
func FuzzParseServices(f *testing.F) {
	f.Add("http 80/tcp www # web\nhttps\t443/udp\n# x\n")
	f.Add("a 65536/tcp\nb -1/udp\nc 1/SCTP\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseServices(strings.NewReader(text))
		if err != nil && len(text) <= maxLine {
			t.Fatalf("error on %d bytes: %v", len(text), err)
		}
		for k, name := range m {
			if name == "" || strings.ContainsAny(name, " \t\n#") || protoNumber(k.proto) == 0 {
				t.Fatalf("bad entry %v → %q", k, name)
			}
		}
		m2, _ := parseServices(strings.NewReader(text))
		if !reflect.DeepEqual(m, m2) {
			t.Fatal("two parses differ")
		}
	})
}

// FuzzParseHosts: any /etc/hosts text parses without panicking and every
// entry maps a zone-less address to a non-empty name.
func FuzzParseHosts(f *testing.F) {
	f.Add("127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\nfe80::1%lo0 link # c\n")
	f.Add("bad line\n10.0.0.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseHosts(strings.NewReader(text))
		if err != nil && len(text) <= maxLine {
			t.Fatalf("error on %d bytes: %v", len(text), err)
		}
		for a, name := range m {
			if !a.IsValid() || a.Zone() != "" || name == "" || strings.ContainsAny(name, " \t\n#") {
				t.Fatalf("bad entry %v → %q", a, name)
			}
		}
	})
}
