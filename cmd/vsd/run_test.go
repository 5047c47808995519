package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunBadConfig: `vsd run` with a bad file exits 2 with an error that
// names the file, the line and the field, and leaves nothing behind (no
// control socket: nothing was started).
func TestRunBadConfig(t *testing.T) {
	for _, name := range []string{"unknown-interface", "duplicate-service", "weight-negative", "port-not-a-number", "yaml-syntax"} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("..", "..", "internal", "config", "testdata", "bad", name+".yaml")
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sock := filepath.Join(dir, "vsd.sock")
			// Point the control socket into the test's directory so a
			// half-started daemon would show.
			text := strings.ReplaceAll(string(data), "/run/vsd.sock", sock)
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(filepath.Join("..", "..", "internal", "config", "testdata", "bad", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(strings.TrimSpace(string(golden)), "testdata/bad/"+name+".yaml", path)
			var stdout, stderr bytes.Buffer
			code := run([]string{"run", "--config", path}, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not name the problem\n got: %s\nwant: %s", stderr.String(), want)
			}
			if _, err := os.Stat(sock); err == nil {
				t.Errorf("a control socket was left at %s", sock)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "extra"}, `unexpected argument "extra"`},
		{[]string{"run", "--config", "/nonexistent/vsd.yaml"}, "/nonexistent/vsd.yaml"},
		{[]string{"run", "--config", "x.yaml", "extra"}, `unexpected argument "extra"`},
		{[]string{"decap", "--vip", "10.0.0.1"}, "--dev IFACE is required"},
		{[]string{"decap", "--dev", "eth0", "--vip", "10.0.0.300"}, `--vip "10.0.0.300": not an IP address`},
		{[]string{"decap", "--dev", "eth0", "--vip", "10.0.0.1", "--xdp-mode", "fast"}, `"fast"`},
		{[]string{"lab", "-requests", "0"}, "-requests 0: must be 1..100000"},
		{[]string{"lab", "-families", "5"}, `-families "5"`},
		{[]string{"lab-client"}, "--url is required"},
		{[]string{"lab-server"}, "--name is required"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code == 0 {
			t.Errorf("%v: exit 0, want non-zero", c.args)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q does not contain %q", c.args, stderr.String(), c.want)
		}
	}
}
