package vsadm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/listing"
)

// Backend is what vsadm needs of the daemon; *api.Client satisfies it.
type Backend interface {
	Table(ctx context.Context) (*api.Table, error)
	Conns(ctx context.Context) ([]api.Conn, error)
	Timeouts(ctx context.Context) (api.Timeouts, error)
	Daemons(ctx context.Context) ([]api.SyncDaemon, error)
	Tunables(ctx context.Context) ([]api.Tunable, error)
	// Apply applies every operation or none; a refusal is an
	// *api.OpError carrying ipvsadm's message.
	Apply(ctx context.Context, ops ...api.Op) error
	// Explain says which real server a packet would go to now, and why
	// (vsadm --explain).
	Explain(ctx context.Context, r api.ExplainRequest) (api.Explanation, error)
}

// Main runs one command line (args[0] is argv[0], used in the "Try" and
// -h texts) and returns the exit status. connect is called only when the
// command needs the daemon, so -h, -v and validation errors work without
// one.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, connect func() (Backend, error)) int {
	return mainWith(args, stdin, stdout, stderr, connect, systemResolver{})
}

// mainWith is Main with the name resolver to use.
func mainWith(args []string, stdin io.Reader, stdout, stderr io.Writer, connect func() (Backend, error), res resolver) int {
	r := &runner{stdin: stdin, stdout: stdout, stderr: stderr, connect: connect, res: res, argv0: "ipvsadm"}
	if len(args) > 0 && args[0] != "" {
		r.argv0 = args[0]
	}
	var rest []string
	if len(args) > 1 {
		rest = args[1:]
	}
	return r.main(rest)
}

type runner struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	connect        func() (Backend, error)
	be             Backend
	res            resolver
	argv0          string
}

func (r *runner) main(args []string) int {
	switch filepath.Base(r.argv0) {
	case "ipvsadm-save":
		return r.saveScript(args)
	case "ipvsadm-restore":
		return r.restoreScript()
	}
	if len(args) > 0 && (args[0] == "--proc" || strings.HasPrefix(args[0], "--proc=")) {
		return r.proc(args)
	}
	if len(args) > 0 && (args[0] == "--sysctl" || strings.HasPrefix(args[0], "--sysctl=")) {
		return r.sysctl(args)
	}
	if len(args) > 0 && (args[0] == "--explain" || strings.HasPrefix(args[0], "--explain=")) {
		return r.explain(args)
	}
	cmd, err := parse(r.argv0, args, r.res)
	if err != nil {
		return r.refuse(err)
	}
	return r.exec(cmd)
}

// refuse prints a parse error and returns its status.
func (r *runner) refuse(err *Error) int {
	fmt.Fprintf(r.stderr, "%s\n", err.Msg)
	return err.Code
}

// backend connects on first use.
func (r *runner) backend() (Backend, int) {
	if r.be != nil {
		return r.be, 0
	}
	be, err := r.connect()
	if err == nil && be == nil {
		err = errors.New("no backend")
	}
	if err != nil {
		fmt.Fprintf(r.stderr, "Can't initialize ipvs: %v\nAre you sure that vsd is running? (control socket: $VSD_SOCKET or %s)\n", err, api.DefaultSocket)
		return nil, ExitUsage
	}
	r.be = be
	return be, 0
}

// errText is what ipvsadm prints for a failed call: the kernel message
// for a refusal, else the error itself.
func errText(err error) string {
	var oe *api.OpError
	if errors.As(err, &oe) {
		return oe.Message
	}
	return err.Error()
}

func (r *runner) exec(cmd *Command) int {
	switch cmd.Name {
	case CmdHelp:
		fmt.Fprintf(r.stdout, usageFormat, r.argv0)
		return ExitOK
	case CmdVersion:
		io.WriteString(r.stdout, versionLine)
		return ExitOK
	case CmdRestore:
		return r.restore(r.stdin, nil)
	case CmdList, CmdSave:
		return r.list(cmd)
	}
	if cmd.Op == nil {
		return r.refuse(fail("internal error: nothing to do for the '%s' command", cmd.Name))
	}
	return r.apply([]api.Op{*cmd.Op})
}

func (r *runner) apply(ops []api.Op) int {
	be, code := r.backend()
	if be == nil {
		return code
	}
	if err := be.Apply(context.Background(), ops...); err != nil {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitRefused
	}
	return ExitOK
}

// listOptions are the listing options of cmd.
func listOptions(cmd *Command) listing.Options {
	o := listing.Options{Numeric: cmd.Numeric, Exact: cmd.Exact, NoSort: cmd.NoSort}
	switch {
	case cmd.Stats:
		o.View = listing.ViewStats
	case cmd.Rate:
		o.View = listing.ViewRate
	case cmd.Thresholds:
		o.View = listing.ViewThresholds
	case cmd.PersistentConn:
		o.View = listing.ViewPersistentConn
	case cmd.TunInfo:
		o.View = listing.ViewTunInfo
	}
	if !cmd.Numeric {
		o.Names = listing.SystemResolver()
	}
	return o
}

