package flood

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnsafe is wrapped by Open's error when the interface is neither the
// loopback nor in a network namespace other than the initial one.
var ErrUnsafe = errors.New("refusing to flood")

// ErrNoPrivilege is wrapped by Open's error without CAP_NET_RAW.
var ErrNoPrivilege = errors.New("needs root (CAP_NET_RAW)")

// nsID identifies a network namespace: the device and inode of its nsfs
// file.
type nsID struct{ dev, ino uint64 }

// Where the namespaces are read: the calling thread's own (not
// /proc/self, which is the main thread's: a thread in netns.NS.Do would
// look as if it were in the initial namespace) and pid 1's. Where pid 1's
// cannot be read (a supervisor with more capabilities than ours, as on the
// project's VMs) kthreadd's stands in, if pid 2 is kthreadd (named so, with
// parent 0: only kernel threads have that, and they all live in the
// initial namespace).
const (
	selfNSPath  = "/proc/thread-self/ns/net"
	initNSPath  = "/proc/1/ns/net"
	kthreadPath = "/proc/2/ns/net"
	kthreadStat = "/proc/2/status"
)

// isKthreadd reports whether a /proc/2/status text is kthreadd's.
func isKthreadd(status string) bool {
	name, ppid := false, false
	for line := range strings.Lines(status) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			name = v == "kthreadd"
		case "PPid":
			ppid = v == "0"
		}
	}
	return name && ppid
}

// checkSafe is the safety rule: flooding is allowed on the loopback, or on
// any interface when the calling thread's network namespace (self) is not
// pid 1's (init). When either namespace cannot be read only the loopback
// is allowed. isLoopback is asked only when the namespaces do not settle
// it.
func checkSafe(dev string, self nsID, selfErr error, init nsID, initErr error, isLoopback func() (bool, error)) error {
	if selfErr == nil && initErr == nil && self != init {
		return nil
	}
	lo, err := isLoopback()
	if err != nil {
		return err
	}
	if lo {
		return nil
	}
	switch {
	case initErr != nil:
		return fmt.Errorf("%w on %s: cannot tell whether this is the initial network namespace (%v); only the loopback is allowed then",
			ErrUnsafe, dev, initErr)
	case selfErr != nil:
		return fmt.Errorf("%w on %s: cannot read %s (%v); only the loopback is allowed then", ErrUnsafe, dev, selfNSPath, selfErr)
	}
	return fmt.Errorf("%w on %s: it is in the initial network namespace and not the loopback; "+
		"flood only inside a test namespace (ip netns exec NS vsflood ...) or on lo", ErrUnsafe, dev)
}

// capNetRaw is CAP_NET_RAW's bit in the capability sets.
const capNetRaw = 13

// hasNetRaw reports whether a /proc/PID/status text shows CAP_NET_RAW in
// the effective set.
func hasNetRaw(status string) (bool, error) {
	for line := range strings.Lines(status) {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("CapEff %q: %v", strings.TrimSpace(v), err)
		}
		return caps&(1<<capNetRaw) != 0, nil
	}
	return false, errors.New("no CapEff line")
}
