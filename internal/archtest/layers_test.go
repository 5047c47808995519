package archtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Layer numbers (docs/design.md, "Layers"). A package may import only
// packages of strictly lower layers.
const (
	layerControl = 4 // control plane: the default for packages not in layerTable
	layerCmd     = 5 // cmd/...
	layerLogFree = 3 // packages below this layer must not log
)

// layerTable classifies the components of the module: a component is
// internal/<name> (with every package below it) and its layer. Add new
// packages here; one not listed is treated as layerControl and every
// message about it says so.
var layerTable = map[string]int{
	"internal/clock":    0,
	"internal/siphash":  0, // keyed hash (Maglev, SYN cookies)
	"internal/packet":   0,
	"internal/link":     0,
	"internal/roottest": 0, // tests only: the skip-or-fail rule for privileged tests
	"api":               0, // the control API's types and client (imports nothing of vsd)

	"internal/state":   1,
	"internal/service": 1,
	"internal/sched":   1,
	"internal/defense": 1, // flood defenses: level machine, drop rates, which entries to drop

	"internal/conntrack": 2,
	"internal/forward":   2,
	"internal/frag":      2, // fragment tracker: first-fragment decisions, early fragments held
	"internal/synproxy":  2, // SYN cookies and the SYN proxy's packet rewrites

	"internal/director": 3,

	"internal/steer": 2, // BPF programs (XDP steering, tc guard, decapsulator) and their maps
	"internal/neigh": 2, // next hops from the kernel's routes and neighbours; ARP/NDP answers

	"internal/config":   layerControl, // the daemon's YAML file, validated
	"internal/netns":    layerControl, // network namespaces, veths and processes for the lab and root tests
	"internal/daemon":   layerControl, // vsd run: links, workers, reload, control socket
	"internal/benchlab": layerControl, // make bench-datapath: side-by-side datapath measurements in namespaces
	"internal/flood":    layerControl, // vsflood: testlvs-style SYN/UDP floods from spoofed sources, namespaces and lo only

	"internal/sim":       layerControl,
	"internal/listing":   layerControl,
	"internal/archtest":  layerControl, // tests only
	"internal/lab":       layerControl, // assembles sim + director + listing for vsd sim / vsd lab
	"internal/control":   layerControl, // the control API's server: operations on the service set, table views
	"internal/vsadm":     layerControl, // the ipvsadm-compatible command line
	"internal/vsadmtest": layerControl, // tests only: vsadm against the real control server
}

// sameLayerAllowed lists the only same-layer imports allowed, as
// importer → imported component.
var sameLayerAllowed = map[[2]string]bool{
	{"internal/sched", "internal/service"}:     true, // sched implements service.Scheduler
	{"internal/lab", "internal/sim"}:           true, // the lab runs scenarios on the sim network
	{"internal/lab", "internal/listing"}:       true, // and prints the ipvsadm table
	{"internal/lab", "internal/netns"}:         true, // vsd lab builds its LVS in namespaces
	{"internal/lab", "internal/config"}:        true, // and writes the daemon's configuration
	{"internal/daemon", "internal/config"}:     true, // the daemon applies the file
	{"internal/daemon", "internal/listing"}:    true, // and serves the ipvsadm table
	{"internal/daemon", "internal/control"}:    true, // and the control API
	{"internal/lab", "internal/control"}:       true, // the lab reads the table as the API shows it
	{"internal/vsadm", "internal/listing"}:     true, // vsadm prints ipvsadm's layouts
	{"internal/control", "internal/config"}:    true, // timeouts and tunables share the file's names
	{"internal/vsadmtest", "internal/vsadm"}:   true, // end-to-end tests of vsadm
	{"internal/vsadmtest", "internal/control"}: true, // against the daemon's control server
	{"internal/lab", "internal/vsadm"}:         true,
	{"internal/lab", "internal/flood"}:         true, // the flood test drives vsflood
	{"internal/benchlab", "internal/netns"}:    true, // the benchmark's testbed
}

