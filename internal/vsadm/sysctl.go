package vsadm

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vsd/vsd/api"
)

// sysctl is the extension command `--sysctl [NAME=VALUE ...]`: without
// arguments it lists every tunable as "name = value" (the form of
// sysctl(8)); with them it sets them all in one atomic batch. Booleans are
// 0 or 1; timeouts are seconds.
func (r *runner) sysctl(args []string) int {
	rest := args[1:]
	if v, ok := strings.CutPrefix(args[0], "--sysctl="); ok {
		rest = append([]string{v}, rest...)
	}
	var ops []api.Op
	for _, a := range rest {
		name, val, ok := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return r.refuse(fail("--sysctl: `%s' is not NAME=VALUE", a))
		}
		v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return r.refuse(fail("--sysctl: %s: `%s' is not a whole number", name, val))
		}
		ops = append(ops, api.Op{Kind: api.SetTunable, Tunable: &api.Tunable{Name: name, Value: v}})
	}
	be, code := r.backend()
	if be == nil {
		return code
	}
	ctx := context.Background()
	if len(ops) > 0 {
		if err := be.Apply(ctx, ops...); err != nil {
			fmt.Fprintf(r.stderr, "%s\n", errText(err))
			return ExitRefused
		}
		return ExitOK
	}
	ts, err := be.Tunables(ctx)
	if err != nil {
		fmt.Fprintf(r.stderr, "%s\n", errText(err))
		return ExitList
	}
	for _, t := range ts {
		fmt.Fprintf(r.stdout, "%s = %d\n", t.Name, t.Value)
	}
	return ExitOK
}
