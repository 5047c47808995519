// Command vsflood floods a VIP with spoofed TCP SYNs, SYN-then-ACK pairs or
// UDP datagrams, like the LVS HOWTO's testlvs, to test vsd's defenses. It
// sends only on the loopback or inside a network namespace other than the
// initial one. Everything is in package internal/flood; `vsflood -h` lists
// the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vsd/vsd/internal/flood"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := flood.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
