package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartOptions adjust how NS.StartWith runs a program.
type StartOptions struct {
	// CPUs, if set, pins the program with `taskset -c CPUs` (e.g. "1" or
	// "0,2-3").
	CPUs string
	// Env entries ("KEY=value") are added to this process's environment.
	Env []string
	// Dir is the program's working directory ("" = this process's).
	Dir string
}

// Proc is a background program started in a namespace. It runs in its own
// process group; Stop and the Lab's Close signal the whole group.
type Proc struct {
	name string
	pid  int
	log  string
	done chan struct{} // closed once the program has exited and is reaped
	err  error         // Wait's result, set before done is closed
}

// Start runs args in the background inside the namespace, like StartWith
// with no options. name labels the process and its log file.
func (ns *NS) Start(name string, args ...string) (*Proc, error) {
	return ns.StartWith(StartOptions{}, name, args...)
}

// StartWith runs args in the background inside the namespace (`ip netns
// exec NAME [taskset -c CPUS] args...`; both exec, so Pid is the
// program's own) and returns once it is inside the namespace. Stdout and
// stderr go to a log file in the lab's directory. The program gets SIGKILL if this process dies, and the Lab's
// Close stops it.
func (ns *NS) StartWith(o StartOptions, name string, args ...string) (*Proc, error) {
	if err := checkName("process", name); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("netns: start %s in %s: no command", name, ns.name)
	}
	argv := []string{"netns", "exec", ns.name}
	if o.CPUs != "" {
		if strings.Trim(o.CPUs, "0123456789,-") != "" {
			return nil, fmt.Errorf("netns: start %s: CPU list %q: want digits, ',' and '-'", name, o.CPUs)
		}
		argv = append(argv, "taskset", "-c", o.CPUs)
	}
	argv = append(argv, args...)
	for _, e := range o.Env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("netns: start %s: environment entry %q: want KEY=value", name, e)
		}
	}

	l := ns.lab
	l.mu.Lock() // held until the Proc is registered: see Lab.NS
	defer l.mu.Unlock()
	if l.closed {
		return nil, errClosed
	}
	path := filepath.Join(l.dir, ns.short+"."+name+".log")
	for i := 2; ; i++ {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		path = filepath.Join(l.dir, ns.short+"."+name+"."+strconv.Itoa(i)+".log")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netns: start %s: log: %w", name, err)
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command("ip", argv...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = o.Dir
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	// Pdeathsig is tied to the thread that forks; Go keeps threads alive
	// unless a goroutine exits while locked to one (see NS.Do).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: start %s in %s: %s: %w", name, ns.name, strings.Join(cmd.Args, " "), err)
	}
	p := &Proc{name: name, pid: cmd.Process.Pid, log: path, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	if err := p.entered(ns); err != nil {
		return nil, err // Close stops it
	}
	return p, nil
}

// entered waits until the program is inside ns (`ip` forks nothing, but
// joins the namespace only after it starts) or has exited.
func (p *Proc) entered(ns *NS) error {
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns.name), &want); err != nil {
		return fmt.Errorf("netns: start %s: %w", p.name, err)
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/net", p.pid)
	for range 500 {
		var got syscall.Stat_t
		if syscall.Stat(nsPath, &got) == nil && got.Dev == want.Dev && got.Ino == want.Ino {
			return nil
		}
		select {
		case <-p.done:
			return nil // ended already (Wait and Log tell how)
		case <-time.After(time.Millisecond):
		}
	}
	return fmt.Errorf("netns: start %s: not in %s after 0.5s", p.name, ns.name)
}

// Name returns the label given to Start.
func (p *Proc) Name() string { return p.name }

// Pid returns the program's process id (also its process group id).
func (p *Proc) Pid() int { return p.pid }

// LogPath returns the log file's path; the file goes with the Lab.
func (p *Proc) LogPath() string { return p.log }

// Log returns what the program has written to stdout and stderr so far
// (empty once the Lab is closed).
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Done is closed when the program has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the program to exit and returns its status as
// exec.Cmd.Wait does.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Stop sends sig to the program's process group, waits up to timeout for
// the program to exit, then sends SIGKILL; once the program is reaped it
// kills whatever is left of its group. It returns nil when the program is
// gone (whatever its exit status: see Wait), an error if even SIGKILL did
// not end it within 5 seconds. Stopping an ended program does nothing
// (the Lab's Close still kills anything left in its namespaces).
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
		return nil // its pid may be reused by now: signal nothing
	default:
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("netns: stop %s (pid %d): %w", p.name, p.pid, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		syscall.Kill(-p.pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("netns: stop %s (pid %d): still running 5s after SIGKILL", p.name, p.pid)
		}
	}
	p.killGroup()
	return nil
}

// killGroup SIGKILLs members of the program's group that outlived it.
// Called only right after the leader was reaped, so the group id cannot
// have been reused yet in practice.
func (p *Proc) killGroup() { syscall.Kill(-p.pid, syscall.SIGKILL) }
