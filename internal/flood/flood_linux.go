package flood

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TPACKET_V2 TX frame: struct tpacket2_hdr (tp_status at 0, tp_len at 4),
// the frame data at TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) = 32 (the
// kernel looks there when PACKET_TX_HAS_OFF is not set).
const (
	hdrStatus   = 0
	hdrLen      = 4
	dataOff     = 32
	ringFrames  = 1024
	statusAvail = 0 // TP_STATUS_AVAILABLE
	statusSend  = 1 // TP_STATUS_SEND_REQUEST
)

// Flooder is an open flood: a TX ring on the interface with a template
// frame in every slot. Open it on the thread (namespace) of the interface;
// Run may then be called from any goroutine, once.
type Flooder struct {
	cfg       Config
	fd        int
	mem       []byte
	frameSize int
	next      int // next slot to fill
	flen      int // frame length
	g         *gen
	ran       bool
	// SrcMAC and DstMAC are the frames' Ethernet addresses.
	SrcMAC, DstMAC net.HardwareAddr
}

// Open checks cfg and the safety rule, then opens the TX ring on cfg.Dev in
// the calling thread's network namespace (call it inside netns.NS.Do to
// flood from a namespace). An unsafe interface (ErrUnsafe) or a missing
// CAP_NET_RAW (ErrNoPrivilege) is refused before any packet socket is
// opened.
func Open(cfg Config) (*Flooder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, badInput{err}
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	// Everything below must see one thread's namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	self, selfErr := readNS(selfNSPath)
	init, initErr := readInitNS()
	var ifc *net.Interface
	lookup := func() (*net.Interface, error) {
		if ifc != nil {
			return ifc, nil
		}
		i, err := net.InterfaceByName(cfg.Dev)
		if err != nil {
			return nil, badInput{fmt.Errorf("--dev %s: %v", cfg.Dev, err)}
		}
		ifc = i
		return i, nil
	}
	if err := checkSafe(cfg.Dev, self, selfErr, init, initErr, func() (bool, error) {
		i, err := lookup()
		return err == nil && i.Flags&net.FlagLoopback != 0, err
	}); err != nil {
		return nil, err
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return nil, fmt.Errorf("flood: reading capabilities: %w", err)
	}
	if ok, err := hasNetRaw(string(status)); err != nil {
		return nil, fmt.Errorf("flood: /proc/thread-self/status: %v", err)
	} else if !ok {
		return nil, fmt.Errorf("%w: raw packets on %s need root or CAP_NET_RAW", ErrNoPrivilege, cfg.Dev)
	}
	i, err := lookup()
	if err != nil {
		return nil, err
	}
	flen := frameLen(&cfg)
	if flen-ethLen > i.MTU {
		return nil, badInput{fmt.Errorf("--size %d: a %d-byte IP packet exceeds the MTU %d of %s", cfg.Size, flen-ethLen, i.MTU, cfg.Dev)}
	}
	loop := i.Flags&net.FlagLoopback != 0
	src := make(net.HardwareAddr, 6)
	if !loop {
		if len(i.HardwareAddr) != 6 {
			return nil, badInput{fmt.Errorf("--dev %s: not an Ethernet interface (hardware address %q)", cfg.Dev, i.HardwareAddr)}
		}
		copy(src, i.HardwareAddr)
	}
	if cfg.DstMAC == nil {
		if loop {
			cfg.DstMAC = make(net.HardwareAddr, 6)
		} else if cfg.DstMAC, err = resolveMAC(i.Index, cfg.Dev, cfg.Dst.Addr()); err != nil {
			return nil, err
		}
	}
	f := &Flooder{cfg: cfg, fd: -1, flen: flen, SrcMAC: src, DstMAC: cfg.DstMAC}
	if err := f.openRing(i.Index); err != nil {
		f.Close()
		return nil, err
	}
	var tmpl []byte
	f.g, tmpl = newGen(&f.cfg, src)
	for s := range ringFrames {
		slot := f.slot(s)
		copy(slot[dataOff:], tmpl)
		ne.PutUint32(slot[hdrLen:], uint32(flen))
	}
	return f, nil
}

var ne = binary.NativeEndian

// readInitNS reads the initial namespace's identity: pid 1's, else
// kthreadd's (see initNSPath).
func readInitNS() (nsID, error) {
	id, err := readNS(initNSPath)
	if err == nil {
		return id, nil
	}
	st, serr := os.ReadFile(kthreadStat)
	if serr != nil || !isKthreadd(string(st)) {
		return nsID{}, fmt.Errorf("%s: %v, and pid 2 is not kthreadd", initNSPath, err)
	}
	id, kerr := readNS(kthreadPath)
	if kerr != nil {
		return nsID{}, fmt.Errorf("%s: %v; %s: %v", initNSPath, err, kthreadPath, kerr)
	}
	return id, nil
}

func readNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

func (f *Flooder) openRing(ifindex int) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("flood: packet socket: %w", err)
	}
	f.fd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("flood: PACKET_VERSION TPACKET_V2: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fmt.Errorf("flood: PACKET_QDISC_BYPASS: %w", err)
	}
	// A frame the kernel refuses is skipped instead of stopping the ring.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fmt.Errorf("flood: PACKET_LOSS: %w", err)
	}
	f.frameSize = 128
	for f.frameSize < dataOff+f.flen {
		f.frameSize *= 2
	}
	block := max(f.frameSize, 1<<16)
	per := block / f.frameSize
	blocks := (ringFrames + per - 1) / per
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(f.frameSize), Frame_nr: uint32(blocks * per)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fmt.Errorf("flood: PACKET_TX_RING %d frames of %d bytes: %w", req.Frame_nr, f.frameSize, err)
	}
	mem, err := unix.Mmap(fd, 0, block*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("flood: mmap TX ring (%d bytes): %w", block*blocks, err)
	}
	f.mem = mem
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return fmt.Errorf("flood: bind to %s: %w", f.cfg.Dev, err)
	}
	return nil
}

