package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/link"
)

var _ link.Queue = (*Queue)(nil)

// Queue is one worker's AF_PACKET I/O over all its ports: it implements
// link.Queue. Read, Write, Send and Close belong to one goroutine (the
// worker); Stats and DriverStats may be called from any goroutine.
type Queue struct {
	ports []port
	pfds  []unix.PollFd // one per port: the RX sockets, POLLIN
	bufs  [][]byte      // Batch worker-owned frame buffers of BufSize bytes
	batch int
	start int           // port drained first by the next Read (rotates for fairness)
	ts    unix.Timespec // ppoll timeout, kept here so Read does not allocate
	// closed is written by Close under mu and read without it by the
	// worker (which is the goroutine calling Close) and under mu by Stats.
	closed bool

	c counters

	mu     sync.Mutex // orders Stats' getsockopt against Close; never taken by Read/Write
	kdrops uint64     // tp_drops summed over ports (the kernel resets its counter on every read); under mu
	freeze uint64     // tp_freeze_q_cnt summed; under mu
}

// port is one interface: its two sockets and rings.
type port struct {
	name    string
	ifindex int
	maxLen  int // longest frame the kernel accepts for sending: MTU + 14 (+4 with a VLAN tag)
	rxfd    int // -1 when not open
	txfd    int
	rxmem   []byte // mmap'd RX ring
	txmem   []byte // mmap'd TX ring
	rx      rxRing
	tx      txRing
	pending int  // frames put in the TX ring since the last kick
	retried bool // a full ring got its one extra kick in this batch
}

// counters are published once per batch with atomic adds so Stats can
// read them from another goroutine while the worker runs.
type counters struct {
	rxFrames, txFrames, txDropped, kicks, kickErrors, polls, txRingFull atomic.Uint64
	perPortRx, perPortTx                                                [link.MaxPorts]atomic.Uint64
	// totals of each port's rxRing counters, stored by publishRing
	rxBlocks, rxTruncated, rxOversize, rxMalformed, rxCsumFixed, rxCsumLeft [link.MaxPorts]atomic.Uint64
}

// DriverStats are the Queue's counters that link.Stats has no field for.
type DriverStats struct {
	RxBlocks    uint64 // RX ring blocks given back to the kernel
	RxTruncated uint64 // frames skipped: captured shorter than they were (never with the default sizes)
	RxOversize  uint64 // frames skipped: longer than BufSize - link.Headroom
	RxMalformed uint64 // RX blocks abandoned because a header pointed outside the block (should stay 0)
	RxCsumFixed uint64 // frames sent by a local socket over a veth (CHECKSUM_PARTIAL) whose TCP/UDP checksum Read completed
	RxCsumLeft  uint64 // such frames Read could not complete (other protocols, IPv6 extension headers): checksum left bad
	RxFreezes   uint64 // times the kernel found every RX block in user hands (tp_freeze_q_cnt)
	TxRingFull  uint64 // Tx frames dropped because the port's TX ring had no free frame (part of link.Stats.TxDropped)
	KickErrors  uint64 // sendto kicks that failed (interface down, no buffers); the frames stay queued
}

// Open opens the sockets and rings for every interface of cfg, in the
// current network namespace (a namespace the calling thread was switched
// into stays the sockets' namespace afterwards).
func Open(cfg Config) (*Queue, error) {
	pageSize := os.Getpagesize()
	cfg, err := cfg.withDefaults(pageSize)
	if err != nil {
		return nil, err
	}
	q := &Queue{batch: cfg.Batch}
	q.ports = make([]port, len(cfg.Ifaces))
	for i := range q.ports {
		q.ports[i].rxfd, q.ports[i].txfd = -1, -1
	}
	for i, name := range cfg.Ifaces {
		p := &q.ports[i]
		p.name = name
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			q.Close()
			return nil, fmt.Errorf("afpacket: interface %q (port %d): %w", name, i, err)
		}
		p.ifindex = ifi.Index
		mtu := ifi.MTU
		if mtu < 68 || mtu > 65535 {
			q.Close()
			return nil, fmt.Errorf("afpacket: interface %q has MTU %d, outside 68..65535", name, mtu)
		}
		if need := link.Headroom + mtu + ethHdrLen + vlanLen; cfg.BufSize < need {
			q.Close()
			return nil, fmt.Errorf("afpacket: Config.BufSize %d is too small for interface %q (MTU %d): need at least %d",
				cfg.BufSize, name, mtu, need)
		}
		p.maxLen = mtu + ethHdrLen
		if err := p.openRX(cfg, uint16(i)); err != nil {
			q.Close()
			return nil, err
		}
		if err := p.openTX(cfg, mtu); err != nil {
			q.Close()
			return nil, err
		}
		q.pfds = append(q.pfds, unix.PollFd{Fd: int32(p.rxfd), Events: unix.POLLIN})
	}
	// One allocation for all buffers; each buffer's capacity ends at its
	// length so growing a frame can never reach the next one.
	all := make([]byte, cfg.Batch*cfg.BufSize)
	q.bufs = make([][]byte, cfg.Batch)
	for i := range q.bufs {
		q.bufs[i] = all[i*cfg.BufSize : (i+1)*cfg.BufSize : (i+1)*cfg.BufSize]
	}
	return q, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRX opens the TPACKET_V3 RX socket of port index idx. The socket is