// component is the unit the layer table classifies: "internal/<name>" or
// "cmd/<name>" (sub-packages belong to their component and may import one
// another), else the first path element ("api"), or "." for the root.
func component(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	if (parts[0] == "internal" || parts[0] == "cmd") && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// layerOf returns the layer of a component and whether it is classified.
func layerOf(comp string) (layer int, known bool) {
	if comp == "cmd" || strings.HasPrefix(comp, "cmd/") {
		return layerCmd, true
	}
	if l, ok := layerTable[comp]; ok {
		return l, true
	}
	return layerControl, false
}

// describe names a package with its layer, and tells how to classify it
// when it is not in the table.
func describe(rel string) string {
	comp := component(rel)
	l, known := layerOf(comp)
	if !known {
		return fmt.Sprintf("%s (L%d by default: %s is not in layerTable of internal/archtest/layers_test.go; classify it)", rel, l, comp)
	}
	return fmt.Sprintf("%s (L%d)", rel, l)
}

// isLogPackage reports whether path is the standard library's log or one
// of its sub-packages (log/slog, log/syslog).
func isLogPackage(path string) bool { return path == "log" || strings.HasPrefix(path, "log/") }

// checkImports returns one message per import that breaks the layering
// rules, naming the importing package and the import.
func checkImports(module string, pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if !inModule(module, p.ImportPath) {
			continue
		}
		rel := relPath(module, p.ImportPath)
		comp := component(rel)
		layer, _ := layerOf(comp)
		for _, imp := range p.Imports {
			if isLogPackage(imp) && layer < layerLogFree {
				bad = append(bad, fmt.Sprintf("%s imports %q: packages below L%d must not log (return verdicts and counters instead)",
					describe(rel), imp, layerLogFree))
				continue
			}
			if !inModule(module, imp) {
				continue
			}
			irel := relPath(module, imp)
			icomp := component(irel)
			if icomp == comp {
				continue
			}
			ilayer, _ := layerOf(icomp)
			switch {
			case ilayer < layer:
			case ilayer == layer && sameLayerAllowed[[2]string{comp, icomp}]:
			case ilayer == layer:
				bad = append(bad, fmt.Sprintf("%s imports %s: same-layer import (the only ones allowed: %s)",
					describe(rel), describe(irel), allowedPairs()))
			default:
				bad = append(bad, fmt.Sprintf("%s imports %s: a package may import only lower layers",
					describe(rel), describe(irel)))
			}
		}
	}
	return bad
}

func allowedPairs() string {
	var s []string
	for pair := range sameLayerAllowed {
		s = append(s, pair[0]+" → "+pair[1])
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// TestLayering enforces the import direction between layers on the real
// module.
func TestLayering(t *testing.T) {
	module, pkgs := loadModule(t)
	for _, p := range pkgs {
		if !inModule(module, p.ImportPath) {
			continue
		}
		rel := relPath(module, p.ImportPath)
		if _, known := layerOf(component(rel)); !known {
			t.Logf("%s is not in layerTable (internal/archtest/layers_test.go); checked as L%d (control plane). Classify it.", rel, layerControl)
		}
	}
	for _, msg := range checkImports(module, pkgs) {
		t.Error(msg)
	}
}

// checkGopacket returns one message per non-test import of gopacket: it is
// a test oracle only (allowed in *_test.go files, never in shipped code).
func checkGopacket(module string, pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			if imp == "github.com/google/gopacket" || strings.HasPrefix(imp, "github.com/google/gopacket/") {
				bad = append(bad, fmt.Sprintf("%s imports %q in a non-test file: gopacket may be used in *_test.go files only",
					relPath(module, p.ImportPath), imp))
			}
		}
	}
	return bad
}

// checkDocs returns one message per package without a package doc comment.
func checkDocs(module string, pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if strings.TrimSpace(p.Doc) != "" {
			continue
		}
		name := p.Name
		if name == "" {
			name = "<name>"
		}
		bad = append(bad, fmt.Sprintf("%s has no package doc comment: add a doc.go starting with // Package %s ... (or // Command ... for a main package)",
			relPath(module, p.ImportPath), name))
	}
	return bad
}

// TestNoGopacketOutsideTests: no package of the module imports gopacket
// from a non-test file.
func TestNoGopacketOutsideTests(t *testing.T) {
	module, pkgs := loadModule(t)
	for _, msg := range checkGopacket(module, pkgs) {
		t.Error(msg)
	}
}

// TestPackageDocs: every package, commands included, has a package doc
// comment (docs/style.md: what it is for and when not to use it).
func TestPackageDocs(t *testing.T) {
	module, pkgs := loadModule(t)
	for _, msg := range checkDocs(module, pkgs) {
		t.Error(msg)
	}
}

// TestCheckDocsAndGopacket checks those two rules on made-up packages.
func TestCheckDocsAndGopacket(t *testing.T) {
	const mod = "example.com/m"
	pkgs := []listedPackage{
		{ImportPath: mod + "/internal/good", Name: "good", Doc: "Package good is documented.", Imports: []string{"fmt"}},
		{ImportPath: mod + "/internal/bare", Name: "bare", Doc: "", Imports: []string{"github.com/google/gopacket/layers"}},
		{ImportPath: mod + "/cmd/tool", Name: "main", Doc: "  \n", Imports: []string{"github.com/google/gopacket"}},
		{ImportPath: mod + "/internal/lookalike", Name: "lookalike", Doc: "Package lookalike.", Imports: []string{"github.com/google/gopacketx"}},
	}
	docs := checkDocs(mod, pkgs)
	wantDocs := []string{
		"internal/bare has no package doc comment: add a doc.go starting with // Package bare",
		"cmd/tool has no package doc comment: add a doc.go starting with // Package main",
	}
	if len(docs) != len(wantDocs) {
		t.Fatalf("checkDocs: got %q, want %d messages", docs, len(wantDocs))
	}
	for i, w := range wantDocs {
		if !strings.HasPrefix(docs[i], w) {
			t.Errorf("checkDocs message %d = %q, want prefix %q", i, docs[i], w)
		}
	}
	gp := checkGopacket(mod, pkgs)
	wantGp := []string{
		`internal/bare imports "github.com/google/gopacket/layers" in a non-test file`,
		`cmd/tool imports "github.com/google/gopacket" in a non-test file`,
	}
	if len(gp) != len(wantGp) {
		t.Fatalf("checkGopacket: got %q, want %d messages", gp, len(wantGp))
	}
	for i, w := range wantGp {
		if !strings.HasPrefix(gp[i], w) {
			t.Errorf("checkGopacket message %d = %q, want prefix %q", i, gp[i], w)
		}
	}
}

