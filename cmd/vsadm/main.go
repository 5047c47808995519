// Command vsadm is an ipvsadm 1.31-compatible command line for vsd: it
// takes ipvsadm's options and prints ipvsadm's output, and changes the
// daemon's table over its control socket ($VSD_SOCKET, default
// /run/vsd/vsd.sock). Install it as /sbin/ipvsadm (and as ipvsadm-save and
// ipvsadm-restore) for tools that call ipvsadm. Everything is in package
// internal/vsadm; see its documentation for the differences from ipvsadm.
package main

import (
	"context"
	"os"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/vsadm"
)

func main() {
	os.Exit(vsadm.Main(os.Args, os.Stdin, os.Stdout, os.Stderr, connect))
}

// connect makes a client and checks that the daemon answers, so that a
// missing daemon gives ipvsadm's "Can't initialize ipvs" message.
func connect() (vsadm.Backend, error) {
	c := api.NewClient("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Timeouts(ctx); err != nil {
		return nil, err
	}
	return c, nil
}
