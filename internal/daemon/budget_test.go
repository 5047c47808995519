package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsd/vsd/api"
)

// TestTableBudgetAtRunTime: table_budget set through the API takes effect
// at once; a reload with a changed table.budget applies it without a
// restart; one the running table cannot take is refused with nothing
// changed.
func TestTableBudgetAtRunTime(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "table:\n  budget: 8MiB\n")
	d, err := Start(Options{ConfigPath: path, Log: &lockedBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := api.NewClient(filepath.Join(dir, "vsd.sock"))
	defer c.Close()
	ctx := context.Background()
	budget := func() int64 {
		tus, err := c.Tunables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tu := range tus {
			if tu.Name == "table_budget" {
				return tu.Value
			}
		}
		t.Fatal("table_budget not listed")
		return 0
	}
	if got := budget(); got != 8<<20 {
		t.Fatalf("table_budget %d, want 8 MiB", got)
	}
	if err := c.Apply(ctx, api.Op{Kind: api.SetTunable, Tunable: &api.Tunable{Name: "table_budget", Value: 16 << 20}}); err != nil {
		t.Fatal(err)
	}
	if got := budget(); got != 16<<20 || d.eng.Table().Budget() != 16<<20 {
		t.Fatalf("after the API: %d", got)
	}
	rewrite := func(body string) {
		if err := os.WriteFile(path, []byte("control:\n  socket: "+filepath.Join(dir, "vsd.sock")+"\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("table:\n  budget: 32MiB\n")
	msg, err := d.Reload()
	if err != nil || strings.Contains(msg, "restart") {
		t.Fatalf("reload: %q %v", msg, err)
	}
	if got := budget(); got != 32<<20 {
		t.Fatalf("after the reload: %d, want 32 MiB", got)
	}
	rewrite("table:\n  budget: 8GiB\n")
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "table.budget 8589934592") {
		t.Errorf("reload above the table's maximum: %v", err)
	}
	if got := budget(); got != 32<<20 {
		t.Errorf("a refused reload changed the budget: %d", got)
	}
}