func (f *Flooder) slot(i int) []byte { return f.mem[i*f.frameSize : (i+1)*f.frameSize] }

func (f *Flooder) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&f.mem[i*f.frameSize+hdrStatus]))
}

// Close releases the ring and the socket.
func (f *Flooder) Close() error {
	var err error
	if f.mem != nil {
		err = unix.Munmap(f.mem)
		f.mem = nil
	}
	if f.fd >= 0 {
		if cerr := unix.Close(f.fd); err == nil {
			err = cerr
		}
		f.fd = -1
	}
	return err
}

// queue fills up to n free slots with the next frames and marks them for
// sending; it returns how many it filled (fewer when the ring is full).
func (f *Flooder) queue(n int) int {
	for k := range n {
		st := f.status(f.next)
		if atomic.LoadUint32(st) != statusAvail {
			return k
		}
		f.g.fill(f.mem[f.next*f.frameSize+dataOff : f.next*f.frameSize+dataOff+f.flen])
		atomic.StoreUint32(st, statusSend)
		if f.next++; f.next == ringFrames {
			f.next = 0
		}
	}
	return n
}

// kick asks the kernel to send every queued frame and waits until it has
// (a blocking sendto on a TX ring); it returns the frames sent.
func (f *Flooder) kick() (uint64, syscall.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(f.fd), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return uint64(n) / uint64(f.flen), 0
}

// Result is what a flood did.
type Result struct {
	Packets uint64        // frames the kernel sent
	Errors  uint64        // failed sendto calls plus frames queued but never sent
	Bytes   uint64        // Ethernet bytes of the frames sent (no FCS)
	Elapsed time.Duration // from the start of Run to its end
}

// PPS returns the achieved rate in packets per second.
func (r Result) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Packets) / r.Elapsed.Seconds()
}

// Mbps returns the achieved rate in Mbit/s of Ethernet frames.
func (r Result) Mbps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Elapsed.Seconds() / 1e6
}

// String is the summary line.
func (r Result) String() string {
	return fmt.Sprintf("vsflood: sent %d packets in %.3fs: %.0f pps, %.1f Mbit/s, %d send errors",
		r.Packets, r.Elapsed.Seconds(), r.PPS(), r.Mbps(), r.Errors)
}

// errStuck ends a flood whose ring has not moved for stuckAfter.
var errStuck = errors.New("flood: the TX ring has not moved")

const stuckAfter = 2 * time.Second

// Run sends the flood until Packets are sent, Duration has passed or ctx
// ends (not an error: the Result says how far it got), printing progress
// once a second to progress (nil: none). It can be called once.
func (f *Flooder) Run(ctx context.Context, progress io.Writer) (Result, error) {
	if f.ran || f.fd < 0 {
		return Result{}, errors.New("flood: Run called twice or after Close")
	}
	f.ran = true
	cfg := &f.cfg
	var r Result
	var queued uint64
	var lastErr syscall.Errno
	start := time.Now()
	var p *pacer
	chunk := cfg.Batch
	if cfg.Rate > 0 {
		p = newPacer(cfg.Rate, cfg.Batch, 0)
		chunk = int(min(max(cfg.Rate/1000, 1), uint64(cfg.Batch)))
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lastPrint time.Duration
	var lastPrinted uint64
	lastMove := time.Duration(0)
	done := ctx.Done()
	for {
		now := time.Since(start)
		if cfg.Duration > 0 && now >= cfg.Duration {
			break
		}
		if progress != nil && now-lastPrint >= time.Second {
			fmt.Fprintf(progress, "vsflood: %.1fs %d packets %.0f pps\n", now.Seconds(), r.Packets,
				float64(r.Packets-lastPrinted)/(now-lastPrint).Seconds())
			lastPrint, lastPrinted = now, r.Packets
		}
		select {
		case <-done:
			goto out
		default:
		}
		want := cfg.Batch
		if cfg.Packets > 0 {
			if queued >= cfg.Packets {
				break
			}
			want = int(min(uint64(want), cfg.Packets-queued))
		}
		if p != nil {
			n := p.take(int64(now), want)
			if n == 0 {
				d := p.wait(min(chunk, want))
				if cfg.Duration > 0 {
					d = min(d, cfg.Duration-now)
				}
				timer.Reset(d)
				select {
				case <-done:
					goto out
				case <-timer.C:
				}
				continue
			}
			want = n
		}
		q := f.queue(want)
		queued += uint64(q)
		sent, e := f.kick()
		r.Packets += sent
		if e != 0 {
			r.Errors++
			lastErr = e
		}
		if q > 0 || sent > 0 {
			lastMove = now
		} else if now-lastMove > stuckAfter {
			r.Elapsed = time.Since(start)
			r.Errors += queued - r.Packets
			r.Bytes = r.Packets * uint64(f.flen)
			return r, fmt.Errorf("%w for %s (last sendto error: %v)", errStuck, stuckAfter, lastErr)
		}
		if q < want && p != nil {
			// The ring was full: give back what was not queued.
			p.credit += uint64(want-q) * 1e9
		}
	}
out:
	// Send what is still queued; a few tries, then count it as lost.
	for try := 0; try < 3 && r.Packets < queued; try++ {
		sent, e := f.kick()
		r.Packets += sent
		if e != 0 {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	r.Errors += queued - r.Packets
	r.Bytes = r.Packets * uint64(f.flen)
	return r, nil
}

// Run opens cfg's flood in the calling thread's namespace, runs it and
// closes it.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	f, err := Open(cfg)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	return f.Run(ctx, progress)
}
