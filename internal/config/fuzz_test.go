package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vsd/vsd/internal/clock"
)

// FuzzParse: Parse never panics; every problem it reports names the file;
// when it succeeds, Build succeeds, and Apply reconciles a Set built from
// the example file to the same services and real servers as the fresh
// Build (then applying again changes nothing).
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.yaml")
	seeds = append(seeds, "testdata/vsd.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte(next))
	example, err := Load("testdata/vsd.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("Config and error both returned")
			}
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("problem without file or message: %+v", e)
				}
			}
			return
		}
		fresh, err := c.Build(nil)
		if err != nil {
			t.Fatalf("Parse succeeded but Build failed: %v", err)
		}
		live, err := example.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Apply(live, clock.Seconds(1)); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got, want := sortedLines(dump(live.Snapshot())), sortedLines(dump(fresh.Snapshot())); got != want {
			t.Fatalf("after Apply:\n%s\nfresh Build:\n%s", got, want)
		}
		if ch, err := c.Apply(live, clock.Seconds(2)); err != nil || !ch.Empty() {
			t.Fatalf("second Apply: %v %v", ch, err)
		}
	})
}
