package state

// UDPState is the IPVS UDP connection state. UDP has a single state; every
// packet in either direction restarts its timeout.
type UDPState uint8

const (
	// UDPNormal is the only UDP state, shown as "UDP".
	UDPNormal UDPState = iota

	// UDPStateCount is the number of UDP states (IP_VS_UDP_S_LAST); it is
	// not a state.
	UDPStateCount
)

// String returns "UDP", or "ERR!" for an id out of range.
func (s UDPState) String() string {
	if s != UDPNormal {
		return nameErr
	}
	return "UDP"
}

// Active is always false: UDP connections never leave INACTIVE and count
// as InActConn only.
func (s UDPState) Active() bool { return false }
