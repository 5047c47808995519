package listing

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/vsd/vsd/api"
)

const (
	connTitle       = "IPVS connection entries\n"
	connHeader      = "pro expire state       source             virtual            destination\n"
	connHeaderPE    = "pro expire state       source             virtual            destination        pe name          pe_data\n"
	connAddrWidth   = 18
	connStateWidth  = 11
	connExpireWidth = 6
)

// WriteConns writes ipvsadm -L -c [-n]: the title "IPVS connection
// entries", the header, then one line per entry in the order given:
// protocol (3), expiry as MM:SS (6; minutes not capped at 59), state (11),
// client, virtual and destination addr:port (18, the last unpadded), all
// left-justified. With o.View == ViewPersistentConn the header gains the
// "pe name" and "pe_data" columns, and entries carrying persistence-engine
// data print them (ipvsadm pads the destination to 16 and the PE name to
// 18 there, against 18 and 16 in the header — kept).
//
// An entry whose protocol, state or PE fields hold a space or control
// character is an error naming it, and nothing is written.
func WriteConns(w io.Writer, conns []api.Conn, o Options) error {
	if err := checkConns(conns); err != nil {
		return err
	}
	pe := o.View == ViewPersistentConn
	b := []byte(connTitle)
	if pe {
		b = append(b, connHeaderPE...)
	} else {
		b = append(b, connHeader...)
	}
	p := printer{o: o, names: o.resolver()}
	for i := range conns {
		c := &conns[i]
		// ipvsadm names ports only for the protocols it knows; an "IP"
		// template's ports stay numeric.
		proto := api.Protocol(c.Protocol)
		b = appendLeft(b, c.Protocol, 3)
		b = append(b, ' ')
		b = appendLeft(b, expireText(c.Expires), connExpireWidth)
		b = append(b, ' ')
		b = appendLeft(b, c.State, connStateWidth)
		b = append(b, ' ')
		start := len(b)
		b = p.appendAddrPort(b, c.Client.Addr(), c.Client.Port(), proto)
		b = padTo(b, start, connAddrWidth)
		b = append(b, ' ')
		start = len(b)
		b = p.appendAddrPort(b, c.Virtual.Addr(), c.Virtual.Port(), proto)
		b = padTo(b, start, connAddrWidth)
		b = append(b, ' ')
		start = len(b)
		b = p.appendAddrPort(b, c.Dest.Addr(), c.Dest.Port(), proto)
		// ipvsadm re-reads the proc line and uses the long form only when
		// it holds both a PE name and PE data (11 fields).
		if pe && c.PEName != "" && c.PEData != "" {
			b = padTo(b, start, 16)
			b = append(b, ' ')
			b = appendLeft(b, c.PEName, 18)
			b = append(b, ' ')
			b = append(b, c.PEData...)
		}
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// expireText is "%02d:%02d" of minutes and seconds; minutes are not capped
// (3600 s → "60:00").
func expireText(secs uint32) string {
	var b []byte
	m, s := secs/60, secs%60
	if m < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, uint64(m), 10)
	b = append(b, ':')
	if s < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, uint64(s), 10)
	return string(b)
}

// WriteTimeouts writes ipvsadm -L --timeout:
// "Timeout (tcp tcpfin udp): 900 120 300". The values are printed with %d
// as ipvsadm does.
func WriteTimeouts(w io.Writer, t api.Timeouts) error {
	b := []byte("Timeout (tcp tcpfin udp): ")
	b = strconv.AppendInt(b, int64(int32(t.TCP)), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(int32(t.TCPFin)), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(int32(t.UDP)), 10)
	b = append(b, '\n')
	_, err := w.Write(b)
	return err
}

// WriteDaemons writes ipvsadm -L --daemon: one line per sync daemon,
// master first, "master sync daemon (mcast=eth1, syncid=7, maxlen=1472,
// group=224.0.0.81, port=8848, ttl=1)"; maxlen, group, port and ttl only
// when set. No daemons print nothing. A role other than master or backup,
// or an interface name with a space or control character, is an error
// naming it, and nothing is written.
func WriteDaemons(w io.Writer, ds []api.SyncDaemon) error {
	var master, backup []byte
	for i := range ds {
		d := &ds[i]
		if badName(d.Interface) {
			return fmt.Errorf("listing: sync daemon %d: interface name %q has a space or control character", i+1, d.Interface)
		}
		switch d.Role {
		case "master":
			master = appendDaemon(master, d)
		case "backup":
			backup = appendDaemon(backup, d)
		default:
			return fmt.Errorf("listing: sync daemon %d: unknown role %q (want master or backup)", i+1, d.Role)
		}
	}
	b := append(master, backup...)
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}

func appendDaemon(b []byte, d *api.SyncDaemon) []byte {
	b = append(b, d.Role...)
	b = append(b, " sync daemon (mcast="...)
	b = append(b, d.Interface...)
	b = append(b, ", syncid="...)
	b = strconv.AppendUint(b, uint64(d.SyncID), 10)
	if d.MaxLen != 0 {
		b = append(b, ", maxlen="...)
		b = strconv.AppendUint(b, uint64(d.MaxLen), 10)
	}
	if d.Group.IsValid() {
		b = append(b, ", group="...)
		b = appendIP(b, d.Group)
	}
	if d.Port != 0 {
		b = append(b, ", port="...)
		b = strconv.AppendUint(b, uint64(d.Port), 10)
	}
	if d.TTL != 0 {
		b = append(b, ", ttl="...)
		b = strconv.AppendUint(b, uint64(d.TTL), 10)
	}
	return append(b, ")\n"...)
}

// appendProcAddr appends an address as the kernel's proc files do: IPv4
// as 8 upper-case hex digits of the host-order value, IPv6 as %pI6 (8
// groups of 4 lower-case hex digits). An invalid address prints as zero.
func appendProcAddr(b []byte, a netip.Addr) []byte {
	if !a.Is6() {
		return appendHex0(b, uint64(words(a)[0]), 8)
	}
	s := a.As16()
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		v := uint16(s[i])<<8 | uint16(s[i+1])
		const digits = "0123456789abcdef"
		b = append(b, digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15])
	}
	return b
}
