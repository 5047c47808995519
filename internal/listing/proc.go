package listing

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vsd/vsd/api"
)

// Names of the /proc/net files WriteProc writes.
const (
	ProcServices     = "ip_vs"
	ProcConns        = "ip_vs_conn"
	ProcConnsSync    = "ip_vs_conn_sync"
	ProcStats        = "ip_vs_stats"
	ProcStatsPerCPU  = "ip_vs_stats_percpu"
	procConnHeader   = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n"
	procSyncHeader   = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n"
	procServiceTitle = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
)

// ProcNames lists the /proc/net files WriteProc knows, in a fixed order.
func ProcNames() []string {
	return []string{ProcServices, ProcConns, ProcConnsSync, ProcStats, ProcStatsPerCPU}
}

// WriteProc writes the text the kernel shows in /proc/net/<name>
// (interfaces.md §3): ip_vs from t's services, ip_vs_conn and
// ip_vs_conn_sync from conns, ip_vs_stats and ip_vs_stats_percpu from t's
// totals and per-worker counters (the worker index stands for the CPU
// number). A nil t is an empty table. An unknown name is an error naming
// it and the known ones; a table or entry the listings refuse (see
// WriteTable, WriteConns) is an error too, and nothing is written.
//
// ip_vs lists the services the way the kernel walks them, not sorted: the
// protocol services first, then the firewall-mark services (the kernel's
// two hash tables), each in t's order; real servers in list order.
func WriteProc(w io.Writer, name string, t *api.Table, conns []api.Conn) error {
	if t == nil {
		t = &api.Table{}
	}
	var b []byte
	switch name {
	case ProcServices:
		if err := checkTable(t); err != nil {
			return err
		}
		b = appendProcServices(b, t)
	case ProcConns, ProcConnsSync:
		if err := checkConns(conns); err != nil {
			return err
		}
		b = appendProcConns(b, conns, name == ProcConnsSync)
	case ProcStats:
		b = appendProcStats(b, t)
	case ProcStatsPerCPU:
		b = appendProcStatsPerCPU(b, t)
	default:
		return fmt.Errorf("listing: unknown proc file %q (known: %s)", name, strings.Join(ProcNames(), ", "))
	}
	_, err := w.Write(b)
	return err
}

func appendProcServices(b []byte, t *api.Table) []byte {
	size := t.TableSize
	if size == 0 {
		size = DefaultTableSize
	}
	b = append(b, versionPrefix...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ")\n"...)
	b = append(b, procServiceTitle...)
	for _, fw := range [2]bool{false, true} {
		for i := range t.Services {
			if s := &t.Services[i]; s.IsFwMark() == fw {
				b = appendProcService(b, s)
			}
		}
	}
	return b
}

// appendProcService appends one service of /proc/net/ip_vs and its real
// servers, after ip_vs_info_seq_show: "%s  %08X:%04X %s %s " (IPv4, the
// last %s "ops " or empty), "%s  [%pI6]:%04X %s " (IPv6: no ops marker),
// "FWM  %08X %s %s" (fwmark), then "persistent %d %08X\n" or "\n".
func appendProcService(b []byte, s *api.Service) []byte {
	ops := ""
	if s.OnePacket {
		ops = "ops "
	}
	switch {
	case s.IsFwMark():
		b = append(b, "FWM  "...)
		b = appendHex0(b, uint64(s.FwMark), 8)
		b = append(b, ' ')
		b = append(b, schedName(s)...)
		b = append(b, ' ')
		b = append(b, ops...)
	case s.Addr.Is6():
		b = append(b, s.Protocol...)
		b = append(b, "  ["...)
		b = appendProcAddr(b, s.Addr)
		b = append(b, "]:"...)
		b = appendHex0(b, uint64(s.Port), 4)
		b = append(b, ' ')
		b = append(b, schedName(s)...)
		b = append(b, ' ')
	default:
		b = append(b, s.Protocol...)
		b = append(b, "  "...)
		b = appendProcAddr(b, s.Addr)
		b = append(b, ':')
		b = appendHex0(b, uint64(s.Port), 4)
		b = append(b, ' ')
		b = append(b, schedName(s)...)
		b = append(b, ' ')
		b = append(b, ops...)
		b = append(b, ' ')
	}
	if s.Persistent {
		b = append(b, "persistent "...)
		b = strconv.AppendInt(b, int64(int32(s.Timeout)), 10)
		b = append(b, ' ')
		// The netmask field: the mask for IPv4, the prefix length for
		// IPv6 (0 = host mask in the API).
		var m uint64
		if s.Is6() {
			m = 128
			if s.Netmask != 0 {
				m = uint64(s.Netmask)
			}
		} else {
			m = uint64(ipv4Mask(s.Netmask))
		}
		b = appendHex0(b, m, 8)
	}
	b = append(b, '\n')
	for i := range s.Dests {
		d := &s.Dests[i]
		b = append(b, "  -> "...)
		if d.Addr.Is6() {
			b = append(b, '[')
			b = appendProcAddr(b, d.Addr)
			b = append(b, ']')
		} else {
			b = appendProcAddr(b, d.Addr)
		}
		b = append(b, ':')
		b = appendHex0(b, uint64(d.Port), 4)
		b = append(b, "      "...)
		b = appendLeft(b, methodName(d.Method), 7)
		b = append(b, ' ')
		// The kernel prints weight and counters with %d.
		b = appendIntLeft(b, int64(d.Weight), 6)
		b = append(b, ' ')
		b = appendIntLeft(b, int64(d.ActiveConns), 10)
		b = append(b, ' ')
		b = appendIntLeft(b, int64(d.InactConns), 10)
		b = append(b, '\n')
	}
	return b
}

