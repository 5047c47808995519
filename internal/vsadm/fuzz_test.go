package vsadm

import (
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

// FuzzParse feeds random argument vectors (the input split at NUL bytes)
// to the parser and to Main (which also reads the input as -R rules): no
// panic, an error always has a message and an ipvsadm exit status, and a
// successful changing command carries a well-formed operation.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"-A\x00-t\x001.2.3.4:80\x00-s\x00rr",
		"-Lnc",
		"-a\x00-t\x00[2001:db8::1]:80\x00-r\x0010.1\x00-i\x00--tun-type\x00gue\x00--tun-port\x006080",
		"--set\x001\x002\x003",
		"-R",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, "\x00")
		c, err := parse("ipvsadm", args, fakeResolver{})
		switch {
		case err != nil:
			if err.Msg == "" || (err.Code != 1 && err.Code != 2 && err.Code != 255) {
				t.Fatalf("%q: error %q with exit %d", args, err.Msg, err.Code)
			}
		case c == nil || c.Name == "":
			t.Fatalf("%q: no command and no error", args)
		case c.Op != nil:
			checkFuzzOp(t, args, c.Op)
		}
		be := &fakeBackend{} // an empty table: no name lookups in listings
		var out, errb strings.Builder
		code := mainWith(append([]string{"ipvsadm"}, args...), strings.NewReader(strings.ReplaceAll(in, "\x00", " ")),
			&out, &errb, func() (Backend, error) { return be, nil }, fakeResolver{})
		if code != 0 && code != 1 && code != 2 && code != 255 {
			t.Fatalf("%q: Main returned %d", args, code)
		}
		if code != 0 && errb.Len() == 0 {
			t.Fatalf("%q: exit %d with nothing on stderr", args, code)
		}
		if code == 0 && errb.Len() != 0 {
			t.Fatalf("%q: exit 0 with stderr %q", args, errb.String())
		}
	})
}

func checkFuzzOp(t *testing.T, args []string, op *api.Op) {
	t.Helper()
	if s := op.Service; s != nil {
		if s.IsFwMark() == s.Addr.IsValid() {
			t.Fatalf("%q: service %+v is neither an address nor a mark", args, s.ServiceKey)
		}
		if (op.Kind == api.AddService || op.Kind == api.EditService) && (s.Scheduler == "" || s.Netmask < 0 || s.Netmask > 127 ||
			s.Persistent != (s.Timeout != 0) || s.Port == 0 && !s.IsFwMark() && !s.Persistent) {
			t.Fatalf("%q: bad service settings %+v", args, *s)
		}
	}
	if d := op.Dest; d != nil {
		if !d.Addr.IsValid() {
			t.Fatalf("%q: dest without an address", args)
		}
		if op.Kind != api.DeleteDest && (d.Weight < 0 || d.Weight > 65535 || d.Method == "" ||
			(d.TunType != "") != (d.Method == api.Tunnel)) {
			t.Fatalf("%q: bad dest %+v", args, *d)
		}
	}
}
