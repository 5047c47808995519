package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/vsd/vsd/internal/link"
)

// Layout of a TPACKET_V3 RX block (linux/if_packet.h): struct
// tpacket_block_desc {version, offset_to_priv, tpacket_hdr_v1 {block_status,
// num_pkts, offset_to_first_pkt, blk_len, seq_num, ts_first, ts_last}},
// then packets, each a struct tpacket3_hdr followed (at tp_mac) by the
// frame. All fields are in host byte order.
const (
	bdStatus  = 8
	bdNumPkts = 12
	bdFirst   = 16
	bdHdrLen  = 48

	h3Next     = 0
	h3Snaplen  = 12
	h3Len      = 16
	h3Status   = 20
	h3Mac      = 24
	h3VlanTCI  = 32
	h3VlanTPID = 36
	h3Size     = 48

	tpStatusKernel        = 0
	tpStatusUser          = 1
	tpStatusVlanValid     = 0x10
	tpStatusVlanTpidValid = 0x40

	ethHdrLen = 14
	vlanLen   = 4
	macsLen   = 12 // destination + source MAC, where a VLAN tag goes after
	tpid8021Q = 0x8100
)

var ne = binary.NativeEndian

// rxRing is the user side of one TPACKET_V3 RX ring. The kernel hands
// blocks over in ring order by setting TP_STATUS_USER in block_status; we
// read block cur, and give it back by storing TP_STATUS_KERNEL. A block may
// be consumed over several Reads (open, left, off remember where).
// Owned by the Queue's goroutine; the counters are published by the Queue.
type rxRing struct {
	mem       []byte // blocks*blockSize bytes: the mmap'd ring (or test memory)
	blockSize int
	blocks    int

	cur  int  // block being read, or the next one the kernel will hand over
	open bool // block cur is ours and partly consumed
	left int  // packets of block cur not yet read
	off  int  // offset in block cur of the next packet header

	// counters (plain: only the owner writes them)
	blocksDone uint64 // blocks given back to the kernel
	truncated  uint64 // frames skipped because the kernel captured less than the frame (tp_snaplen < tp_len)
	oversize   uint64 // frames skipped because they do not fit a buffer after the headroom
	csumFixed  uint64 // CHECKSUM_PARTIAL frames whose TCP/UDP checksum Read completed
	csumLeft   uint64 // CHECKSUM_PARTIAL frames handed out unfinished (not TCP/UDP over IPv4/IPv6 we can parse)
	malformed  uint64 // blocks or headers with impossible offsets (kernel bug or corrupted memory); block skipped
}

func (r *rxRing) status(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[b*r.blockSize+bdStatus]))
}

// ready reports whether the ring has a block for us (partly read or new).
func (r *rxRing) ready() bool {
	return r.open || atomic.LoadUint32(r.status(r.cur))&tpStatusUser != 0
}

// release gives block cur back to the kernel and moves to the next one.
func (r *rxRing) release() {
	atomic.StoreUint32(r.status(r.cur), tpStatusKernel)
	r.open = false
	r.blocksDone++
	r.cur++
	if r.cur == r.blocks {
		r.cur = 0
	}
}

// drain copies frames out of the ring into frames[i] (using bufs[i] as
// the buffer, the frame at link.Headroom) until frames is full or no block
// is ready, giving every fully read block back at once. It returns the
// number of frames filled.
func (r *rxRing) drain(frames []link.Frame, bufs [][]byte, port uint16) int {
	n := 0
	for n < len(frames) {
		if !r.open {
			if atomic.LoadUint32(r.status(r.cur))&tpStatusUser == 0 {
				break
			}
			blk := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
			r.left = int(ne.Uint32(blk[bdNumPkts:]))
			r.off = int(ne.Uint32(blk[bdFirst:]))
			r.open = true
		}
		blk := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
		for r.left > 0 && n < len(frames) {
			if r.off < bdHdrLen || r.off > len(blk)-h3Size {
				r.malformed++
				r.left = 0
				break
			}
			h := blk[r.off:]
			next := int(ne.Uint32(h[h3Next:]))
			snap := int(ne.Uint32(h[h3Snaplen:]))
			plen := int(ne.Uint32(h[h3Len:]))
			st := ne.Uint32(h[h3Status:])
			mac := int(ne.Uint16(h[h3Mac:]))
			r.left--
			if r.left > 0 {
				if next <= 0 {
					r.malformed++
					r.left = 0
				}
				r.off += next
			}
			if mac < h3Size || snap > len(h)-mac {
				r.malformed++
				r.left = 0
				break
			}
			if snap < plen {
				r.truncated++
				continue
			}
			data := h[mac : mac+snap]
			buf := bufs[n]
			vlan := st&tpStatusVlanValid != 0 && snap >= macsLen
			need := snap
			if vlan {
				need += vlanLen
			}
			if need > len(buf)-link.Headroom {
				r.oversize++
				continue
			}
			out := buf[link.Headroom : link.Headroom+need]
			if vlan {
				tpid := uint16(tpid8021Q)
				if st&tpStatusVlanTpidValid != 0 {
					tpid = ne.Uint16(h[h3VlanTPID:])
				}
				copy(out, data[:macsLen])
				binary.BigEndian.PutUint16(out[macsLen:], tpid)
				binary.BigEndian.PutUint16(out[macsLen+2:], uint16(ne.Uint32(h[h3VlanTCI:])))
				copy(out[macsLen+vlanLen:], data[macsLen:])
			} else {
				copy(out, data)
			}
			if st&tpStatusCsumNotReady != 0 {
				if completeChecksum(out) {
					r.csumFixed++
				} else {
					r.csumLeft++
				}
			}
			f := &frames[n]
			f.Buf = buf
			f.Off = link.Headroom
			f.Len = need
			f.Port = port
			f.Action = link.Drop
			n++
		}
		if r.left == 0 {
			r.release()
		}
	}
	return n
}
