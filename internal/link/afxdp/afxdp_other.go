//go:build !linux

package afxdp

import (
	"errors"
	"time"

	"github.com/vsd/vsd/internal/link"
)

// Queue is unavailable off Linux: Open always fails.
type Queue struct{}

var _ link.Queue = (*Queue)(nil)

var errUnsupported = errors.New("afxdp: AF_XDP needs Linux")

// Open fails: AF_XDP exists only on Linux.
func Open(cfg Config) (*Queue, error) { return nil, errUnsupported }

// FD returns -1.
func (q *Queue) FD(port int) int { return -1 }

// Ports returns 0.
func (q *Queue) Ports() int { return 0 }

// Read fails.
func (q *Queue) Read(frames []link.Frame, timeout time.Duration) (int, error) {
	return 0, errUnsupported
}

// Write fails.
func (q *Queue) Write(frames []link.Frame) error { return errUnsupported }

// Send fails.
func (q *Queue) Send(port int, frame []byte) error { return errUnsupported }

// Stats returns zero counters.
func (q *Queue) Stats() link.Stats { return link.Stats{} }

// Close does nothing.
func (q *Queue) Close() error { return nil }
