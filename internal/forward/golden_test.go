package forward

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/rewrites.golden and the fuzz seed corpus")

// TestGolden pins the exact bytes every rewrite produces for the table
// cases of the other tests: testdata/rewrites.golden holds each frame
// before and after. The other tests check the same results against frames
// built from scratch and against gopacket; this file makes any change to
// the output visible in review. Regenerate with go test -run Golden -update
// (which also rewrites the seed corpus of FuzzRewrite).
func TestGolden(t *testing.T) {
	var out strings.Builder
	record := func(name string, before, after []byte) {
		fmt.Fprintf(&out, "== %s\nbefore\n%safter\n%s\n", name, hexLines(before), hexLines(after))
	}

	for _, tc := range natCases {
		f := tc.in.bytes()
		p := decode(t, f)
		NATIn(f, &p, addr16(tc.rip), rport)
		record("NATIn/"+tc.name, tc.in.bytes(), f)

		reply := mirror(natted(tc.in, tc.rip))
		f = reply.bytes()
		p = decode(t, f)
		NATOut(f, &p, addr16(tc.in.dst), tc.in.dport)
		record("NATOut/"+tc.name, reply.bytes(), f)

		f = tc.in.bytes()
		p = decode(t, f)
		if DecTTL(f, &p) {
			SetMACs(f, macDirector, macServer)
			record("DecTTL+SetMACs/"+tc.name, tc.in.bytes(), f)
		}
	}
	for _, tc := range encapCases {
		orig := append(tc.in.bytes(), make([]byte, tc.pad)...)
		buf, off, n := withHeadroom(orig)
		p := decode(t, buf[off:off+n])
		var newOff, newLen int
		var ok bool
		if tc.gue {
			newOff, newLen, ok = EncapGUE(buf, off, n, &p, tc.o, FlowPort(&p), gueTestPort, tc.csum)
		} else {
			newOff, newLen, ok = EncapIPIP(buf, off, n, &p, tc.o)
		}
		if !ok {
			t.Fatalf("%s: refused", tc.name)
		}
		record("Encap/"+tc.name, orig, buf[newOff:newOff+newLen])
	}
	for _, tc := range errorCases {
		buf, off, n := tc.in.buf()
		from := addr16(tc.in.dst)
		if tc.name == "udp6-multicast-dst" {
			from = addr16(dir6)
		}
		p := decode(t, buf[off:off+n])
		newOff, newLen, ok := tc.kind.send(buf, off, n, &p, from, tc.mtu)
		if !ok {
			t.Fatalf("%s: refused", tc.name)
		}
		record(tc.kind.String()+"/"+tc.name, tc.in.bytes(), buf[newOff:newOff+newLen])
	}

	for _, tc := range icmpNATCases {
		origOuter := tc.errDst
		if tc.out {
			origOuter = tc.errSrc
		}
		before := tc.frame(t, origOuter, quote(t, tc.quoted, tc.quoteL4, nil))
		f := append([]byte(nil), before...)
		p, inner := decodeICMPError(t, f)
		if tc.out {
			NATOutICMP(f, &p, &inner, addr16(tc.addr), tc.port)
		} else {
			NATInICMP(f, &p, &inner, addr16(tc.addr), tc.port)
		}
		record("ICMPNAT/"+tc.name, before, f)
	}

	path := filepath.Join("testdata", "rewrites.golden")
	if *update {
		writeFuzzSeeds(t)
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("output differs from %s; first difference:\n%s", path, firstDiff(string(want), got))
	}
}

// hexLines formats b as hex, 32 bytes a line.
func hexLines(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		n := min(len(b), 32)
		s.WriteString(hex.EncodeToString(b[:n]))
		s.WriteByte('\n')
		b = b[n:]
	}
	return s.String()
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	name := ""
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if strings.HasPrefix(w, "== ") {
			name = w
		}
		if w != g {
			return fmt.Sprintf("%s, line %d:\nwant %s\nhave %s", name, i+1, w, g)
		}
	}
	return "(none)"
}
