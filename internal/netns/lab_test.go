package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vsd/vsd/internal/roottest"
)

// childEnv, when set, makes the test binary act as the lab program of
// TestCloseOnSignal instead of running tests.
const childEnv = "VSD_NETNS_SIGNAL_CHILD"

func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		signalChild(p)
		return
	}
	goleak.VerifyTestMain(m)
}

// prefix returns a prefix unique to this test run and tag.
func prefix(tag string) string { return fmt.Sprintf("vsdnt%d_%s", os.Getpid(), tag) }

// unavailable skips (or, under CI=true, fails) a test the machine cannot run.
func unavailable(t *testing.T, why string) {
	t.Helper()
	roottest.Unavailable(t, why)
}

// newLab makes a lab for the test and closes it at the end.
func newLab(t *testing.T, tag string) *Lab {
	t.Helper()
	l, err := New(prefix(tag))
	if errors.Is(err, ErrUnavailable) {
		unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		unavailable(t, "no "+name+" on PATH")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pair makes namespaces a and b joined by veth a0 (10.9.0.1) – b0 (10.9.0.2).
func pair(t *testing.T, l *Lab) (a, b *NS) {
	t.Helper()
	a, err := l.NS("a")
	must(t, err)
	b, err = l.NS("b")
	must(t, err)
	must(t, l.Veth(a, "a0", b, "b0"))
	must(t, a.IP("addr", "add", "10.9.0.1/24", "dev", "a0"))
	must(t, b.IP("addr", "add", "10.9.0.2/24", "dev", "b0"))
	return a, b
}

// leftovers lists the namespaces and files a lab with prefix p may leave.
func leftovers(t *testing.T, p string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var left []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, p+"-") {
			left = append(left, "namespace "+f)
		}
	}
	for _, f := range []string{p + ".d", p + ".lock"} {
		if _, err := os.Lstat(filepath.Join(os.TempDir(), f)); err == nil {
			left = append(left, "file "+f)
		}
	}
	return left
}