// created with protocol 0 so it receives nothing until bind attaches it to
// the one interface.
func (p *port) openRX(cfg Config, idx uint16) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("afpacket: %s: rx socket: %w", p.name, err)
	}
	p.rxfd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("afpacket: %s: rx PACKET_VERSION TPACKET_V3: %w", p.name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("afpacket: %s: rx PACKET_IGNORE_OUTGOING: %w", p.name, err)
	}
	const v3FrameSize = 2048 // only used by the kernel to check the request; V3 packs frames of any size
	tov := (cfg.BlockTimeout + time.Millisecond - 1) / time.Millisecond
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.Blocks),
		Frame_size:     v3FrameSize,
		Frame_nr:       uint32(cfg.BlockSize / v3FrameSize * cfg.Blocks),
		Retire_blk_tov: uint32(tov),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("afpacket: %s: PACKET_RX_RING %d blocks of %d bytes: %w", p.name, cfg.Blocks, cfg.BlockSize, err)
	}
	size := cfg.BlockSize * cfg.Blocks
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("afpacket: %s: mmap rx ring (%d bytes): %w", p.name, size, err)
	}
	p.rxmem = mem
	p.rx = rxRing{mem: mem, blockSize: cfg.BlockSize, blocks: cfg.Blocks}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("afpacket: %s: bind rx socket: %w", p.name, err)
	}
	if cfg.FanoutGroup != 0 {
		group := cfg.FanoutGroup + idx
		arg := int(group) | unix.PACKET_FANOUT_HASH<<16
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
			return fmt.Errorf("afpacket: %s: PACKET_FANOUT hash group %d: %w", p.name, group, err)
		}
	}
	return nil
}

// openTX opens the TPACKET_V2 TX socket. Protocol 0 and a bind with
// protocol 0 keep it from receiving anything.
func (p *port) openTX(cfg Config, mtu int) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("afpacket: %s: tx socket: %w", p.name, err)
	}
	p.txfd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("afpacket: %s: tx PACKET_VERSION TPACKET_V2: %w", p.name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fmt.Errorf("afpacket: %s: PACKET_QDISC_BYPASS: %w", p.name, err)
	}
	// PACKET_LOSS: a frame the kernel refuses is skipped (slot freed)
	// instead of stopping the ring at TP_STATUS_WRONG_FORMAT.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fmt.Errorf("afpacket: %s: PACKET_LOSS: %w", p.name, err)
	}
	frameSize := txFrameSize(mtu)
	blockSize := max(frameSize, 1<<16)
	perBlock := blockSize / frameSize
	blocks := (cfg.TxFrames + perBlock - 1) / perBlock
	req := unix.TpacketReq{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blocks),
		Frame_size: uint32(frameSize),
		Frame_nr:   uint32(blocks * perBlock),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fmt.Errorf("afpacket: %s: PACKET_TX_RING %d frames of %d bytes: %w", p.name, req.Frame_nr, frameSize, err)
	}
	size := blockSize * blocks
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("afpacket: %s: mmap tx ring (%d bytes): %w", p.name, size, err)
	}
	p.txmem = mem
	p.tx = txRing{mem: mem, frameSize: frameSize, frames: blocks * perBlock}
	sa := unix.SockaddrLinklayer{Protocol: 0, Ifindex: p.ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("afpacket: %s: bind tx socket: %w", p.name, err)
	}
	return nil
}

// Read waits up to timeout for frames on any port and copies up to
// min(len(frames), Batch) of them into the Queue's buffers. It only waits
// (one ppoll over all ports) when no ring block is ready; timeout <= 0
// never waits. A ppoll interrupted by a signal returns 0 frames.
func (q *Queue) Read(frames []link.Frame, timeout time.Duration) (int, error) {
	if q.closed {
		return 0, ErrClosed
	}
	limit := min(len(frames), q.batch)
	if limit == 0 {
		return 0, nil
	}
	frames = frames[:limit]
	n := q.drain(frames)
	if n == 0 && timeout > 0 {
		q.ts = unix.NsecToTimespec(int64(timeout))
		_, err := unix.Ppoll(q.pfds, &q.ts, nil)
		q.c.polls.Add(1)
		if err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("afpacket: ppoll: %w", err)
		}
		if err == nil {
			if err := q.checkPollErrors(); err != nil {
				return 0, err
			}
		}
		n = q.drain(frames)
	}
	return n, nil
}

