package afpacket

import (
	"sync/atomic"
	"unsafe"
)

// Layout of a TPACKET_V2 TX frame: struct tpacket2_hdr {tp_status, tp_len,
// tp_snaplen, tp_mac, tp_net, ...} (32 bytes), then the frame at
// TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) = 32, where the kernel looks
// for it when PACKET_TX_HAS_OFF is not set.
const (
	h2Status  = 0
	h2Len     = 4
	txDataOff = 32

	tpStatusAvailable   = 0
	tpStatusSendRequest = 1
)

// txRing is the user side of one TPACKET_V2 TX ring. The kernel sends
// frames in ring order starting at its own head, stopping at the first
// frame that is not TP_STATUS_SEND_REQUEST, and sets each sent frame back
// to TP_STATUS_AVAILABLE when its skb is released; so we fill frames in the
// same order and a frame that is not available at next means the ring is
// full. Owned by the Queue's goroutine.
type txRing struct {
	mem       []byte // frames*frameSize bytes (frameSize divides the block size, so frames are contiguous)
	frameSize int
	frames    int
	next      int // next frame to fill
}

func (t *txRing) slot(i int) []byte { return t.mem[i*t.frameSize : (i+1)*t.frameSize] }

// put copies p into the next free frame and marks it for sending. It
// reports false when the ring is full. The caller checks that p fits
// (len(p) <= frameSize-txDataOff).
func (t *txRing) put(p []byte) bool {
	s := t.slot(t.next)
	st := (*uint32)(unsafe.Pointer(&s[h2Status]))
	if atomic.LoadUint32(st) != tpStatusAvailable {
		return false
	}
	copy(s[txDataOff:], p)
	ne.PutUint32(s[h2Len:], uint32(len(p)))
	atomic.StoreUint32(st, tpStatusSendRequest)
	t.next++
	if t.next == t.frames {
		t.next = 0
	}
	return true
}
