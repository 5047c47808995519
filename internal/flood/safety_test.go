package flood

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSafe(t *testing.T) {
	initNS := nsID{dev: 4, ino: 4026531833}
	other := nsID{dev: 4, ino: 4026532178}
	errRead := errors.New("permission denied")
	never := func() (bool, error) { t.Error("asked whether the interface is the loopback"); return false, nil }
	yes := func() (bool, error) { return true, nil }
	no := func() (bool, error) { return false, nil }
	broken := func() (bool, error) { return false, errors.New("--dev x: no such interface") }
	for _, c := range []struct {
		name          string
		self          nsID
		selfErr       error
		init          nsID
		initErr       error
		lo            func() (bool, error)
		want          string // "" = allowed
		wantUnsafeErr bool
	}{
		{"other namespace", other, nil, initNS, nil, never, "", false},
		{"initial, loopback", initNS, nil, initNS, nil, yes, "", false},
		{"initial, not loopback", initNS, nil, initNS, nil, no, "in the initial network namespace and not the loopback", true},
		{"same dev, same ino", nsID{1, 2}, nil, nsID{1, 2}, nil, no, "initial network namespace", true},
		{"init unreadable, loopback", other, nil, nsID{}, errRead, yes, "", false},
		{"init unreadable, not loopback", other, nil, nsID{}, errRead, no, "cannot tell whether this is the initial network namespace (permission denied)", true},
		{"self unreadable", nsID{}, errRead, initNS, nil, no, "cannot read /proc/thread-self/ns/net", true},
		{"no such interface", initNS, nil, initNS, nil, broken, "no such interface", false},
	} {
		err := checkSafe("veth0", c.self, c.selfErr, c.init, c.initErr, c.lo)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		case c.want != "" && errors.Is(err, ErrUnsafe) != c.wantUnsafeErr:
			t.Errorf("%s: errors.Is(%v, ErrUnsafe) = %v", c.name, err, !c.wantUnsafeErr)
		case c.want != "" && !strings.Contains(err.Error(), "veth0") && c.wantUnsafeErr:
			t.Errorf("%s: %v does not name the interface", c.name, err)
		}
	}
}

func TestHasNetRaw(t *testing.T) {
	for status, want := range map[string]bool{
		"Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n": true,
		"CapEff:\t0000000000002000\n":                                      true,
		"CapEff:\t0000000000001fff\n":                                      false,
		"CapEff:\t0000000000000000":                                        false,
	} {
		if got, err := hasNetRaw(status); err != nil || got != want {
			t.Errorf("hasNetRaw(%q) = %v, %v", status, got, err)
		}
	}
	for _, bad := range []string{"", "CapEff:\tzz\n", "Name: x\n"} {
		if _, err := hasNetRaw(bad); err == nil {
			t.Errorf("hasNetRaw(%q): no error", bad)
		}
	}
}

func TestIsKthreadd(t *testing.T) {
	if !isKthreadd("Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nTgid:\t2\nPid:\t2\nPPid:\t0\n") {
		t.Error("kthreadd not recognised")
	}
	if isKthreadd("Name:\tkthreadd\nPPid:\t1\n") {
		t.Error("a user process named kthreadd taken for the kernel's")
	}
	if isKthreadd("Name:\tsh\nPPid:\t0\n") {
		t.Error("a pid namespace's init taken for kthreadd")
	}
}
