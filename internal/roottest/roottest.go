// Package roottest holds the one rule every privileged test follows: a test
// that needs root, network namespaces or a Debian tool skips with the
// reason on a developer's machine, but fails when CI=true, because CI
// installs the tools and runs as root, so a skip there would hide a test
// that never ran.
//
// It is for tests only (nothing else imports it) and sits at the bottom
// layer so that any package's tests may use it.
package roottest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips tb — or, under CI, fails it — unless this process is root
// and every tool is on PATH. what says what the test needs root for
// ("network namespaces", "BPF"), for the message.
func Require(tb testing.TB, what string, tools ...string) {
	tb.Helper()
	if why := Missing(what, tools...); why != "" {
		Unavailable(tb, why)
	}
}

// Missing returns why Require would not let a test run ("" when it would).
func Missing(what string, tools ...string) string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("needs root (%s)", what)
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Sprintf("needs %s on PATH (scripts/install-deps.sh installs it)", t)
		}
	}
	return ""
}

// Unavailable ends a test that cannot run here for reason why: a skip, or
// under CI a failure.
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("CI=true, but this test cannot run: %s", why)
		return
	}
	tb.Skip(why)
}