// list runs -L (every form) and -S. A failed fetch prints the error and
// returns 1, as ipvsadm's listing functions exit(1).
func (r *runner) list(cmd *Command) int {
	be, code := r.backend()
	if be == nil {
		return code
	}
	ctx := context.Background()
	o := listOptions(cmd)
	failed := func(err error) int {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitList
	}
	var werr error
	switch {
	case cmd.Name == CmdSave:
		t, err := be.Table(ctx)
		if err != nil {
			return failed(err)
		}
		werr = listing.WriteSave(r.stdout, t, o)
	case cmd.Conns:
		cs, err := be.Conns(ctx)
		if err != nil {
			return failed(err)
		}
		werr = listing.WriteConns(r.stdout, cs, o)
	case cmd.Service != nil:
		t, err := be.Table(ctx)
		if err != nil {
			return failed(err)
		}
		svc := t.Find(*cmd.Service)
		if svc == nil {
			return failed(&api.OpError{Message: api.MsgNoService})
		}
		werr = listing.WriteService(r.stdout, svc, o)
	case cmd.Timeouts:
		t, err := be.Timeouts(ctx)
		if err != nil {
			return failed(err)
		}
		werr = listing.WriteTimeouts(r.stdout, t)
	case cmd.Daemons:
		ds, err := be.Daemons(ctx)
		if err != nil {
			return failed(err)
		}
		werr = listing.WriteDaemons(r.stdout, ds)
	default:
		t, err := be.Table(ctx)
		if err != nil {
			return failed(err)
		}
		werr = listing.WriteTable(r.stdout, t, o)
	}
	if werr != nil {
		fmt.Fprintf(r.stderr, "%s: writing the listing: %v\n", r.argv0, werr)
		return ExitList
	}
	return ExitOK
}

// proc runs the extension `--proc NAME`.
func (r *runner) proc(args []string) int {
	var name string
	rest := args[1:]
	if v, ok := strings.CutPrefix(args[0], "--proc="); ok {
		name = v
	} else {
		if len(rest) == 0 {
			return r.refuse(&Error{Msg: "--proc: missing argument", Code: ExitRefused})
		}
		name, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return r.refuse(fail("unexpected argument %s", rest[0]))
	}
	known := listing.ProcNames()
	found := false
	for _, n := range known {
		found = found || n == name
	}
	if !found {
		return r.refuse(fail("unknown proc file `%s' (one of %s)", name, strings.Join(known, " ")))
	}
	be, code := r.backend()
	if be == nil {
		return code
	}
	ctx := context.Background()
	t, err := be.Table(ctx)
	if err != nil {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitList
	}
	cs, err := be.Conns(ctx)
	if err != nil {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitList
	}
	if err := listing.WriteProc(r.stdout, name, t, cs); err != nil {
		fmt.Fprintf(r.stderr, "%s: --proc %s: %v\n", r.argv0, name, err)
		return ExitList
	}
	return ExitOK
}

// changingCommands are the commands a -R line may hold.
const changingCommands = "-A -E -D -C -a -e -d -Z --set --start-daemon --stop-daemon"

// splitRules splits -R input the way ipvsadm's config_stream_read does:
// one command per line, words separated by blanks, tabs or CRs, every word
// "ipvsadm" dropped, lines without words skipped. No quoting, no
// comments. It returns the words of each line and the line numbers.
func splitRules(text string) (lines [][]string, numbers []int) {
	for i, line := range strings.Split(text, "\n") {
		var words []string
		for _, w := range strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' || c == '\r' }) {
			if w != "ipvsadm" {
				words = append(words, w)
			}
		}
		if len(words) > 0 {
			lines = append(lines, words)
			numbers = append(numbers, i+1)
		}
	}
	return lines, numbers
}

// restore runs -R: every line is parsed and checked first, then all the
// changes (after prefix) are applied in one batch.
func (r *runner) restore(in io.Reader, prefix []api.Op) int {
	if in == nil {
		in = strings.NewReader("")
	}
	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(r.stderr, "%s: reading the rules: %v\n", r.argv0, err)
		return ExitUsage
	}
	ops, perr := r.parseRules(string(data))
	if perr != nil {
		return r.refuse(perr)
	}
	ops = append(prefix, ops...)
	if len(ops) == 0 {
		return ExitOK
	}
	return r.apply(ops)
}

func (r *runner) parseRules(text string) ([]api.Op, *Error) {
	lines, numbers := splitRules(text)
	var ops []api.Op
	for i, words := range lines {
		cmd, err := parse(r.argv0, words, r.res)
		if err != nil {
			return nil, err
		}
		if cmd.Name == CmdRestore {
			return nil, tryHelp(r.argv0) // ipvsadm refuses a nested -R so
		}
		if cmd.Op == nil {
			return nil, fail("line %d: '%s' is not a changing command; -R takes only %s",
				numbers[i], strings.Join(words, " "), changingCommands)
		}
		ops = append(ops, *cmd.Op)
	}
	return ops, nil
}

// saveScript is Debian's ipvsadm-save: `ipvsadm -S [-n]`.
func (r *runner) saveScript(args []string) int {
	numeric := false
	for _, a := range args {
		switch {
		case a == "-n":
			numeric = true
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(r.stderr, "Usage: %s [-n]\n", filepath.Base(r.argv0))
			return 1
		}
	}
	r.argv0 = "ipvsadm"
	return r.list(&Command{Name: CmdSave, Numeric: numeric})
}

// restoreScript is Debian's ipvsadm-restore: the rules on stdin without
// the lines starting with '#', after a clear, all in one batch.
func (r *runner) restoreScript() int {
	r.argv0 = "ipvsadm"
	var kept []string
	data, err := io.ReadAll(r.stdin)
	if err != nil {
		fmt.Fprintf(r.stderr, "ipvsadm-restore: reading the rules: %v\n", err)
		return ExitUsage
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			kept = append(kept, line)
		}
	}
	return r.restore(strings.NewReader(strings.Join(kept, "\n")), []api.Op{{Kind: api.Clear}})
}