// gone waits up to 3 s for pid to disappear (or be a zombie nobody reaps).
func gone(pid int) bool {
	for range 300 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i:]), ") Z") {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// waitLog waits up to 3 s for p's log to contain s.
func waitLog(t *testing.T, p *Proc, s string) string {
	t.Helper()
	for range 300 {
		if l := p.Log(); strings.Contains(l, s) {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: log never showed %q; log: %q", p.Name(), s, p.Log())
	return ""
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	must(t, err)
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestPingAndLinkStats(t *testing.T) {
	l := newLab(t, "ping")
	needTool(t, "ping")
	a, b := pair(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	a0, err := a.LinkStats("a0")
	must(t, err)
	b0, err := b.LinkStats("b0")
	must(t, err)
	const n = 3
	for range n {
		if out, err := a.Run(ctx, "ping", "-c", "1", "-W", "1", "10.9.0.2"); err != nil {
			t.Fatalf("ping a→b: %v", err)
		} else if !strings.Contains(string(out), "1 received") {
			t.Fatalf("ping a→b: %s", out)
		}
	}
	a1, err := a.LinkStats("a0")
	must(t, err)
	b1, err := b.LinkStats("b0")
	must(t, err)
	// Each ping is one 98-byte request a→b and one reply b→a (plus maybe
	// ARP and IPv6 chatter, hence ≥).
	if d := b1.RxPackets - b0.RxPackets; d < n {
		t.Errorf("b0 received %d packets during %d pings", d, n)
	}
	if d := a1.RxPackets - a0.RxPackets; d < n {
		t.Errorf("a0 received %d packets during %d pings", d, n)
	}
	if d := a1.TxBytes - a0.TxBytes; d < n*98 {
		t.Errorf("a0 sent %d bytes during %d pings, want ≥ %d", d, n, n*98)
	}
	if b1.TxPackets-b0.TxPackets != a1.RxPackets-a0.RxPackets {
		t.Errorf("veth lost packets: b0 sent %d, a0 received %d", b1.TxPackets-b0.TxPackets, a1.RxPackets-a0.RxPackets)
	}

	// A failing command: the error names it and carries its output.
	_, err = a.Run(ctx, "ping", "-c", "1", "-W", "1", "10.9.0.99")
	if err == nil || !strings.Contains(err.Error(), "ping -c 1 -W 1 10.9.0.99") || !strings.Contains(err.Error(), "0 received") {
		t.Errorf("failed ping: error %v, want the command and its output", err)
	}
	if _, err := a.LinkStats("b0"); err == nil {
		t.Error("LinkStats found b0 in namespace a")
	}
}

func TestCloseKillsAndDeletes(t *testing.T) {
	needTool(t, "setsid")
	p := prefix("close")
	l := newLab(t, "close")
	a, b := pair(t, l)
	sleep, err := a.Start("sleep", "sleep", "30")
	must(t, err)
	// A child in the program's group, and a daemon that left the group.
	sh, err := b.Start("sh", "sh", "-c", `sleep 30 & echo child $!; setsid sleep 30 & echo daemon $!; echo ok; wait`)
	must(t, err)
	log := waitLog(t, sh, "ok")
	var child, daemon int
	if _, err := fmt.Sscanf(log, "child %d\ndaemon %d\n", &child, &daemon); err != nil {
		t.Fatalf("log %q: %v", log, err)
	}
	if got, want := inode(t, fmt.Sprintf("/proc/%d/ns/net", sleep.Pid())), inode(t, "/run/netns/"+a.Name()); got != want {
		t.Errorf("started process is in namespace inode %d, want %d (%s)", got, want, a.Name())
	}
	for _, pid := range []int{sleep.Pid(), sh.Pid(), child, daemon} {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("pid %d not running before Close: %v", pid, err)
		}
	}
	if left := leftovers(t, p); len(left) != 4 { // a, b, dir, lock
		t.Errorf("before Close: %v, want 2 namespaces and 2 files", left)
	}

	must(t, l.Close())
	for _, pid := range []int{sleep.Pid(), sh.Pid(), child, daemon} {
		if !gone(pid) {
			t.Errorf("pid %d still running after Close", pid)
		}
	}
	select {
	case <-sleep.Done():
	default:
		t.Error("sleep not reaped by Close")
	}
	if err := sleep.Wait(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("sleep's status %v, want terminated", err)
	}
	if left := leftovers(t, p); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.NS("c"); err == nil {
		t.Error("NS after Close succeeded")
	}
	if _, err := a.Start("sleep", "sleep", "1"); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestSweepLeftovers(t *testing.T) {
	p := prefix("sweep")
	if err := Available(); err != nil {
		unavailable(t, err.Error())
	}
	// What a crashed run leaves: a namespace with a process in it, and
	// the lab directory.
	old := p + "-old"
	if out, err := exec.Command("ip", "netns", "add", old).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", old).Run() })
	orphan := exec.Command("ip", "netns", "exec", old, "sleep", "30")
	must(t, orphan.Start())
	waited := make(chan error, 1)
	go func() { waited <- orphan.Wait() }()
	t.Cleanup(func() { orphan.Process.Kill(); <-waited })
	for i := 0; ; i++ { // wait until `ip netns exec` has joined the namespace
		st, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", orphan.Process.Pid))
		if err == nil && st.Sys().(*syscall.Stat_t).Ino == inode(t, "/run/netns/"+old) {
			break
		}
		if i == 500 {
			t.Fatal("orphan never entered its namespace")
		}
		time.Sleep(time.Millisecond)
	}
	must(t, os.MkdirAll(filepath.Join(os.TempDir(), p+".d", "x"), 0o755))

	l := newLab(t, "sweep")
	select {
	case err := <-waited:
		waited <- err // for the cleanup
		if err == nil {
			t.Error("orphan exited cleanly; want killed")
		}
	case <-time.After(3 * time.Second):
		t.Error("orphan in the leftover namespace still runs after New")
	}
	if _, err := os.Stat("/run/netns/" + old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover namespace %s: %v", old, err)
	}
	ents, err := os.ReadDir(l.Dir())
	must(t, err)
	if len(ents) != 0 {
		t.Errorf("lab directory not fresh: %v", ents)
	}
}

func TestPrefixInUse(t *testing.T) {
	l := newLab(t, "busy")
	if l2, err := New(l.Prefix()); err == nil {
		l2.Close()
		t.Fatal("second New with a live prefix succeeded")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %v, want 'in use'", err)
	}
	if _, err := os.Stat(l.Dir()); err != nil {
		t.Errorf("refused New touched the live lab: %v", err)
	}
	must(t, l.Close())
	l3, err := New(l.Prefix())
	must(t, err)
	must(t, l3.Close())
}

func TestDo(t *testing.T) {
	l := newLab(t, "do")
	a, b := pair(t, l)
	sleep, err := a.Start("sleep", "sleep", "30")
	must(t, err)
	want := inode(t, fmt.Sprintf("/proc/%d/ns/net", sleep.Pid())) // Start waited for it to enter
	self := inode(t, "/proc/thread-self/ns/net")
	if want == self {
		t.Fatal("namespace a is the test's own namespace")
	}

	var inside uint64
	var ifErr, otherErr error
	err = a.Do(func() error {
		inside = inode(t, "/proc/thread-self/ns/net")
		_, ifErr = net.InterfaceByName("a0")
		_, otherErr = net.InterfaceByName("b0")
		return nil
	})
	must(t, err)
	if inside != want {
		t.Errorf("Do ran in namespace inode %d, want %d", inside, want)
	}
	if ifErr != nil {
		t.Errorf("a0 not visible inside Do: %v", ifErr)
	}
	if otherErr == nil {
		t.Error("b0 (namespace b) visible inside a.Do")
	}

	// The thread is switched back, also after an error or a panic.
	sentinel := errors.New("sentinel")
	for _, fn := range []func() error{
		func() error { return sentinel },
		func() error { panic("boom") },
	} {
		done := make(chan uint64)
		go func() {
			defer func() { recover(); done <- inode(t, "/proc/thread-self/ns/net") }()
			if err := b.Do(fn); !errors.Is(err, sentinel) {
				t.Errorf("Do returned %v, want fn's error", err)
			}
		}()
		// The deferred restore runs before recover, on the same
		// goroutine; a still-locked thread would keep b's inode.
		if got := <-done; got != self {
			t.Errorf("after Do: goroutine in namespace inode %d, want %d", got, self)
		}
	}
	if _, err := net.InterfaceByName("a0"); err == nil {
		t.Error("a0 visible in the test's own namespace")
	}
}

func TestSysctl(t *testing.T) {
	l := newLab(t, "sysctl")
	a, err := l.NS("a")
	must(t, err)
	host, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	must(t, err)
	for _, v := range []string{"1", "0", "1"} {
		must(t, a.Sysctl("net.ipv4.ip_forward", v))
		out, err := a.Run(context.Background(), "cat", "/proc/sys/net/ipv4/ip_forward")
		must(t, err)
		if strings.TrimSpace(string(out)) != v {
			t.Errorf("ip_forward in %s = %q after setting %s", a.Name(), out, v)
		}
	}
	must(t, a.Sysctl("net/ipv4/conf/lo/rp_filter", "2"))
	out, err := a.Run(context.Background(), "sysctl", "-n", "net.ipv4.conf.lo.rp_filter")
	if err == nil && strings.TrimSpace(string(out)) != "2" {
		t.Errorf("rp_filter = %q, want 2", out)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(host) {
		t.Errorf("host ip_forward changed from %q to %q", host, now)
	}
	for _, k := range []string{"kernel.pid_max", "net/../kernel/pid_max", "net.ipv4.nosuchkey", ""} {
		if err := a.Sysctl(k, "1"); err == nil {
			t.Errorf("Sysctl(%q) succeeded", k)
		}
	}
}

func TestStartOptionsAndStop(t *testing.T) {
	l := newLab(t, "start")
	a, err := l.NS("a")
	must(t, err)
	p, err := a.StartWith(StartOptions{CPUs: "0", Env: []string{"VSDTEST=hello"}}, "env",
		"sh", "-c", `echo "$VSDTEST"; grep Cpus_allowed_list /proc/self/status`)
	must(t, err)
	must(t, p.Wait())
	if log := p.Log(); !strings.Contains(log, "hello\n") || !strings.Contains(log, "Cpus_allowed_list:\t0\n") {
		t.Errorf("log %q, want the env value and CPU list 0", log)
	}
	if _, err := a.StartWith(StartOptions{CPUs: "0;reboot"}, "bad", "true"); err == nil {
		t.Error("bad CPU list accepted")
	}
	if _, err := a.StartWith(StartOptions{Env: []string{"NOEQUALS"}}, "bad", "true"); err == nil {
		t.Error("bad env entry accepted")
	}
	if _, err := a.Start("../x", "true"); err == nil {
		t.Error("bad process name accepted")
	}
	if _, err := a.Start("x"); err == nil {
		t.Error("empty command accepted")
	}

	// A program that ignores TERM is killed after the timeout.
	stub, err := a.Start("stubborn", "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	must(t, err)
	waitLog(t, stub, "ready")
	start := time.Now()
	must(t, stub.Stop(syscall.SIGTERM, 200*time.Millisecond))
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Stop took %v, want just over 200ms", d)
	}
	if err := stub.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stubborn's status %v, want killed", err)
	}
	must(t, stub.Stop(syscall.SIGTERM, time.Second)) // already gone: no-op
	// Two processes with one name get two logs.
	p1, err := a.Start("same", "echo", "one")
	must(t, err)
	p2, err := a.Start("same", "echo", "two")
	must(t, err)
	p1.Wait()
	p2.Wait()
	if p1.LogPath() == p2.LogPath() || p1.Log() != "one\n" || p2.Log() != "two\n" {
		t.Errorf("logs %s=%q %s=%q", p1.LogPath(), p1.Log(), p2.LogPath(), p2.Log())
	}
}

func TestCloseAfterFailedStep(t *testing.T) {
	p := prefix("fail")
	func() {
		defer func() {
			if r := recover(); r != nil && r != "boom" { // nil: t.Skip or t.Fatal
				t.Errorf("recovered %v", r)
			}
		}()
		l := newLab(t, "fail")
		defer l.Close()
		a, b := pair(t, l)
		if _, err := a.Start("sleep", "sleep", "30"); err != nil {
			t.Fatal(err)
		}
		if err := l.Veth(a, "a0", b, "b9"); err == nil { // a0 exists
			t.Error("second veth named a0 succeeded")
		} else if !strings.Contains(err.Error(), "ip link add a0") {
			t.Errorf("veth error %v does not name the command", err)
		}
		if _, err := l.NS("a"); err == nil {
			t.Error("duplicate namespace accepted")
		}
		if err := l.Veth(a, "much-too-long-name", b, "x"); err == nil {
			t.Error("16-byte interface name accepted")
		}
		if err := a.IP("link", "set", "nosuchdev", "up"); err == nil {
			t.Error("ip on a missing device succeeded")
		}
		panic("boom")
	}()
	if left := leftovers(t, p); len(left) > 0 {
		t.Errorf("after a failed step and Close: %v", left)
	}
}

func TestNames(t *testing.T) {
	for _, p := range []string{"", "a-b", "a b", "a/b", strings.Repeat("x", 33)} {
		if _, err := New(p); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("New(%q): %v, want a prefix error", p, err)
		}
	}
	for _, n := range []string{"", ".x", "-x", "a/b", "a b", strings.Repeat("x", 33)} {
		if err := checkName("namespace", n); err == nil {
			t.Errorf("checkName(%q) accepted", n)
		}
	}
	for _, n := range []string{"a", "ns-1.x_y"} {
		if err := checkName("namespace", n); err != nil {
			t.Errorf("checkName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef"} {
		if err := checkIfName(n); err == nil {
			t.Errorf("checkIfName(%q) accepted", n)
		}
	}
	if err := checkIfName("0123456789abcde"); err != nil {
		t.Errorf("15-byte name: %v", err)
	}
}

// TestCloseOnSignal runs a lab program (this binary, see TestMain), sends
// it SIGINT and checks it removed its lab and exited with 130.
func TestCloseOnSignal(t *testing.T) {
	if err := Available(); err != nil {
		unavailable(t, err.Error())
	}
	p := prefix("sig")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+p)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); Sweep(p); os.Remove(filepath.Join(os.TempDir(), p+".lock")) })

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v (%q)", err, line)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "ready "))
	if err != nil {
		t.Fatalf("child said %q", line)
	}
	if left := leftovers(t, p); len(left) != 3 {
		t.Errorf("child's lab: %v, want 1 namespace and 2 files", left)
	}
	must(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("child exit: %v, want status 130", err)
	}
	if !gone(pid) {
		t.Errorf("child's sleep (pid %d) survived", pid)
	}
	if left := leftovers(t, p); len(left) > 0 {
		t.Errorf("after SIGINT: %v", left)
	}
}

// signalChild is the lab program of TestCloseOnSignal.
func signalChild(prefix string) {
	l, err := New(prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer l.Close()
	// stop() on a first handler must leave nothing behind and let a
	// second one take over.
	l.CloseOnSignal()()
	stop := l.CloseOnSignal()
	defer stop()
	ns, err := l.NS("a")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	p, err := ns.Start("sleep", "sleep", "30")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("ready %d\n", p.Pid())
	time.Sleep(20 * time.Second)
	os.Exit(3)
}
