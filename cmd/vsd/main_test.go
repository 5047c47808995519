package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestCommandLine: bad input gets a message naming it and a non-zero exit.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: vsd"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"sim", "-s", "fastest"}, 2, `scheduler "fastest"`},
		{[]string{"sim", "-clients", "0"}, 2, "-clients 0"},
		{[]string{"sim", "-clients", "many"}, 2, "invalid value"},
		{[]string{"sim", "-methods", "nat,fullnat"}, 2, `method "fullnat"`},
		{[]string{"sim", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"help"}, 0, "usage: vsd"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("vsd %v: exit %d, output %q; want exit %d and %q", tc.args, code, out.String()+errb.String(), tc.code, tc.want)
		}
	}
}

// TestSimCommand runs a small simulation end to end through main's code.
func TestSimCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"sim", "-q", "-clients", "300", "-duration", "30s", "-s", "rr"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "summary: 300/300 sessions completed, 0 switches, 0 problems") {
		t.Fatalf("no clean summary:\n%s", out.String())
	}
}

// FuzzParseSim: any argument list is either accepted with sane options or
// refused with an error; never a panic.
func FuzzParseSim(f *testing.F) {
	f.Add("-clients 10 -duration 1m -s rr")
	f.Add("-methods nat,dr -servers 2 -table-bits 16 -seed 9 -q")
	f.Add("-clients -5")
	f.Add("-table-budget -1 --duration=bogus extra")
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseSim(strings.Fields(line), io.Discard)
		if err != nil {
			return
		}
		if o.Clients <= 0 || o.Duration <= 0 || o.TableBits < 8 || o.TableBits > 24 || o.TableBudget < 0 {
			t.Fatalf("%q accepted with bad options %+v", line, o)
		}
	})
}
