package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable is wrapped by New when the machine cannot host a Lab (not
// root, no `ip` tool). Tests use errors.Is to decide to skip.
var ErrUnavailable = errors.New("network namespaces unavailable")

// netnsDir is where iproute2 keeps the bind mounts of named namespaces.
const netnsDir = "/run/netns"

// setupTimeout bounds every `ip` command the package runs on its own.
const setupTimeout = 30 * time.Second

// Lab is a set of network namespaces, veths and processes that share a
// name prefix and are removed together by Close. A Lab's methods may be
// called from several goroutines.
type Lab struct {
	prefix string
	dir    string   // PREFIX.d in the temp dir: logs and caller files
	lock   *os.File // flock'ed PREFIX.lock: one live Lab per prefix

	mu     sync.Mutex // guards the fields below
	nss    []*NS
	procs  []*Proc
	closed bool
	err    error // Close's result, returned again by later calls
}

// New checks that namespaces can be made (root, `ip` on PATH; otherwise
// the error wraps ErrUnavailable), takes the prefix (an error if another
// live Lab holds it), sweeps the leftovers of an earlier run with the same
// prefix (processes in PREFIX-* namespaces, the namespaces, the lab
// directory) and creates an empty lab directory.
//
// The prefix is 1 to 32 letters, digits or '_' (no '-', so that PREFIX-
// never matches another prefix's names); callers make it unique per run,
// e.g. "vsdlab" + pid.
func New(prefix string) (*Lab, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	l := &Lab{prefix: prefix, dir: filepath.Join(os.TempDir(), prefix+".d")}
	lock, err := takeLock(filepath.Join(os.TempDir(), prefix+".lock"))
	if err != nil {
		return nil, err
	}
	l.lock = lock
	if err := Sweep(prefix); err != nil {
		l.releaseLock()
		return nil, err
	}
	if err := os.Mkdir(l.dir, 0o755); err != nil {
		l.releaseLock()
		return nil, fmt.Errorf("netns: lab directory: %w", err)
	}
	return l, nil
}

// Available reports, as an error wrapping ErrUnavailable, why this process
// cannot build a Lab; nil if it can.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netns: need root (euid %d): %w", os.Geteuid(), ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netns: no `ip` tool (iproute2): %v: %w", err, ErrUnavailable)
	}
	return nil
}

func checkPrefix(p string) error {
	if p == "" || len(p) > 32 {
		return fmt.Errorf("netns: prefix %q: want 1 to 32 characters", p)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("netns: prefix %q: character %q not allowed (letters, digits, '_')", p, c)
		}
	}
	return nil
}

// takeLock opens and flocks path, refusing if a live process holds it. It
// checks after locking that path still names the locked file, so a lock
// racing with another Lab's Close (which unlinks the file) is retried.
func takeLock(path string) (*os.File, error) {
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("netns: lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("netns: prefix in use by a live lab (%s is locked)", path)
			}
			return nil, fmt.Errorf("netns: lock %s: %w", path, err)
		}
		var held, now syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &held) == nil && syscall.Stat(path, &now) == nil &&
			held.Dev == now.Dev && held.Ino == now.Ino {
			return f, nil
		}
		f.Close() // unlinked under us: try the new file
	}
	return nil, fmt.Errorf("netns: lock %s: file keeps changing", path)
}

func (l *Lab) releaseLock() {
	if l.lock != nil {
		os.Remove(l.lock.Name()) // unlink first, then unlock: see takeLock
		l.lock.Close()
		l.lock = nil
	}
}

// Sweep removes what a Lab with this prefix may have left behind after a
// crash: it kills every process whose network namespace is a PREFIX-*
// namespace, deletes those namespaces (and with them their veths) and the
// lab directory. New calls it; call it yourself only for a prefix no live
// Lab holds.
func Sweep(prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	ents, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		keep(fmt.Errorf("netns: sweep: %w", err))
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			if err := removeNS(e.Name()); err != nil {
				keep(fmt.Errorf("netns: sweep: %w", err))
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(os.TempDir(), prefix+".d")); err != nil {
		keep(fmt.Errorf("netns: sweep: %w", err))
	}
	return first
}

// removeNS kills every process (but this one) that lives in the named
// namespace and deletes the name. Killed processes leave the namespace as
// they exit, so it is freed with its interfaces once the last one is gone.
func removeNS(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).CombinedOutput()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput(); err != nil {
		if _, serr := os.Stat(filepath.Join(netnsDir, name)); errors.Is(serr, os.ErrNotExist) {
			return nil // gone already
		}
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Prefix returns the lab's prefix.
func (l *Lab) Prefix() string { return l.prefix }

// Dir returns the lab's directory (removed by Close): process logs live
// there, and callers may put configuration files there.
func (l *Lab) Dir() string { return l.dir }

// Close stops every process started in the lab (TERM to its process
// group, KILL after a second, reaped), kills anything else still running
// in the lab's namespaces, deletes the namespaces (which removes the veths
// in them) and the lab directory, and releases the prefix. It tries every
// step and returns the first error. Later calls return the same result.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.err
	}
	l.closed = true
	keep := func(err error) {
		if err != nil && l.err == nil {
			l.err = err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.procs))
	for i, p := range l.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop(syscall.SIGTERM, time.Second)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		keep(err)
	}
	for i := len(l.nss) - 1; i >= 0; i-- {
		if err := removeNS(l.nss[i].name); err != nil {
			keep(fmt.Errorf("netns: close: %w", err))
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		keep(fmt.Errorf("netns: close: %w", err))
	}
	l.releaseLock()
	return l.err
}

// CloseOnSignal makes SIGINT and SIGTERM close the lab and exit the
// program with status 128+signal (130 for Ctrl-C). stop undoes it and
// waits for the watcher goroutine to end; call it before Close on the
// normal path.
func (l *Lab) CloseOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer close(exited)
		select {
		case sig := <-ch:
			err := l.Close()
			code := 128 + int(sig.(syscall.Signal))
			if err != nil {
				fmt.Fprintf(os.Stderr, "netns: %v: closing lab %s: %v\n", sig, l.prefix, err)
			} else {
				fmt.Fprintf(os.Stderr, "netns: %v: lab %s removed\n", sig, l.prefix)
			}
			os.Exit(code)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			<-exited
		})
	}
}

var errClosed = errors.New("netns: lab is closed")
