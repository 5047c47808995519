package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// listedPackage is the part of `go list -json` output the tests read.
type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string // non-test imports only
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

// moduleListing is the result of one `go list` run, shared by the tests.
type moduleListing struct {
	module string
	pkgs   []listedPackage
	err    error // go list failed
	noGo   error // no go command: skip (or fail under CI)
}

var (
	listOnce sync.Once
	listed   moduleListing
)

// loadModule returns every package of the module, as `go list -e -json
// ./...` sees it from the module root. It skips the test when there is no
// go command, unless CI=true.
func loadModule(t *testing.T) (module string, pkgs []listedPackage) {
	t.Helper()
	listOnce.Do(func() { listed = runGoList() })
	switch {
	case listed.noGo != nil && os.Getenv("CI") == "true":
		t.Fatalf("CI=true but the go command is not available: %v", listed.noGo)
	case listed.noGo != nil:
		t.Skipf("go command not available, module layout not checked: %v", listed.noGo)
	case listed.err != nil:
		t.Fatal(listed.err)
	}
	for _, p := range listed.pkgs {
		if p.Error != nil {
			// A package that does not load fails its own build; here its
			// import list may be incomplete, so say so and go on.
			t.Logf("note: %s did not load completely: %s", p.ImportPath, p.Error.Err)
		}
	}
	return listed.module, listed.pkgs
}

func runGoList() moduleListing {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return moduleListing{noGo: err}
	}
	root, err := findModuleRoot()
	if err != nil {
		return moduleListing{err: err}
	}
	cmd := exec.Command(goTool, "list", "-e", "-json=ImportPath,Name,Doc,Imports,Module,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return moduleListing{err: fmt.Errorf("go list in %s: %v\n%s", root, err, stderr.String())}
	}
	var res moduleListing
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return moduleListing{err: fmt.Errorf("decoding go list output: %v", err)}
		}
		if p.Module != nil && res.module == "" {
			res.module = p.Module.Path
		}
		res.pkgs = append(res.pkgs, p)
	}
	if res.module == "" || len(res.pkgs) == 0 {
		return moduleListing{err: fmt.Errorf("go list in %s found no module packages", root)}
	}
	return res
}

// findModuleRoot walks up from the working directory (the package
// directory under go test) to the directory holding go.mod.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// relPath returns the import path relative to the module root ("." for
// the root package itself).
func relPath(module, importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// inModule reports whether importPath belongs to the module.
func inModule(module, importPath string) bool {
	return importPath == module || strings.HasPrefix(importPath, module+"/")
}
