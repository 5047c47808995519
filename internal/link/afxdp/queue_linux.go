package afxdp

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/link"
)

// Queue is a link.Queue over one AF_XDP socket per port. It is used by
// one goroutine at a time (Read, Write, Send); Stats may be called from
// any goroutine. Per port, the fill ring gets every free chunk but a
// quarter of Frames, which stays on the free stack for cross-port copies
// and Send.
type Queue struct {
	ports     []*port
	pollfds   []unix.PollFd
	ts        unix.Timespec
	frameSize int
	chunkMask uint64 // clears the offset within a chunk
	start     int    // port Read looks at first (rotates for fairness)

	closed atomic.Bool
	mu     sync.Mutex // Close against Stats (never taken on the packet path)
	final  [link.MaxPorts]unix.XDPStatistics

	rxFrames, txFrames, rxInvalid, txDropped, passLost atomic.Uint64
	kicks, polls, fillEmpty                            atomic.Uint64
	perPortRx, perPortTx                               [link.MaxPorts]atomic.Uint64
}

var _ link.Queue = (*Queue)(nil)

// Open creates and binds one AF_XDP socket per interface of cfg, in the
// network namespace of the calling thread (lock the OS thread and switch
// namespaces around Open to bind elsewhere; the sockets stay bound to
// that namespace). The caller then puts FD(port) into its XDP program's
// XSKMAP at key cfg.Queue.
func Open(cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults(os.Getpagesize())
	if err != nil {
		return nil, err
	}
	q := &Queue{
		frameSize: cfg.FrameSize,
		chunkMask: ^uint64(cfg.FrameSize - 1),
	}
	for _, name := range cfg.Ifaces {
		p, err := openPort(name, cfg)
		if err != nil {
			_ = q.Close()
			return nil, err
		}
		q.ports = append(q.ports, p)
		q.pollfds = append(q.pollfds, unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN})
	}
	return q, nil
}

// FD returns the socket of port (for the XSKMAP), or -1 if there is no
// such port or the queue is closed.
func (q *Queue) FD(port int) int {
	if port < 0 || port >= len(q.ports) || q.closed.Load() {
		return -1
	}
	return q.ports[port].fd
}

// Ports returns the number of ports.
func (q *Queue) Ports() int { return len(q.ports) }

