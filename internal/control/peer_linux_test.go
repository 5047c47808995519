package control

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsd/vsd/internal/roottest"
)

// TestOtherUsersRefused: even with the socket file opened up to everyone
// (mode 0666 in a world-readable directory), a process of another user is
// cut off without an answer; root gets its answer.
func TestOtherUsersRefused(t *testing.T) {
	roottest.Require(t, "changing to another user", "setpriv", "curl")
	dir, err := os.MkdirTemp("", "vsd-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vsd.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer serve(t, newServer(t), ln)()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	curl := []string{"curl", "-sS", "--max-time", "3", "--unix-socket", path, "http://vsd/v1/timeouts"}
	if out, err := exec.CommandContext(ctx, curl[0], curl[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("as root: %v\n%s", err, out)
	}
	nobody := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, curl...)
	out, err := exec.CommandContext(ctx, "setpriv", nobody...).CombinedOutput()
	if err == nil {
		t.Fatalf("user 65534 got an answer: %s", out)
	}
	t.Logf("user 65534: %v: %s", err, out)
}
