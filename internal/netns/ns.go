package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// NS is one named network namespace of a Lab.
type NS struct {
	lab   *Lab
	short string // the caller's name
	name  string // PREFIX-short, the name `ip netns` knows
}

// checkName accepts 1 to 32 letters, digits, '_', '-' and '.' (not a
// leading '.' or '-'), for namespace and process names.
func checkName(what, s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("netns: %s name %q: want 1 to 32 characters", what, s)
	}
	if s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("netns: %s name %q: must not start with %q", what, s, s[0])
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("netns: %s name %q: character %q not allowed", what, s, c)
		}
	}
	return nil
}

// checkIfName accepts a Linux interface name: 1 to 15 bytes, no '/', ':'
// or white space, not "." or "..".
func checkIfName(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\r\v\f") {
		return fmt.Errorf("netns: interface name %q: want 1 to 15 bytes without '/', ':' or spaces", s)
	}
	return nil
}

// NS creates the namespace PREFIX-name (`ip netns add`) and brings its
// loopback up. Each name may be used once per Lab.
func (l *Lab) NS(name string) (*NS, error) {
	if err := checkName("namespace", name); err != nil {
		return nil, err
	}
	// Held across creation so Close cannot run between `ip netns add` and
	// the bookkeeping that lets Close delete the namespace.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errClosed
	}
	for _, o := range l.nss {
		if o.short == name {
			return nil, fmt.Errorf("netns: namespace %q exists in this lab", name)
		}
	}
	ns := &NS{lab: l, short: name, name: l.prefix + "-" + name}
	if err := setup("ip", "netns", "add", ns.name); err != nil {
		// A half-made namespace would be swept by the next New; try now.
		removeNS(ns.name)
		return nil, err
	}
	l.nss = append(l.nss, ns)
	if err := ns.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return ns, nil
}

// Veth creates a veth pair with end aName in namespace a and end bName in
// b (made directly in the namespaces, so nothing ever appears in the
// caller's namespace) and brings both ends up. a and b may be the same
// namespace. Deleting either namespace removes the pair.
func (l *Lab) Veth(a *NS, aName string, b *NS, bName string) error {
	if a == nil || b == nil || a.lab != l || b.lab != l {
		return fmt.Errorf("netns: veth %s/%s: both namespaces must belong to this lab", aName, bName)
	}
	if err := checkIfName(aName); err != nil {
		return err
	}
	if err := checkIfName(bName); err != nil {
		return err
	}
	if err := setup("ip", "link", "add", aName, "netns", a.name,
		"type", "veth", "peer", "name", bName, "netns", b.name); err != nil {
		return err
	}
	if err := a.IP("link", "set", aName, "up"); err != nil {
		return err
	}
	return b.IP("link", "set", bName, "up")
}

// Name returns the namespace's full name as `ip netns` knows it
// (PREFIX-name).
func (ns *NS) Name() string { return ns.name }

// Run runs args inside the namespace (`ip netns exec NAME args...`) and
// returns its combined stdout and stderr. The error names the command and
// holds its output. Cancelling ctx kills the command's whole process group;
// there is no other time limit.
func (ns *NS) Run(ctx context.Context, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("netns: run in %s: no command", ns.name)
	}
	return runCmd(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// IP runs `ip -n NAME args...` (iproute2 inside the namespace) with a
// 30-second limit.
func (ns *NS) IP(args ...string) error {
	return setup("ip", append([]string{"-n", ns.name}, args...)...)
}

// Sysctl sets a per-namespace network sysctl such as "net.ipv4.ip_forward"
// (dots or slashes as separators; use slashes when an interface name has a
// dot). Only net.* keys are accepted: others are global to the machine.
func (ns *NS) Sysctl(key, value string) error {
	path := key
	if !strings.Contains(key, "/") {
		path = strings.ReplaceAll(key, ".", "/")
	}
	if !strings.HasPrefix(path, "net/") || strings.Contains(path, "..") || strings.Contains(path, "//") ||
		strings.ContainsAny(path, " \t\n") {
		return fmt.Errorf("netns: sysctl %q: want a net.* key", key)
	}
	return ns.Do(func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		if err := os.WriteFile(filepath.Join("/proc/sys", path), []byte(value), 0); err != nil {
			return fmt.Errorf("netns: sysctl %s=%s in %s: %w", key, value, ns.name, err)
		}
		return nil
	})
}

// Do runs fn on a goroutine-locked OS thread switched into the namespace,
// then switches the thread back. Only fn's own thread is inside:
// goroutines fn starts are not, nor does Do remount /sys or apply
// /etc/netns as `ip netns exec` does. Sockets fn opens stay in the
// namespace after Do returns. If the thread cannot be switched back it is
// left locked, so Go discards it when the goroutine ends.
func (ns *NS) Do(fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: do in %s: current namespace: %w", ns.name, err)
	}
	target, err := vnetns.GetFromName(ns.name)
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: do in %s: open: %w", ns.name, err)
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: do in %s: setns: %w", ns.name, err)
	}
	defer func() { // also on panic
		rerr := vnetns.Set(orig)
		orig.Close()
		if rerr != nil {
			if err == nil {
				err = fmt.Errorf("netns: do in %s: switching back: %w", ns.name, rerr)
			}
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// LinkStats are an interface's counters as the kernel reports them.
type LinkStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxDropped, TxDropped uint64
}

// LinkStats reads the counters of interface dev in the namespace (netlink,
// no process started).
func (ns *NS) LinkStats(dev string) (LinkStats, error) {
	target, err := vnetns.GetFromName(ns.name)
	if err != nil {
		return LinkStats{}, fmt.Errorf("netns: link stats %s in %s: open: %w", dev, ns.name, err)
	}
	defer target.Close()
	h, err := netlink.NewHandleAt(target)
	if err != nil {
		return LinkStats{}, fmt.Errorf("netns: link stats %s in %s: netlink: %w", dev, ns.name, err)
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return LinkStats{}, fmt.Errorf("netns: link stats %s in %s: %w", dev, ns.name, err)
	}
	s := link.Attrs().Statistics
	if s == nil {
		return LinkStats{}, fmt.Errorf("netns: link stats %s in %s: kernel sent no statistics", dev, ns.name)
	}
	return LinkStats{
		RxPackets: s.RxPackets, TxPackets: s.TxPackets,
		RxBytes: s.RxBytes, TxBytes: s.TxBytes,
		RxDropped: s.RxDropped, TxDropped: s.TxDropped,
	}, nil
}

// setup runs one of the package's own set-up commands, bounded by
// setupTimeout.
func setup(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	_, err := runCmd(ctx, name, args...)
	return err
}

// runCmd runs a command in its own process group (killed as a group when
// ctx ends) and returns its combined output; the error names the command
// and quotes the output.
func runCmd(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil {
		line := strings.Join(append([]string{name}, args...), " ")
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return out.Bytes(), fmt.Errorf("netns: %s: %w: %s", line, err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}
