package packet

import "testing"

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{OK.String(), "OK"},
		{NotIP.String(), "NotIP"},
		{ErrShort.String(), "ErrShort"},
		{ErrIPVersion.String(), "ErrIPVersion"},
		{ErrIPHeader.String(), "ErrIPHeader"},
		{ErrIPLength.String(), "ErrIPLength"},
		{ErrExtHeader.String(), "ErrExtHeader"},
		{ErrL4Short.String(), "ErrL4Short"},
		{Result(200).String(), "Result(200)"},
		{ProtoTCP.String(), "TCP"},
		{ProtoUDP.String(), "UDP"},
		{ProtoSCTP.String(), "SCTP"},
		{ProtoICMP.String(), "ICMP"},
		{ProtoICMPv6.String(), "ICMPv6"},
		{ProtoIPIP.String(), "IPIP"},
		{ProtoIPv6.String(), "IPv6"},
		{ProtoGRE.String(), "GRE"},
		{ProtoHopByHop.String(), "HopByHop"},
		{ProtoIPv6Frag.String(), "IPv6Frag"},
		{ProtoESP.String(), "ESP"},
		{ProtoAH.String(), "AH"},
		{Proto(253).String(), "253"},
		{TCPFlags(0).String(), "0"},
		{(TCPSyn | TCPAck).String(), "SYN|ACK"},
		{TCPFlags(0xff).String(), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"},
		{TCPRst.String(), "RST"},
		{Flags(0).String(), "0"},
		{(FlagDF | FlagL4).String(), "DF|L4"},
		{(FlagVLAN | FlagTruncated).String(), "VLAN|Truncated"},
		{(FlagL4 | 1<<14).String(), "L4|0x4000"},
		{Flags(1 << 15).String(), "0x8000"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// Every named Result has a name.
	for r := OK; r <= ErrL4Short; r++ {
		if s := r.String(); s == "" || s[0] == 'R' {
			t.Errorf("Result %d has no name: %q", r, s)
		}
	}
}
