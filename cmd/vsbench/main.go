// Command vsbench runs vsd's benchmarks that need a testbed of network
// namespaces. `vsbench datapath` is `make bench-datapath`: plain routing,
// nftables DNAT, vsd (AF_XDP and AF_PACKET) and HAProxy side by side.
// `vsbench gen` is the UDP generator it runs inside the client namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vsd/vsd/internal/benchlab"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: vsbench datapath [flags]   (vsbench datapath -h lists the flags)")
		return 2
	}
	switch args[0] {
	case "datapath":
		return datapath(args[1:], stdout, stderr)
	case "gen":
		return gen(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "vsbench: unknown command %q (want datapath)\n", args[0])
	return 2
}

func datapath(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsbench datapath", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := benchlab.DefaultOptions()
	quick := fs.Bool("quick", false, "one run of 3 s per figure (for testing)")
	runs := fs.Int("runs", def.Runs, "repetitions of every figure (the table shows the median and min–max)")
	udpDur := fs.Duration("udp-duration", def.UDPDuration, "length of each UDP run")
	httpDur := fs.Duration("http-duration", def.HTTPDuration, "length of each wrk run")
	rate := fs.Float64("rate", def.Rate, "fixed offered rate for the CPU-per-packet figure, packets/s")
	conns := fs.Int("connections", def.Connections, "wrk connections")
	cands := fs.String("candidates", "all", "comma-separated: none,nft,vsd-afxdp,vsd-afpacket,haproxy")
	vsd := fs.String("vsd", "", "the vsd binary (without it the vsd candidates are not measured)")
	xdpMode := fs.String("xdp-mode", def.XDPMode, "vsd xdp_mode for vsd-afxdp: auto, native or generic")
	md := fs.Bool("markdown", true, "also print the Markdown block for docs/BENCHMARKS.md")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vsbench datapath: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o := def
	if *quick {
		o = benchlab.QuickOptions()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !*quick || set["runs"] {
		o.Runs = *runs
	}
	if !*quick || set["udp-duration"] {
		o.UDPDuration = *udpDur
	}
	if !*quick || set["http-duration"] {
		o.HTTPDuration = *httpDur
	}
	o.Rate, o.Connections, o.XDPMode, o.VSD, o.Log = *rate, *conns, *xdpMode, *vsd, stderr
	var err error
	if o.Candidates, err = benchlab.ParseCandidates(*cands); err != nil {
		fmt.Fprintf(stderr, "vsbench datapath: --candidates: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := benchlab.Run(ctx, o, "vsbench datapath "+strings.Join(args, " "))
	if rep != nil {
		rep.WriteText(stdout)
		if *md {
			fmt.Fprintln(stdout, "\n----- Markdown for docs/BENCHMARKS.md -----")
			rep.WriteMarkdown(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsbench datapath: %v\n", err)
		return 1
	}
	return 0
}

func gen(args []string, stdout, stderr io.Writer) int {
	c, err := benchlab.ParseGenArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "vsbench %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := benchlab.Generate(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "vsbench %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, benchlab.MarshalGenResult(r))
	return 0
}
