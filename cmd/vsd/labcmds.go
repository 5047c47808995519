package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vsd/vsd/internal/lab"
)

// runLab is `vsd lab`: the whole LVS in network namespaces, or the
// simulated one when this is not root.
func runLab(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsd lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o lab.NetLabOptions
	fs.StringVar(&o.Scheduler, "s", "rr", "scheduler of every service")
	fs.IntVar(&o.Requests, "requests", 300, "HTTP requests per service (1..100000)")
	fs.IntVar(&o.Concurrency, "c", 8, "parallel connections of the client")
	fs.StringVar(&o.Datapath, "datapath", "auto", "auto, afxdp or afpacket")
	fs.StringVar(&o.Server, "server", "auto", "real server program: auto (nginx if installed, else vsd lab-server), nginx or go")
	fs.BoolVar(&o.Keep, "keep", false, "leave the namespaces running until Ctrl-C (to look around)")
	families := fs.String("families", "4,6", "address families to test: 4, 6 or 4,6")
	if code, ok := parseFlags(fs, args, stderr, false); !ok {
		return code
	}
	if o.Requests < 1 || o.Requests > 100000 {
		fmt.Fprintf(stderr, "vsd lab: -requests %d: must be 1..100000\n", o.Requests)
		return 2
	}
	if o.Concurrency < 1 || o.Concurrency > 1000 {
		fmt.Fprintf(stderr, "vsd lab: -c %d: must be 1..1000\n", o.Concurrency)
		return 2
	}
	for _, f := range strings.Split(*families, ",") {
		switch strings.TrimSpace(f) {
		case "4":
			o.IPv4 = true
		case "6":
			o.IPv6 = true
		default:
			fmt.Fprintf(stderr, "vsd lab: -families %q: use 4, 6 or 4,6\n", *families)
			return 2
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "vsd lab: not root, so no network namespaces: running the simulated LVS (vsd sim) instead")
		return runSim(nil, stdout, stderr)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vsd lab: %v\n", err)
		return 1
	}
	o.Exe = exe
	o.Out = stdout
	o.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := lab.RunNetLab(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "vsd lab: %v\n", err)
		return 1
	}
	if !res.OK() {
		return 1
	}
	return 0
}

// runLabServer is `vsd lab-server --name NAME [--listen ADDR]...`.
func runLabServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsd lab-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name to answer with")
	listen := fs.String("listen", ":80,[::]:80", "addresses to listen on, comma-separated")
	if code, ok := parseFlags(fs, args, stderr, false); !ok {
		return code
	}
	if *name == "" {
		fmt.Fprintln(stderr, "vsd lab-server: --name is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := lab.Serve(ctx, lab.ServerOptions{Name: *name, Listen: strings.Split(*listen, ","), Log: stdout}); err != nil {
		fmt.Fprintf(stderr, "vsd lab-server: %v\n", err)
		return 1
	}
	return 0
}

// runLabClient is `vsd lab-client --url URL -n N -c C [--close]`: prints a
// JSON tally of the answers.
func runLabClient(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsd lab-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o lab.LoadOptions
	fs.StringVar(&o.URL, "url", "", "URL to fetch")
	fs.IntVar(&o.Requests, "n", 100, "requests")
	fs.IntVar(&o.Concurrency, "c", 4, "parallel connections")
	closeConns := fs.Bool("close", false, "a new connection per request (Connection: close)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "per request")
	if code, ok := parseFlags(fs, args, stderr, false); !ok {
		return code
	}
	if o.URL == "" {
		fmt.Fprintln(stderr, "vsd lab-client: --url is required")
		return 2
	}
	o.KeepAlive = !*closeConns
	res, err := lab.Load(context.Background(), o)
	if err != nil {
		fmt.Fprintf(stderr, "vsd lab-client: %v\n", err)
		return 2
	}
	json.NewEncoder(stdout).Encode(res)
	return 0
}
