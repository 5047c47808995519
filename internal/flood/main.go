package flood

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// badInput marks an error caused by the command line or Config (exit
// status 2), as opposed to a failure of the system.
type badInput struct{ error }

func (b badInput) Unwrap() error { return b.error }

// IsBadInput reports whether err came from a bad Config or command line,
// an unsafe interface or a missing privilege: the cases Main exits 2 for.
func IsBadInput(err error) bool {
	var b badInput
	return errors.As(err, &b) || errors.Is(err, ErrUnsafe) || errors.Is(err, ErrNoPrivilege)
}

// Main is vsflood: it parses args (without the program name), floods, prints
// progress to stderr and the summary line to stdout, and returns the exit
// status: 0 done, 1 the flood failed, 2 bad input, an unsafe interface or
// no privilege (refused before any packet socket is opened). Cancelling
// ctx stops the flood early (still status 0, with the summary).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsflood: %v\n", err)
		return 2
	}
	f, err := Open(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vsflood: %v\n", err)
		if IsBadInput(err) {
			return 2
		}
		return 1
	}
	defer f.Close()
	r, err := f.Run(ctx, stderr)
	fmt.Fprintln(stdout, r)
	if err != nil {
		fmt.Fprintf(stderr, "vsflood: %v\n", err)
		return 1
	}
	return 0
}
