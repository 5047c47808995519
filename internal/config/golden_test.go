package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.golden from the current output")

// TestBadFiles loads every testdata/bad/*.yaml, runs Check on the ones that
// parse (the host has interfaces lo and veth-front), and compares the error
// text with the file's .golden.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("bad files: %v %v", files, err)
	}
	exists := func(name string) bool { return name == "lo" || name == "veth-front" }
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err == nil {
				err = c.Check(exists)
			}
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%swant:\n%s", got, want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := mustParse(t, "interfaces:\n  - lo\n  - name: nope0\ncpus: [0, 1, 2]\n")
	err := c.CheckWith(func(n string) bool { return n == "lo" }, func(cpu int) bool { return cpu < 2 })
	want := `t.yaml:3:11: interfaces[1].name: no interface "nope0" on this host` + "\n" +
		"t.yaml:4:14: cpus[2]: CPU 2 does not exist or is not allowed for this process"
	if err == nil || err.Error() != want {
		t.Errorf("err:\n%v\nwant:\n%s", err, want)
	}
	// A Config made in code: duplicates are caught too.
	hand := &Config{Path: "h", Interfaces: []Interface{{Name: "lo"}, {Name: "lo"}}, CPUs: []int{0, 0}}
	err = hand.CheckWith(func(string) bool { return true }, func(int) bool { return true })
	want = "h: interfaces[1].name: \"lo\" is listed twice\nh: cpus[1]: CPU 0 is listed twice"
	if err == nil || err.Error() != want {
		t.Errorf("hand-made err:\n%v\nwant:\n%s", err, want)
	}
	// The real host: lo exists, CPU 0 is allowed to us (nearly always);
	// CPU 8191 is not.
	if err := mustParse(t, "interfaces: [lo]\n").Check(nil); err != nil {
		t.Errorf("lo: %v", err)
	}
	allowed, desc := cpuAllowed()
	if allowed(8191) || desc == "" {
		t.Errorf("cpuAllowed: 8191 allowed or no description %q", desc)
	}
	err = mustParse(t, "cpus: [8191]\n").Check(nil)
	if err == nil || !strings.Contains(err.Error(), "CPU 8191 does not exist or is not allowed for this process (allowed: "+desc+")") {
		t.Errorf("cpu 8191: %v", err)
	}
}
