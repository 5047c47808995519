package steer

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// maxFuzzFrame bounds fuzz inputs to what a test run accepts comfortably.
const maxFuzzFrame = 1514

// FuzzClassify runs the XDP test variant and the guard on arbitrary frames
// and compares their verdicts with the Go reference classifier. It loads
// BPF programs: it skips without root (fails with CI=true).
func FuzzClassify(f *testing.F) {
	for _, c := range classCases() {
		f.Add(c.frame)
	}
	p := loadTestPrograms(f)
	ref := newRefMatch(testMatch())
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 14 || len(b) > maxFuzzFrame {
			return // the kernel's test runner refuses shorter frames
		}
		checkVerdicts(t, p, b, refClassify(b, ref, true), refClassify(b, ref, false))
	})
}

// FuzzDecap runs the decapsulator on arbitrary frames and compares the
// output with the Go reference (root needed, as for FuzzClassify).
func FuzzDecap(f *testing.F) {
	for _, c := range decapCases() {
		f.Add(c.in)
	}
	d := loadTestDecap(f, guePort)
	vk := map[key]struct{}{vipKey(vip4): {}, vipKey(vip6): {}}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 14 || len(b) > maxFuzzFrame {
			return
		}
		checkDecap(t, d.Program(), b, refDecap(b, vk, guePort))
	})
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz seed corpora from the table cases")

// TestWriteFuzzSeeds writes the seed corpora (with -update-seeds).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seedName := func(s string) string {
		out := []byte(s)
		for i, c := range out {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				out[i] = '_'
			}
		}
		return string(out)
	}
	for _, c := range classCases() {
		write("FuzzClassify", seedName(c.name), c.frame)
	}
	for _, c := range decapCases() {
		write("FuzzDecap", seedName(c.name), c.in)
	}
}
