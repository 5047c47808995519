package packet

import "strconv"

// String methods for the small enums. They build strings, so they are for
// logs, tests and the control side, not for per-packet code.

var resultNames = [...]string{
	OK:           "OK",
	NotIP:        "NotIP",
	ErrShort:     "ErrShort",
	ErrIPVersion: "ErrIPVersion",
	ErrIPHeader:  "ErrIPHeader",
	ErrIPLength:  "ErrIPLength",
	ErrExtHeader: "ErrExtHeader",
	ErrL4Short:   "ErrL4Short",
}

// String returns the constant's name, or "Result(n)".
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// String returns the protocol's name ("TCP", "ICMPv6", ...) or its number.
func (p Proto) String() string {
	switch p {
	case ProtoHopByHop:
		return "HopByHop"
	case ProtoICMP:
		return "ICMP"
	case ProtoIPIP:
		return "IPIP"
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoIPv6:
		return "IPv6"
	case ProtoIPv6Route:
		return "IPv6Route"
	case ProtoIPv6Frag:
		return "IPv6Frag"
	case ProtoGRE:
		return "GRE"
	case ProtoESP:
		return "ESP"
	case ProtoAH:
		return "AH"
	case ProtoICMPv6:
		return "ICMPv6"
	case ProtoIPv6NoNext:
		return "IPv6NoNext"
	case ProtoIPv6Opts:
		return "IPv6Opts"
	case ProtoSCTP:
		return "SCTP"
	}
	return strconv.Itoa(int(p))
}

var tcpFlagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String returns the set flags joined by "|" in bit order ("SYN|ACK"), or
// "0" when none is set.
func (f TCPFlags) String() string {
	if f == 0 {
		return "0"
	}
	var buf [40]byte
	b := buf[:0]
	for i, name := range tcpFlagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, name...)
	}
	return string(b)
}

var flagNames = [...]string{
	"VLAN", "IPOptions", "DF", "Fragment", "MoreFrags", "NonFirstFrag",
	"ExtHeaders", "SCTPChunk2", "L4", "Truncated",
}

// String returns the set flags joined by "|" ("DF|L4"), "0" when none is
// set; unknown bits appear as a hexadecimal remainder.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var b []byte
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, name...)
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(rest), 16)
	}
	return string(b)
}
