// Command vsd is the vsd load balancer: the daemon (`vsd run`), the
// namespace lab that builds a whole LVS and drives traffic through it
// (`vsd lab`), the simulated LVS on a virtual clock (`vsd sim`) and the
// tunnel decapsulator for real servers (`vsd decap`).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vsd/vsd/internal/lab"
)

const usage = `usage: vsd <command> [flags]

commands:
  run    the director daemon: vsd run [--config FILE] (SIGHUP reloads, SIGTERM stops; no file: control plane for vsadm)
  lab    build an LVS in network namespaces (client, vsd, three real servers), drive
         HTTP through NAT, DR and TUN services, print the table and a summary (root;
         without root it runs the sim instead)
  sim    run a simulated LVS (clients, the director, real servers) on a virtual clock
         and print the ipvsadm-style table, connection states and per-server shares
  decap  strip IPIP/GUE for VIPs on a real server of a TUN service (XDP):
         vsd decap --dev IFACE --vip ADDR[,ADDR...] [--gue-port P]

helpers the lab runs inside its namespaces:
  lab-server  a small HTTP real server that answers "NAME CLIENT-ADDRESS"
  lab-client  a bounded HTTP load generator that tallies the answers (JSON)

Run 'vsd <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "sim":
		return runSim(args[1:], stdout, stderr)
	case "run":
		return runDaemon(args[1:], stderr)
	case "decap":
		return runDecap(args[1:], stderr)
	case "lab":
		return runLab(args[1:], stdout, stderr)
	case "lab-server":
		return runLabServer(args[1:], stdout, stderr)
	case "lab-client":
		return runLabClient(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "vsd: unknown command %q\n%s", args[0], usage)
	return 2
}

// parseFlags parses a command's flags. It returns ok=false with the exit
// code when the command must stop: 0 after -h (the flag package printed
// the usage), 2 for a bad flag (printed too) or, unless extra is allowed,
// an argument that is not a flag.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, extra bool) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if !extra && fs.NArg() != 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// errHelp means -h was asked for: the flag package printed the usage.
var errHelp = errors.New("help")

// parseSim turns the arguments of `vsd sim` into options. Flag errors are
// printed to stderr by the flag package; the returned error names the bad
// value.
func parseSim(args []string, stderr io.Writer) (lab.SimOptions, error) {
	fs := flag.NewFlagSet("vsd sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o lab.SimOptions
	var methods string
	var budget int64
	fs.IntVar(&o.Clients, "clients", 10000, "client sessions to start")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "virtual time over which sessions arrive")
	fs.StringVar(&o.Scheduler, "s", "wlc", "scheduler of every service (rr wrr lc wlc sed nq fo ovf twos sh dh mh lblc lblcr)")
	fs.StringVar(&methods, "methods", "nat,dr,tun", "forwarding methods to run, comma-separated (nat, dr, tun)")
	fs.IntVar(&o.Servers, "servers", 3, "real servers per method")
	fs.IntVar(&o.TableBits, "table-bits", 12, "connection table buckets as a power of two (8..24)")
	fs.Int64Var(&budget, "table-budget", 0, "bytes the connection table may use (0 = 1 GiB)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (same seed, same run)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Clients <= 0 {
		return o, fmt.Errorf("-clients %d: must be at least 1", o.Clients)
	}
	if o.Duration <= 0 {
		return o, fmt.Errorf("-duration %v: must be positive", o.Duration)
	}
	if o.TableBits < 8 || o.TableBits > 24 {
		return o, fmt.Errorf("-table-bits %d: must be 8..24", o.TableBits)
	}
	if budget < 0 {
		return o, fmt.Errorf("-table-budget %d: must not be negative", budget)
	}
	o.TableBudget = budget
	o.Methods = strings.Split(methods, ",")
	if !*quiet {
		o.Progress = stderr
	}
	return o, nil
}

func runSim(args []string, stdout, stderr io.Writer) int {
	o, err := parseSim(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsd sim: %v\n", err)
		return 2
	}
	res, err := lab.RunSim(o)
	if res != nil {
		res.Write(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsd sim: %v\n", err)
		return 2
	}
	if len(res.Problems()) > 0 {
		return 1
	}
	return 0
}
