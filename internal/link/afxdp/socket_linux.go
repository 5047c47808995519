package afxdp

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the user-space view of one of the four rings of an AF_XDP
// socket: producer and consumer indices and flags in shared memory
// (accessed atomically), entries behind them. The indices run freely and
// are masked on access.
//
// Producer rings (fill, TX): local is our producer index, published with
// a store to *prod. Consumer rings (RX, completion): local is our consumer
// index, published with a store to *cons.
type ring struct {
	mem   []byte
	prod  *uint32
	cons  *uint32
	flags *uint32
	mask  uint32
	size  uint32
	local uint32
}

// addrRing is a fill or completion ring: entries are UMEM addresses.
type addrRing struct {
	ring
	addrs []uint64
}

// descRing is an RX or TX ring: entries are descriptors.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

// needWakeup reports whether the kernel asks for a syscall to make
// progress on this ring (XDP_RING_NEED_WAKEUP).
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

// mapRing mmaps one ring of fd at page offset pgoff.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, size, entry int) (ring, unsafe.Pointer, error) {
	n := int(off.Desc) + size*entry
	mem, err := unix.Mmap(fd, pgoff, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, nil, err
	}
	r := ring{
		mem:   mem,
		prod:  (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons:  (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags: (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:  uint32(size - 1),
		size:  uint32(size),
	}
	return r, unsafe.Pointer(&mem[off.Desc]), nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// port is one AF_XDP socket with its UMEM. Every chunk is in exactly one
// place: the free stack, the fill ring, the kernel (RX in progress, TX
// queued or in flight, completion ring), the RX ring, or the caller's
// hands between Read and Write.
type port struct {
	name string
	fd   int
	umem []byte
	base uintptr // address of umem[0]
	fill addrRing
	comp addrRing
	rx   descRing
	tx   descRing

	free    []uint64 // stack of free chunk addresses (cap = Frames)
	reserve int      // chunks the fill ring never takes, kept for TX copies and Send

	txQueued uint32 // descriptors queued on tx since the last publish
	kicked   bool   // kicked during the current Write
}

// openPort creates, registers, maps and binds the socket of one
// interface in the calling thread's network namespace.
func openPort(name string, cfg Config) (p *port, err error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("afxdp: interface %q: %w", name, err)
	}
	p = &port{name: name, fd: -1}
	defer func() {
		if err != nil {
			p.close()
			p = nil
		}
	}()
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return p, fmt.Errorf("afxdp: socket for %s: %w", name, err)
	}
	p.fd = fd

	size := cfg.Frames * cfg.FrameSize
	p.umem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return p, fmt.Errorf("afxdp: mmap %d-byte UMEM for %s: %w", size, name, err)
	}
	p.base = uintptr(unsafe.Pointer(&p.umem[0]))
	reg := unix.XDPUmemReg{
		Addr:     uint64(p.base),
		Len:      uint64(size),
		Size:     uint32(cfg.FrameSize),
		Headroom: umemHeadroom,
	}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return p, fmt.Errorf("afxdp: XDP_UMEM_REG %d x %d bytes on %s: %w", cfg.Frames, cfg.FrameSize, name, err)
	}
	for _, opt := range [...]struct {
		opt  int
		what string
	}{
		{unix.XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING"},
		{unix.XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING"},
		{unix.XDP_RX_RING, "XDP_RX_RING"},
		{unix.XDP_TX_RING, "XDP_TX_RING"},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt.opt, cfg.RingSize); err != nil {
			return p, fmt.Errorf("afxdp: %s size %d on %s: %w", opt.what, cfg.RingSize, name, err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&offLen)), 0); e != 0 {
		return p, fmt.Errorf("afxdp: XDP_MMAP_OFFSETS on %s: %w", name, e)
	}

	var d unsafe.Pointer
	if p.fill.ring, d, err = mapRing(fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.RingSize, 8); err != nil {
		return p, fmt.Errorf("afxdp: mmap fill ring of %s: %w", name, err)
	}
	p.fill.addrs = unsafe.Slice((*uint64)(d), cfg.RingSize)
	if p.comp.ring, d, err = mapRing(fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.RingSize, 8); err != nil {
		return p, fmt.Errorf("afxdp: mmap completion ring of %s: %w", name, err)
	}
	p.comp.addrs = unsafe.Slice((*uint64)(d), cfg.RingSize)
	descSize := int(unsafe.Sizeof(unix.XDPDesc{}))
	if p.rx.ring, d, err = mapRing(fd, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RingSize, descSize); err != nil {
		return p, fmt.Errorf("afxdp: mmap RX ring of %s: %w", name, err)
	}
	p.rx.descs = unsafe.Slice((*unix.XDPDesc)(d), cfg.RingSize)
	if p.tx.ring, d, err = mapRing(fd, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.RingSize, descSize); err != nil {
		return p, fmt.Errorf("afxdp: mmap TX ring of %s: %w", name, err)
	}
	p.tx.descs = unsafe.Slice((*unix.XDPDesc)(d), cfg.RingSize)
	// The rings start empty; our local indices follow the kernel's.
	p.fill.local = atomic.LoadUint32(p.fill.prod)
	p.tx.local = atomic.LoadUint32(p.tx.prod)
	p.rx.local = atomic.LoadUint32(p.rx.cons)
	p.comp.local = atomic.LoadUint32(p.comp.cons)

	// Copy mode sends at most 32 frames per kick unless raised (kernel
	// >= 6.16); the budget may not exceed the TX ring.
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, min(maxTxBudget, cfg.RingSize)); err != nil &&
		!errors.Is(err, unix.ENOPROTOOPT) {
		return p, fmt.Errorf("afxdp: XDP_MAX_TX_SKB_BUDGET %d on %s: %w", min(maxTxBudget, cfg.RingSize), name, err)
	}

	p.free = make([]uint64, 0, cfg.Frames)
	for i := cfg.Frames - 1; i >= 0; i-- {
		p.free = append(p.free, uint64(i*cfg.FrameSize))
	}
	p.reserve = cfg.Frames / 4
	p.refill() // before bind: the kernel has buffers from the first packet on

	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	mode := "copy"
	if cfg.ZeroCopy {
		flags |= unix.XDP_ZEROCOPY
		mode = "zero-copy"
	} else {
		flags |= unix.XDP_COPY
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifc.Index), QueueID: uint32(cfg.Queue)}
	if err := unix.Bind(fd, sa); err != nil {
		return p, fmt.Errorf("afxdp: bind %s queue %d (%s mode): %w", name, cfg.Queue, mode, err)
	}
	return p, nil
}