// appendProcConns appends /proc/net/ip_vs_conn (sync false) or
// ip_vs_conn_sync (sync true): "%-3s %s %04X %s %04X %s %04X %-11s" then
// " %7u" and " <pe name> <pe data>" when the entry has a PE name, or
// " %-6s %7u" with the origin (LOCAL, SYNC).
func appendProcConns(b []byte, conns []api.Conn, sync bool) []byte {
	if sync {
		b = append(b, procSyncHeader...)
	} else {
		b = append(b, procConnHeader...)
	}
	for i := range conns {
		c := &conns[i]
		b = appendLeft(b, c.Protocol, 3)
		b = append(b, ' ')
		b = appendProcAddr(b, c.Client.Addr())
		b = append(b, ' ')
		b = appendHex0(b, uint64(c.Client.Port()), 4)
		b = append(b, ' ')
		b = appendProcAddr(b, c.Virtual.Addr())
		b = append(b, ' ')
		b = appendHex0(b, uint64(c.Virtual.Port()), 4)
		b = append(b, ' ')
		b = appendProcAddr(b, c.Dest.Addr())
		b = append(b, ' ')
		b = appendHex0(b, uint64(c.Dest.Port()), 4)
		b = append(b, ' ')
		b = appendLeft(b, c.State, 11)
		b = append(b, ' ')
		if sync {
			origin := "LOCAL"
			if c.Synced {
				origin = "SYNC"
			}
			b = appendLeft(b, origin, 6)
			b = append(b, ' ')
			b = appendUintRight(b, uint64(c.Expires), 7)
		} else {
			b = appendUintRight(b, uint64(c.Expires), 7)
			if c.PEName != "" {
				b = append(b, ' ')
				b = append(b, c.PEName...)
				b = append(b, ' ')
				b = append(b, c.PEData...)
			}
		}
		b = append(b, '\n')
	}
	return b
}

const (
	procStatsTitle = "   Total Incoming Outgoing         Incoming         Outgoing\n" +
		"   Conns  Packets  Packets            Bytes            Bytes\n"
	procRatesTitle       = " Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n"
	procPerCPUStatsTitle = "       Total Incoming Outgoing         Incoming         Outgoing\n" +
		"CPU    Conns  Packets  Packets            Bytes            Bytes\n"
	procPerCPURatesTitle = "     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n"
)

// appendHexStats appends "%8LX %8LX %8LX %16LX %16LX".
func appendHexStats(b []byte, s api.Stats) []byte {
	b = appendHexRight(b, s.Conns, 8)
	b = append(b, ' ')
	b = appendHexRight(b, s.InPkts, 8)
	b = append(b, ' ')
	b = appendHexRight(b, s.OutPkts, 8)
	b = append(b, ' ')
	b = appendHexRight(b, s.InBytes, 16)
	b = append(b, ' ')
	return appendHexRight(b, s.OutBytes, 16)
}

func ratesAsStats(r api.Rates) api.Stats {
	return api.Stats{Conns: r.CPS, InPkts: r.InPPS, OutPkts: r.OutPPS, InBytes: r.InBPS, OutBytes: r.OutBPS}
}

func appendProcStats(b []byte, t *api.Table) []byte {
	b = append(b, procStatsTitle...)
	b = appendHexStats(b, t.Stats)
	b = append(b, "\n\n"...)
	b = append(b, procRatesTitle...)
	b = appendHexStats(b, ratesAsStats(t.Rates))
	return append(b, '\n')
}

func appendProcStatsPerCPU(b []byte, t *api.Table) []byte {
	b = append(b, procPerCPUStatsTitle...)
	for i, s := range t.PerWorker {
		b = appendHexRight(b, uint64(i), 3)
		b = append(b, ' ')
		b = appendHexStats(b, s)
		b = append(b, '\n')
	}
	b = append(b, "  ~ "...)
	b = appendHexStats(b, t.Stats)
	b = append(b, "\n\n"...)
	b = append(b, procPerCPURatesTitle...)
	b = append(b, "    "...)
	b = appendHexStats(b, ratesAsStats(t.Rates))
	return append(b, '\n')
}
