// Package link defines how frames move in and out of the director: batches
// of Ethernet frames behind one small interface, implemented by the in-memory
// sim network (tests, benchmarks, `vsd sim`) and, later, by AF_XDP and
// AF_PACKET sockets.
//
// A Frame's buffer has headroom in front of the packet so that a tunnel
// header can be prepended in place without copying.
package link

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