// checkPollErrors turns a POLLERR on a port's socket (the interface went
// down, say) into an error, clearing the socket error so the next ppoll
// waits again.
func (q *Queue) checkPollErrors() error {
	for i := range q.pfds {
		if q.pfds[i].Revents&(unix.POLLERR|unix.POLLNVAL) == 0 {
			continue
		}
		p := &q.ports[i]
		if q.pfds[i].Revents&unix.POLLNVAL != 0 {
			return fmt.Errorf("afpacket: %s: rx socket is not open", p.name)
		}
		soerr, err := unix.GetsockoptInt(p.rxfd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return fmt.Errorf("afpacket: %s: SO_ERROR: %w", p.name, err)
		}
		if soerr != 0 {
			return fmt.Errorf("afpacket: %s: rx socket: %w", p.name, unix.Errno(soerr))
		}
	}
	return nil
}

// drain fills frames from the ports' rings, starting at a rotating port,
// and publishes the counters.
func (q *Queue) drain(frames []link.Frame) int {
	n := 0
	np := len(q.ports)
	for i := 0; i < np && n < len(frames); i++ {
		pi := q.start + i
		if pi >= np {
			pi -= np
		}
		r := &q.ports[pi].rx
		before := r.blocksDone + r.truncated + r.oversize + r.malformed + r.csumFixed + r.csumLeft
		got := r.drain(frames[n:], q.bufs[n:len(frames)], uint16(pi))
		if got > 0 {
			q.c.perPortRx[pi].Add(uint64(got))
			n += got
		}
		if r.blocksDone+r.truncated+r.oversize+r.malformed+r.csumFixed+r.csumLeft != before {
			q.publishRing(pi)
		}
	}
	if q.start++; q.start == np {
		q.start = 0
	}
	if n > 0 {
		q.c.rxFrames.Add(uint64(n))
	}
	return n
}

// publishRing stores a ring's rarely changing counters where DriverStats
// can read them.
func (q *Queue) publishRing(pi int) {
	r := &q.ports[pi].rx
	q.c.rxBlocks[pi].Store(r.blocksDone)
	q.c.rxTruncated[pi].Store(r.truncated)
	q.c.rxOversize[pi].Store(r.oversize)
	q.c.rxMalformed[pi].Store(r.malformed)
	q.c.rxCsumFixed[pi].Store(r.csumFixed)
	q.c.rxCsumLeft[pi].Store(r.csumLeft)
}

// Write sends every Tx frame of the batch out of its port's TX ring and
// kicks each port that got frames once. Drop and Pass frames need nothing
// (the kernel saw every frame already; their buffers are the Queue's).
// A Tx frame that cannot be queued (bad port or length, ring full even
// after a kick) is counted in TxDropped.
func (q *Queue) Write(frames []link.Frame) error {
	if q.closed {
		return ErrClosed
	}
	var sent, dropped uint64
	for i := range frames {
		f := &frames[i]
		if f.Action != link.Tx {
			continue
		}
		if q.queue(int(f.Port), f.Buf, f.Off, f.Len) {
			sent++
		} else {
			dropped++
		}
	}
	q.kickAll()
	if sent > 0 {
		q.c.txFrames.Add(sent)
	}
	if dropped > 0 {
		q.c.txDropped.Add(dropped)
	}
	return nil
}

// queue puts one frame into port's TX ring, kicking once mid-batch if the
// ring is full while frames of this batch are waiting.
func (q *Queue) queue(port int, buf []byte, off, n int) bool {
	if port < 0 || port >= len(q.ports) || off < 0 || n < ethHdrLen || off > len(buf)-n {
		return false
	}
	p := &q.ports[port]
	data := buf[off : off+n]
	if n > p.maxLen && (n > p.maxLen+vlanLen || !isVLAN(data)) {
		return false
	}
	if !p.tx.put(data) {
		// Full: kick once per batch (frames of this batch, or of a batch
		// whose kick failed, may be waiting), then give up on the frame.
		if p.retried {
			q.c.txRingFull.Add(1)
			return false
		}
		p.retried = true
		q.kick(p)
		if !p.tx.put(data) {
			q.c.txRingFull.Add(1)
			return false
		}
	}
	p.pending++
	q.c.perPortTx[port].Add(1)
	return true
}

func isVLAN(frame []byte) bool {
	t := uint16(frame[12])<<8 | uint16(frame[13])
	return t == 0x8100 || t == 0x88a8
}

