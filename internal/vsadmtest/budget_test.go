package vsadmtest

import (
	"strings"
	"testing"
)

// TestSysctlTableBudget: vsadm --sysctl table_budget=N changes the table's
// budget in the running daemon; a negative one is refused, naming it, with
// nothing changed.
func TestSysctlTableBudget(t *testing.T) {
	d := newDaemon(t)
	d.mustRun(t, "", "--sysctl", "table_budget=33554432")
	out := d.mustRun(t, "", "--sysctl")
	if !strings.Contains(out, "table_budget = 33554432\n") {
		t.Fatalf("--sysctl lacks table_budget = 33554432:\n%s", out)
	}
	_, stderr, code := d.run("", "--sysctl", "drop_entry=1", "table_budget=-1")
	if code != 255 || !strings.HasPrefix(stderr, "table_budget -1: out of range 1048576..") {
		t.Errorf("table_budget=-1: exit %d %q", code, stderr)
	}
	if again := d.mustRun(t, "", "--sysctl"); again != out {
		t.Errorf("a refused --sysctl changed the tunables:\n%s", again)
	}
}
