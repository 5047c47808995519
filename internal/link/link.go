// Package link defines how frames move in and out of the director: batches
// of Ethernet frames behind one small interface, implemented by the in-memory
// sim network (tests, benchmarks, `vsd sim`) and, later, by AF_XDP and
// AF_PACKET sockets.
//
// A Frame's buffer has headroom in front of the packet so that a tunnel
// header can be prepended in place without copying.
package link

import "time"

// Headroom is the number of bytes every frame buffer keeps free in front of
// the packet for encapsulation (outer IPv6 + UDP + GUE = 52 bytes, rounded up).
const Headroom = 64

// Frame is one Ethernet frame in a batch. The packet occupies
// Buf[Off:Off+Len]; bytes before Off are headroom.
type Frame struct {
	Buf    []byte
	Off    int
	Len    int
	Port   uint16 // ingress port on Read; egress port for a Tx verdict
	Action Action // set by the director
}

// Bytes returns the packet bytes of the frame.
func (f *Frame) Bytes() []byte { return f.Buf[f.Off : f.Off+f.Len] }

// Action is what the director decided for a frame.
type Action uint8

const (
	// Drop discards the frame; the director counts the reason.
	Drop Action = iota
	// Tx sends the (possibly rewritten) frame out of Port.
	Tx
	// Pass hands the frame unchanged to the host's own stack (not ours to handle).
	Pass
)

var actionNames = [...]string{Drop: "drop", Tx: "tx", Pass: "pass"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action?"
}

// Link moves batches of frames. Read fills up to len(frames) frames and
// returns how many it filled; Write sends the frames given to it.
type Link interface {
	Read(frames []Frame) (int, error)
	Write(frames []Frame) (int, error)
}

// Queue is one worker's batch I/O over every port of the director at one
// receive-queue index: the real-interface drivers (afxdp, afpacket)
// implement it. Frames from all ports come in through Read with
// Frame.Port set to the ingress port's index (the order the ports were
// opened in, which is the order of director.Config.Ports); after the
// director has set each frame's Action, Write sends the Tx frames out of
// their (possibly different) Port and takes every buffer of the batch
// back. A Queue is used by one goroutine at a time.
//
// The cycle is strict: Read, then Write with exactly the frames Read
// filled, then Read again. Buffers handed out by Read are the driver's
// (ring memory); they stay valid until that Write returns.
type Queue interface {
	// Read waits up to timeout for frames on any port and fills up to
	// len(frames) of them (Buf, Off, Len, Port; Action is preset to
	// Drop). Every Buf has at least Headroom bytes free before Off and
	// may be grown in place up to len(Buf). It returns 0 and no error
	// when the timeout passes with nothing received.
	Read(frames []Frame, timeout time.Duration) (int, error)
	// Write finishes the batch of the last Read: each Tx frame is sent
	// out of its Port as Buf[Off:Off+Len] (one kick per port per batch);
	// Drop frames are released; Pass frames are left to the host where
	// the driver can do that (AF_PACKET: the kernel saw them already),
	// else released and counted in Stats.PassLost.
	Write(frames []Frame) error
	// Send sends one frame the caller built (a gratuitous ARP, an ARP
	// reply) out of port; the bytes are copied, so frame may be reused.
	Send(port int, frame []byte) error
	// Stats returns the queue's counters (safe to call from any goroutine).
	Stats() Stats
	// Close releases the sockets and ring memory.
	Close() error
}

// Stats are a Queue's counters, summed over its ports.
type Stats struct {
	RxFrames  uint64 // frames handed out by Read
	TxFrames  uint64 // frames submitted for sending
	RxDropped uint64 // frames the kernel dropped because a ring was full
	TxDropped uint64 // Tx frames that could not be queued (ring full, bad length, unknown port)
	PassLost  uint64 // Pass frames the driver could not give back to the host
	Kicks     uint64 // TX wake-up syscalls
	Polls     uint64 // poll/wait syscalls
	FillEmpty uint64 // times the fill ring was found empty before a poll (AF_XDP)
	PerPortRx [MaxPorts]uint64
	PerPortTx [MaxPorts]uint64
}

// MaxPorts is the largest number of ports one Queue drives.
const MaxPorts = 8
