package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vsd/vsd/internal/config"
	"github.com/vsd/vsd/internal/daemon"
)

// runDaemon is `vsd run [--config FILE]`: start the daemon (without a
// file: a control plane on the default socket, its table left to vsadm), reload on SIGHUP,
// shut down cleanly (detaching every XDP/tc program) on SIGTERM or SIGINT.
func runDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML; docs/CONFIG.md, every key in internal/config/testdata/vsd.yaml); none: a control plane driven by vsadm")
	if code, ok := parseFlags(fs, args, stderr, false); !ok {
		return code
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	d, err := daemon.Start(daemon.Options{ConfigPath: *path, Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "vsd run: %v\n", err)
		if isConfigError(err) {
			return 2
		}
		return 1
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if _, err := d.Reload(); err != nil {
				fmt.Fprintf(stderr, "vsd: reload refused, configuration unchanged:\n%v\n", err)
			}
			continue
		}
		fmt.Fprintf(stderr, "vsd: %v: shutting down\n", sig)
		if err := d.Close(); err != nil {
			fmt.Fprintf(stderr, "vsd: shutdown: %v\n", err)
			return 1
		}
		return 0
	}
	return 0
}

// isConfigError reports whether err is about the configuration file (bad
// input: exit 2) rather than the machine.
func isConfigError(err error) bool {
	var e *config.Error
	var es config.Errors
	return errors.As(err, &e) || errors.As(err, &es)
}