// Read tops up every fill ring, then takes up to len(frames) received
// frames across the ports (starting at a rotating port). Only when none is
// ready does it poll the sockets, for up to timeout (negative: no limit;
// zero: no wait). It returns 0 and no error when the timeout passes.
func (q *Queue) Read(frames []link.Frame, timeout time.Duration) (int, error) {
	if q.closed.Load() {
		return 0, ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	wake := false
	var empty uint64
	for _, p := range q.ports {
		p.reap(q.chunkMask)
		if p.refill() {
			empty++
		}
		wake = wake || p.fill.needWakeup()
	}
	if empty != 0 {
		q.fillEmpty.Add(empty)
	}
	n := q.collect(frames)
	if n == 0 && (timeout != 0 || wake) {
		if err := q.poll(timeout); err != nil {
			return 0, err
		}
		n = q.collect(frames)
	}
	if n > 0 {
		q.rxFrames.Add(uint64(n))
	}
	return n, nil
}

// poll waits for any socket to become readable.
func (q *Queue) poll(timeout time.Duration) error {
	ts := &q.ts
	switch {
	case timeout < 0:
		ts = nil
	default:
		q.ts = unix.NsecToTimespec(int64(timeout))
	}
	q.polls.Add(1)
	_, err := unix.Ppoll(q.pollfds, ts, nil)
	if err != nil {
		if err == unix.EINTR {
			return nil
		}
		return fmt.Errorf("afxdp: poll: %w", err)
	}
	for i := range q.pollfds {
		if q.pollfds[i].Revents&(unix.POLLERR|unix.POLLNVAL|unix.POLLHUP) != 0 {
			return fmt.Errorf("afxdp: poll: socket of %s reports an error (revents %#x)", q.ports[i].name, q.pollfds[i].Revents)
		}
	}
	return nil
}

// collect moves ready RX descriptors into frames.
func (q *Queue) collect(frames []link.Frame) int {
	n := 0
	np := len(q.ports)
	start := q.start
	q.start++
	if q.start >= np {
		q.start = 0
	}
	var bad uint64
	for k := 0; k < np && n < len(frames); k++ {
		pi := start + k
		if pi >= np {
			pi -= np
		}
		p := q.ports[pi]
		avail := atomic.LoadUint32(p.rx.prod) - p.rx.local
		if avail == 0 {
			continue
		}
		if room := uint32(len(frames) - n); avail > room {
			avail = room
		}
		got := 0
		for i := range avail {
			d := p.rx.descs[(p.rx.local+i)&p.rx.mask]
			chunk, off, ok := splitDesc(d.Addr, d.Len, q.frameSize, len(p.umem))
			if !ok {
				bad++
				if chunk <= uint64(len(p.umem)-q.frameSize) {
					p.free = append(p.free, chunk)
				}
				continue
			}
			f := &frames[n]
			f.Buf = p.umem[chunk : chunk+uint64(q.frameSize) : chunk+uint64(q.frameSize)]
			f.Off = off
			f.Len = int(d.Len)
			f.Port = uint16(pi)
			f.Action = link.Drop
			n++
			got++
		}
		p.rx.local += avail
		atomic.StoreUint32(p.rx.cons, p.rx.local)
		if got > 0 {
			q.perPortRx[pi].Add(uint64(got))
		}
	}
	if bad != 0 {
		q.rxInvalid.Add(bad)
	}
	return n
}

// locate finds the port and chunk a frame buffer belongs to.
func (q *Queue) locate(buf []byte) (*port, uint64, bool) {
	if cap(buf) == 0 {
		return nil, 0, false
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	for _, p := range q.ports {
		if a >= p.base && a < p.base+uintptr(len(p.umem)) {
			return p, uint64(a-p.base) & q.chunkMask, true
		}
	}
	return nil, 0, false
}

// Write finishes the batch of the last Read. A Tx frame for its ingress
// port goes onto that socket's TX ring as it lies in the UMEM; one for
// another port is copied into a free chunk of that port. Drop and Pass
// frames (Pass counted in PassLost) and copied-from chunks go back to
// their free stack, and from there into the fill ring on the next Read.
// Each port is kicked at most once (more only while the kernel reports
// its TX budget exhausted, at most maxKicks times), never blocking. A
// frame that finds no TX slot or free chunk is counted in TxDropped.
func (q *Queue) Write(frames []link.Frame) error {
	if q.closed.Load() {
		return ErrClosed
	}
	for _, p := range q.ports {
		p.reap(q.chunkMask)
	}
	var tx, dropped, pass uint64
	var perTx [link.MaxPorts]uint64
	for i := range frames {
		f := &frames[i]
		src, chunk, ok := q.locate(f.Buf)
		if !ok { // not a buffer of ours: nothing to recycle
			if f.Action == link.Tx {
				dropped++
			}
			continue
		}
		switch f.Action {
		case link.Tx:
			if q.transmit(src, chunk, f) {
				tx++
				perTx[f.Port]++
			} else {
				dropped++
			}
		case link.Pass:
			pass++
			src.free = append(src.free, chunk)
		default:
			src.free = append(src.free, chunk)
		}
		f.Buf = nil
	}
	err := q.flushAll()
	if tx != 0 {
		q.txFrames.Add(tx)
		for pi, c := range perTx[:len(q.ports)] {
			if c != 0 {
				q.perPortTx[pi].Add(c)
			}
		}
	}
	if dropped != 0 {
		q.txDropped.Add(dropped)
	}
	if pass != 0 {
		q.passLost.Add(pass)
	}
	return err
}

// transmit queues one Tx frame whose buffer is chunk of src; it returns
// false (and recycles what it must) when the frame cannot be queued.
func (q *Queue) transmit(src *port, chunk uint64, f *link.Frame) bool {
	if int(f.Port) >= len(q.ports) || f.Off < 0 || f.Len <= 0 || f.Off+f.Len > q.frameSize || len(f.Buf) != q.frameSize {
		src.free = append(src.free, chunk)
		return false
	}
	dst := q.ports[f.Port]
	if dst == src {
		if dst.txSpace() == 0 {
			src.free = append(src.free, chunk)
			return false
		}
		dst.queueTx(chunk+uint64(f.Off), uint32(f.Len))
		return true
	}
	// Another port: copy into a chunk of its UMEM.
	src.free = append(src.free, chunk)
	if len(dst.free) == 0 || dst.txSpace() == 0 {
		return false
	}
	c := dst.free[len(dst.free)-1]
	dst.free = dst.free[:len(dst.free)-1]
	copy(dst.umem[c:c+uint64(q.frameSize)], f.Buf[f.Off:f.Off+f.Len])
	dst.queueTx(c, uint32(f.Len))
	return true
}

// maxKicks bounds the TX wake-ups per port per Write: copy mode sends at
// most the TX budget (32, or 512 with XDP_MAX_TX_SKB_BUDGET) per kick.
const maxKicks = 4

// flushAll publishes and kicks every port's TX ring.
func (q *Queue) flushAll() error {
	var kicks uint64
	var err error
	for _, p := range q.ports {
		p.kicked = false
		for try := 0; try < maxKicks; try++ {
			before := kicks
			if e := p.flushTx(&kicks); e != nil {
				if err == nil {
					err = e
				}
				break
			}
			// Stop unless the kick left descriptors the kernel could
			// have sent (budget exhausted); reap so the completion ring
			// has room.
			if kicks == before || atomic.LoadUint32(p.tx.cons) == p.tx.local {
				break
			}
			p.reap(q.chunkMask)
		}
	}
	if kicks != 0 {
		q.kicks.Add(kicks)
	}
	return err
}

// Send copies frame into a free chunk of port and transmits it.
func (q *Queue) Send(port int, frame []byte) error {
	if q.closed.Load() {
		return ErrClosed
	}
	if port < 0 || port >= len(q.ports) {
		q.txDropped.Add(1)
		return fmt.Errorf("afxdp: send: no port %d (have %d)", port, len(q.ports))
	}
	if len(frame) == 0 || len(frame) > q.frameSize {
		q.txDropped.Add(1)
		return fmt.Errorf("afxdp: send on port %d: frame of %d bytes, want 1..%d", port, len(frame), q.frameSize)
	}
	p := q.ports[port]
	p.reap(q.chunkMask)
	if len(p.free) == 0 || p.txSpace() == 0 {
		q.txDropped.Add(1)
		return ErrNoSpace
	}
	c := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	copy(p.umem[c:], frame)
	p.queueTx(c, uint32(len(frame)))
	var kicks uint64
	err := p.flushTx(&kicks)
	q.kicks.Add(kicks)
	q.txFrames.Add(1)
	q.perPortTx[port].Add(1)
	return err
}

// Stats returns the counters; RxDropped adds the kernel's XDP_STATISTICS
// (rx_dropped, which includes drops for an empty fill ring, and
// rx_ring_full) to the descriptors Read rejected.
func (q *Queue) Stats() link.Stats {
	s := link.Stats{
		RxFrames:  q.rxFrames.Load(),
		TxFrames:  q.txFrames.Load(),
		RxDropped: q.rxInvalid.Load(),
		TxDropped: q.txDropped.Load(),
		PassLost:  q.passLost.Load(),
		Kicks:     q.kicks.Load(),
		Polls:     q.polls.Load(),
		FillEmpty: q.fillEmpty.Load(),
	}
	for i := range link.MaxPorts {
		s.PerPortRx[i] = q.perPortRx[i].Load()
		s.PerPortTx[i] = q.perPortTx[i].Load()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, p := range q.ports {
		st := q.final[i]
		if !q.closed.Load() {
			if k, err := p.kernelStats(); err == nil {
				st = k
			}
		}
		s.RxDropped += st.Rx_dropped + st.Rx_ring_full
	}
	return s
}

// kernelStatsOf returns the kernel's XDP_STATISTICS of port (as read at
// Close once closed).
func (q *Queue) kernelStatsOf(port int) (unix.XDPStatistics, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if port < 0 || port >= len(q.ports) {
		return unix.XDPStatistics{}, fmt.Errorf("afxdp: stats: no port %d (have %d)", port, len(q.ports))
	}
	if q.closed.Load() {
		return q.final[port], nil
	}
	st, err := q.ports[port].kernelStats()
	if err != nil {
		return st, fmt.Errorf("afxdp: XDP_STATISTICS on %s: %w", q.ports[port].name, err)
	}
	return st, nil
}

// Close closes the sockets and unmaps the rings and UMEMs. It must not
// run concurrently with Read, Write or Send (stop the worker first), and
// frames handed out by Read must not be touched afterwards. Closing twice
// is a no-op; Stats keeps working (with the kernel's counters as read at
// Close).
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed.Swap(true) {
		return nil
	}
	var errs []error
	for i, p := range q.ports {
		if st, err := p.kernelStats(); err == nil {
			q.final[i] = st
		}
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
