package daemon

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: Close
// must stop the workers, the maintenance loop and the control server.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