func (q *Queue) kickAll() {
	for i := range q.ports {
		p := &q.ports[i]
		if p.pending > 0 {
			q.kick(p)
		}
		p.retried = false
	}
}

// kick asks the kernel to send port's queued frames, without waiting.
// A failed kick is counted; the frames stay in the ring for the next one.
func (q *Queue) kick(p *port) {
	err := unix.Sendto(p.txfd, nil, unix.MSG_DONTWAIT, nil)
	q.c.kicks.Add(1)
	if err != nil {
		q.c.kickErrors.Add(1)
	}
	p.pending = 0
}

// Send sends one frame out of port through its TX ring (the bytes are
// copied) and kicks the port.
func (q *Queue) Send(port int, frame []byte) error {
	if q.closed {
		return ErrClosed
	}
	if port < 0 || port >= len(q.ports) {
		q.c.txDropped.Add(1)
		return fmt.Errorf("afpacket: send: port %d out of range (queue has %d ports)", port, len(q.ports))
	}
	p := &q.ports[port]
	if len(frame) < ethHdrLen || len(frame) > p.maxLen+vlanLen || (len(frame) > p.maxLen && !isVLAN(frame)) {
		q.c.txDropped.Add(1)
		return fmt.Errorf("afpacket: send on %s: frame of %d bytes, want %d..%d", p.name, len(frame), ethHdrLen, p.maxLen)
	}
	ok := q.queue(port, frame, 0, len(frame))
	q.kickAll()
	if !ok {
		q.c.txDropped.Add(1)
		return fmt.Errorf("afpacket: send on %s: %w", p.name, ErrRingFull)
	}
	q.c.txFrames.Add(1)
	return nil
}

// Stats returns the queue's counters. RxDropped comes from the kernel
// (PACKET_STATISTICS tp_drops, summed over the RX sockets), read here.
func (q *Queue) Stats() link.Stats {
	q.mu.Lock()
	q.readKernelStatsLocked()
	s := link.Stats{RxDropped: q.kdrops}
	q.mu.Unlock()
	s.RxFrames = q.c.rxFrames.Load()
	s.TxFrames = q.c.txFrames.Load()
	s.TxDropped = q.c.txDropped.Load()
	s.Kicks = q.c.kicks.Load()
	s.Polls = q.c.polls.Load()
	for i := range q.ports {
		s.PerPortRx[i] = q.c.perPortRx[i].Load()
		s.PerPortTx[i] = q.c.perPortTx[i].Load()
	}
	return s
}

// readKernelStatsLocked adds the kernel's RX ring counters (which it
// resets on every read) to the totals. Needs q.mu.
func (q *Queue) readKernelStatsLocked() {
	if q.closed {
		return
	}
	for i := range q.ports {
		st, err := unix.GetsockoptTpacketStatsV3(q.ports[i].rxfd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			continue
		}
		q.kdrops += uint64(st.Drops)
		q.freeze += uint64(st.Freeze_q_cnt)
	}
}

// DriverStats returns the AF_PACKET specific counters.
func (q *Queue) DriverStats() DriverStats {
	q.mu.Lock()
	q.readKernelStatsLocked()
	d := DriverStats{RxFreezes: q.freeze}
	q.mu.Unlock()
	for i := range q.ports {
		d.RxBlocks += q.c.rxBlocks[i].Load()
		d.RxTruncated += q.c.rxTruncated[i].Load()
		d.RxOversize += q.c.rxOversize[i].Load()
		d.RxMalformed += q.c.rxMalformed[i].Load()
		d.RxCsumFixed += q.c.rxCsumFixed[i].Load()
		d.RxCsumLeft += q.c.rxCsumLeft[i].Load()
	}
	d.TxRingFull = q.c.txRingFull.Load()
	d.KickErrors = q.c.kickErrors.Load()
	return d
}

// Close unmaps the rings and closes the sockets. Frames still waiting in
// a TX ring are lost. Calling it again does nothing.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.readKernelStatsLocked() // keep the last drop counts for Stats after Close
	q.closed = true
	var errs []error
	for i := range q.ports {
		p := &q.ports[i]
		for _, m := range []*[]byte{&p.rxmem, &p.txmem} {
			if *m != nil {
				if err := unix.Munmap(*m); err != nil {
					errs = append(errs, fmt.Errorf("afpacket: %s: munmap: %w", p.name, err))
				}
				*m = nil
			}
		}
		p.rx.mem, p.tx.mem = nil, nil
		for _, fd := range []*int{&p.rxfd, &p.txfd} {
			if *fd >= 0 {
				if err := unix.Close(*fd); err != nil {
					errs = append(errs, fmt.Errorf("afpacket: %s: close: %w", p.name, err))
				}
				*fd = -1
			}
		}
	}
	return errors.Join(errs...)
}
