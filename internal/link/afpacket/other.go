//go:build !linux

package afpacket

import (
	"errors"
	"time"

	"github.com/vsd/vsd/internal/link"
)

// Queue is the AF_PACKET link.Queue; it exists only on Linux.
type Queue struct{}

// DriverStats are the AF_PACKET specific counters.
type DriverStats struct{}

// Open fails: AF_PACKET is Linux only.
func Open(cfg Config) (*Queue, error) {
	return nil, errors.New("afpacket: AF_PACKET is only available on Linux")
}

func (q *Queue) Read(frames []link.Frame, timeout time.Duration) (int, error) { return 0, ErrClosed }
func (q *Queue) Write(frames []link.Frame) error                              { return ErrClosed }
func (q *Queue) Send(port int, frame []byte) error                            { return ErrClosed }
func (q *Queue) Stats() link.Stats                                            { return link.Stats{} }
func (q *Queue) DriverStats() DriverStats                                     { return DriverStats{} }
func (q *Queue) Close() error                                                 { return nil }