// TestCheckImports checks the rules themselves on made-up packages, so a
// broken checker cannot pass silently on a clean module.
func TestCheckImports(t *testing.T) {
	const mod = "example.com/m"
	pkg := func(rel string, imports ...string) listedPackage {
		for i, imp := range imports {
			if strings.HasPrefix(imp, "internal/") || strings.HasPrefix(imp, "cmd/") || strings.HasPrefix(imp, "api") || strings.HasPrefix(imp, "tools") {
				imports[i] = mod + "/" + imp
			}
		}
		return listedPackage{ImportPath: mod + "/" + rel, Imports: imports}
	}
	tests := []struct {
		name string
		pkg  listedPackage
		want []string // substrings of the single expected message; nil = allowed
	}{
		{"lower layer", pkg("internal/director", "internal/conntrack", "internal/packet", "internal/clock"), nil},
		{"two layers down", pkg("internal/forward", "internal/packet", "internal/service"), nil},
		{"standard library", pkg("internal/packet", "encoding/binary", "fmt", "time"), nil},
		{"sched may import service", pkg("internal/sched", "internal/service"), nil},
		{"sub-package of the same component", pkg("internal/packet", "internal/packet/header"), nil},
		{"sub-package imports its parent", pkg("internal/packet/header", "internal/packet"), nil},
		{"cmd imports anything internal", pkg("cmd/vsd", "internal/director", "internal/sim", "internal/listing"), nil},
		{"control plane imports the director", pkg("internal/sim", "internal/director"), nil},
		{"unclassified package above the director", pkg("internal/control", "internal/director"), nil},
		{"director may log", pkg("internal/director", "log/slog"), nil},
		{"control plane may log", pkg("internal/sim", "log"), nil},

		{"upward import", pkg("internal/packet", "internal/director"),
			[]string{"internal/packet (L0) imports", "internal/director (L3)", "only lower layers"}},
		{"service may not import sched", pkg("internal/service", "internal/sched"),
			[]string{"internal/service (L1) imports", "internal/sched (L1)", "same-layer", "internal/sched → internal/service"}},
		{"same layer L0", pkg("internal/packet", "internal/clock"),
			[]string{"internal/packet (L0) imports internal/clock (L0)", "same-layer"}},
		{"same layer L2", pkg("internal/conntrack", "internal/forward"),
			[]string{"internal/conntrack (L2) imports internal/forward (L2)"}},
		{"same layer L4", pkg("internal/listing", "internal/sim"),
			[]string{"internal/listing (L4) imports internal/sim (L4)", "same-layer"}},
		{"datapath imports an unclassified package", pkg("internal/state", "internal/flow"),
			[]string{"internal/state (L1) imports", "internal/flow (L4 by default", "classify it", "only lower layers"}},
		{"unclassified imports the control plane", pkg("internal/apiserver", "internal/listing"),
			[]string{"internal/apiserver (L4 by default", "internal/listing (L4)", "same-layer"}},
		{"internal imports cmd", pkg("internal/sim", "cmd/vsd"),
			[]string{"internal/sim (L4) imports cmd/vsd (L5)"}},
		{"non-internal package is unclassified", pkg("internal/director", "tools"),
			[]string{"internal/director (L3) imports tools (L4 by default"}},
		{"conntrack logs", pkg("internal/conntrack", "log/slog"),
			[]string{"internal/conntrack (L2) imports \"log/slog\"", "must not log"}},
		{"packet logs", pkg("internal/packet", "log"),
			[]string{"internal/packet (L0) imports \"log\""}},
		{"syslog counts as logging", pkg("internal/sched", "log/syslog"),
			[]string{"internal/sched (L1) imports \"log/syslog\""}},
		{"sub-package inherits its layer", pkg("internal/packet/header", "internal/director"),
			[]string{"internal/packet/header (L0) imports internal/director (L3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkImports(mod, []listedPackage{tt.pkg})
			if tt.want == nil {
				if len(got) != 0 {
					t.Errorf("want no violation, got %q", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one violation, got %d: %q", len(got), got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("message %q lacks %q", got[0], w)
				}
			}
		})
	}
	// Packages of other modules (dependencies) are never checked.
	if got := checkImports(mod, []listedPackage{{ImportPath: "other.org/x", Imports: []string{"log"}}}); len(got) != 0 {
		t.Errorf("package outside the module checked: %q", got)
	}
}
