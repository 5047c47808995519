//go:build !linux

package flood

import (
	"context"
	"errors"
	"io"
	"time"
)

var errNotLinux = errors.New("flood: AF_PACKET floods need Linux")

// Flooder is an open flood (Linux only).
type Flooder struct{}

// Open fails: floods need Linux.
func Open(Config) (*Flooder, error) { return nil, errNotLinux }

// Run fails: floods need Linux.
func (*Flooder) Run(context.Context, io.Writer) (Result, error) { return Result{}, errNotLinux }

// Close does nothing.
func (*Flooder) Close() error { return nil }

// Result is what a flood did.
type Result struct {
	Packets, Errors, Bytes uint64
	Elapsed                time.Duration
}

// Run fails: floods need Linux.
func Run(context.Context, Config, io.Writer) (Result, error) { return Result{}, errNotLinux }