// maxTxBudget is the copy-mode TX budget per kick asked for with
// XDP_MAX_TX_SKB_BUDGET (the kernel's default is 32).
const maxTxBudget = 512

func setsockopt(fd, opt int, val unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(val), n, 0); e != 0 {
		return e
	}
	return nil
}

// kernelStats reads XDP_STATISTICS.
func (p *port) kernelStats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(p.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return st, e
	}
	return st, nil
}

// close unmaps the rings, closes the socket and unmaps the UMEM.
func (p *port) close() error {
	p.fill.unmap()
	p.comp.unmap()
	p.rx.unmap()
	p.tx.unmap()
	var err error
	if p.fd >= 0 {
		if e := unix.Close(p.fd); e != nil {
			err = fmt.Errorf("afxdp: close socket of %s: %w", p.name, e)
		}
		p.fd = -1
	}
	if p.umem != nil {
		if e := unix.Munmap(p.umem); e != nil && err == nil {
			err = fmt.Errorf("afxdp: unmap UMEM of %s: %w", p.name, e)
		}
		p.umem = nil
		p.base = 0
	}
	return err
}

// refill moves free chunks (all but the reserve) into the fill ring and
// reports whether the kernel had found the fill ring empty.
func (p *port) refill() (wasEmpty bool) {
	cons := atomic.LoadUint32(p.fill.cons)
	used := p.fill.local - cons
	wasEmpty = used == 0
	n := int(p.fill.size - used)
	if avail := len(p.free) - p.reserve; n > avail {
		n = avail
	}
	if n <= 0 {
		return wasEmpty
	}
	top := len(p.free)
	for i := range n {
		p.fill.addrs[(p.fill.local+uint32(i))&p.fill.mask] = p.free[top-1-i]
	}
	p.free = p.free[:top-n]
	p.fill.local += uint32(n)
	atomic.StoreUint32(p.fill.prod, p.fill.local)
	return wasEmpty
}

// reap takes the completed TX chunks back onto the free stack.
func (p *port) reap(chunkMask uint64) {
	prod := atomic.LoadUint32(p.comp.prod)
	n := prod - p.comp.local
	if n == 0 {
		return
	}
	for i := range n {
		p.free = append(p.free, p.comp.addrs[(p.comp.local+i)&p.comp.mask]&chunkMask)
	}
	p.comp.local = prod
	atomic.StoreUint32(p.comp.cons, prod)
}

// txSpace returns how many TX descriptors can still be queued.
func (p *port) txSpace() uint32 {
	return p.tx.size - (p.tx.local - atomic.LoadUint32(p.tx.cons))
}

// queueTx puts one descriptor on the TX ring (not yet published); the
// caller checked txSpace.
func (p *port) queueTx(addr uint64, n uint32) {
	p.tx.descs[p.tx.local&p.tx.mask] = unix.XDPDesc{Addr: addr, Len: n}
	p.tx.local++
	p.txQueued++
}

// flushTx publishes the queued TX descriptors and kicks the kernel when
// it asks for it and descriptors are pending. Transient kick errors
// (the kernel keeps the descriptors) are not errors.
func (p *port) flushTx(kicks *uint64) error {
	if p.txQueued != 0 {
		atomic.StoreUint32(p.tx.prod, p.tx.local)
		p.txQueued = 0
	}
	if atomic.LoadUint32(p.tx.cons) == p.tx.local || !p.tx.needWakeup() {
		return nil
	}
	*kicks++
	p.kicked = true
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		return nil
	}
	return &kickError{port: p.name, err: e}
}

// kickError is a TX wake-up that failed for good (device gone, ...).
type kickError struct {
	port string
	err  unix.Errno
}

func (e *kickError) Error() string {
	return "afxdp: sendto (TX kick) on " + e.port + ": " + e.err.Error()
}
func (e *kickError) Unwrap() error { return e.err }
