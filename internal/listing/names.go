package listing

import "github.com/vsd/vsd/internal/packet"

// portKey names a port of one transport protocol.
type portKey struct {
	proto packet.Proto
	port  uint16
}

// wellKnownPorts is the first name getservbyport(3) returns for common
// ports on Debian 12 (netbase 6.4 /etc/services), which is what ipvsadm -L
// prints there. Names are per protocol: 80/udp has no entry, so it stays
// "80". netbase lists no SCTP ports, so SCTP ports are always numeric.
var wellKnownPorts = map[portKey]string{
	{packet.ProtoTCP, 20}:   "ftp-data",
	{packet.ProtoTCP, 21}:   "ftp",
	{packet.ProtoUDP, 21}:   "fsp",
	{packet.ProtoTCP, 22}:   "ssh",
	{packet.ProtoTCP, 23}:   "telnet",
	{packet.ProtoTCP, 25}:   "smtp",
	{packet.ProtoTCP, 53}:   "domain",
	{packet.ProtoUDP, 53}:   "domain",
	{packet.ProtoUDP, 67}:   "bootps",
	{packet.ProtoUDP, 68}:   "bootpc",
	{packet.ProtoUDP, 69}:   "tftp",
	{packet.ProtoTCP, 80}:   "http",
	{packet.ProtoTCP, 88}:   "kerberos",
	{packet.ProtoUDP, 88}:   "kerberos",
	{packet.ProtoTCP, 110}:  "pop3",
	{packet.ProtoTCP, 119}:  "nntp",
	{packet.ProtoUDP, 123}:  "ntp",
	{packet.ProtoTCP, 143}:  "imap2",
	{packet.ProtoTCP, 161}:  "snmp",
	{packet.ProtoUDP, 161}:  "snmp",
	{packet.ProtoTCP, 162}:  "snmp-trap",
	{packet.ProtoUDP, 162}:  "snmp-trap",
	{packet.ProtoTCP, 389}:  "ldap",
	{packet.ProtoUDP, 389}:  "ldap",
	{packet.ProtoTCP, 443}:  "https",
	{packet.ProtoUDP, 443}:  "https",
	{packet.ProtoTCP, 465}:  "submissions",
	{packet.ProtoTCP, 514}:  "shell",
	{packet.ProtoUDP, 514}:  "syslog",
	{packet.ProtoTCP, 587}:  "submission",
	{packet.ProtoTCP, 636}:  "ldaps",
	{packet.ProtoUDP, 636}:  "ldaps",
	{packet.ProtoTCP, 853}:  "domain-s",
	{packet.ProtoUDP, 853}:  "domain-s",
	{packet.ProtoTCP, 993}:  "imaps",
	{packet.ProtoTCP, 995}:  "pop3s",
	{packet.ProtoTCP, 1812}: "radius",
	{packet.ProtoUDP, 1812}: "radius",
	{packet.ProtoTCP, 1813}: "radius-acct",
	{packet.ProtoUDP, 1813}: "radius-acct",
	{packet.ProtoTCP, 3306}: "mysql",
	{packet.ProtoTCP, 5060}: "sip",
	{packet.ProtoUDP, 5060}: "sip",
	{packet.ProtoTCP, 5061}: "sip-tls",
	{packet.ProtoUDP, 5061}: "sip-tls",
	{packet.ProtoTCP, 5432}: "postgresql",
	{packet.ProtoTCP, 6379}: "redis",
	{packet.ProtoTCP, 8080}: "http-alt",
}

// portName returns the service name of a port, or "" when it has none.
func portName(proto packet.Proto, port uint16) string {
	return wellKnownPorts[portKey{proto, port}]
}
