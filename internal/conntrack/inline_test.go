package conntrack

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestHotAccessorsInline fails when an accessor used per packet stops
// being inlined (a call costs little, but many of them add up, and a
// change that breaks inlining usually also added work).
func TestHotAccessorsInline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := []string{
		"(*Table).Lock", "(*Table).At", "(*Table).at", "(*Table).stripeOf",
		"(*Entry).V6", "(*Entry).Proto", "(*Entry).CPort", "(*Entry).VPort", "(*Entry).DPort",
		"(*Entry).Flags", "(*Entry).Method", "(*Entry).SetFlags", "(*Entry).State", "(*Entry).SetState",
		"(*Entry).Dest", "(*Entry).InPkts", "(*Entry).CountInPkt", "(*Entry).Controller",
		"(*Entry).Touch", "(*Entry).Expired", "expiredAt", "ticksFloor", "v4Word",
	}
	inlined := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, fn, ok := strings.Cut(line, ": can inline "); ok {
			fn, _, _ = strings.Cut(fn, " ")
			inlined[fn] = true
		}
	}
	for _, fn := range want {
		if !inlined[fn] {
			t.Errorf("%s is not inlined", fn)
		}
	}
}
