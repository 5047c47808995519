package roottest

import (
	"os"
	"strings"
	"testing"
)

func TestMissing(t *testing.T) {
	root := os.Geteuid() == 0
	got := Missing("namespaces")
	if root && got != "" || !root && !strings.Contains(got, "needs root (namespaces)") {
		t.Errorf("Missing as uid %d: %q", os.Geteuid(), got)
	}
	if root {
		if got := Missing("x", "no-such-tool-vsd"); !strings.Contains(got, "no-such-tool-vsd") {
			t.Errorf("a missing tool: %q", got)
		}
		if got := Missing("x", "sh"); got != "" {
			t.Errorf("sh is on PATH: %q", got)
		}
	}
}

// fakeTB records how Unavailable ended a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Skip(args ...any)          { f.skipped = args[0].(string) }
func (f *fakeTB) Fatalf(s string, a ...any) { f.failed = s }

func TestUnavailable(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		f := &fakeTB{}
		Unavailable(f, "needs root (BPF)")
		if ci == "true" && (f.failed == "" || f.skipped != "") {
			t.Errorf("CI=true: skipped %q, failed %q; want a failure", f.skipped, f.failed)
		}
		if ci == "" && (f.skipped != "needs root (BPF)" || f.failed != "") {
			t.Errorf("no CI: skipped %q, failed %q; want a skip", f.skipped, f.failed)
		}
	}
}
