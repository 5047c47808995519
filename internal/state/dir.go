package state

// Dir selects which set of transition tables a packet uses. The values are
// the kernel's IP_VS_DIR_* numbers.
type Dir uint8

const (
	// Input is a client→director packet of a connection that has already
	// seen a reply through the director (NAT).
	Input Dir = iota
	// Output is a real-server→client reply that passes through the
	// director (NAT only). Seeing one clears the connection's NOOUTPUT flag
	// for good.
	Output
	// InputOnly is a client→director packet of a connection that still has
	// NOOUTPUT set: DR, TUN and LocalNode connections, which never see the
	// server's half of the conversation.
	InputOnly

	dirCount = 3
)

// PacketDir returns the table direction for a packet: reply is true for a
// packet from the real server (found by the out-hook), noOutput is the
// connection's NOOUTPUT flag before the packet. A reply always uses Output
// (the caller clears NOOUTPUT); a request uses InputOnly while NOOUTPUT is
// set and Input otherwise.
func PacketDir(reply, noOutput bool) Dir {
	switch {
	case reply:
		return Output
	case noOutput:
		return InputOnly
	default:
		return Input
	}
}

// String returns the kernel's name for the direction.
func (d Dir) String() string {
	switch d {
	case Input:
		return "INPUT"
	case Output:
		return "OUTPUT"
	case InputOnly:
		return "INPUT_ONLY"
	default:
		return "DIR?"
	}
}
