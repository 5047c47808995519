package api

import (
	"fmt"
	"net/netip"
)

// DefaultSocket is where `vsd run` listens and vsadm connects unless the
// VSD_SOCKET environment variable (or the daemon's control.socket setting)
// says otherwise.
const DefaultSocket = "/run/vsd/vsd.sock"

// Protocol of a virtual service, as ipvsadm names it.
type Protocol string

// Protocols. A firewall-mark service has no protocol.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Method is a real server's forwarding method, named as ipvsadm's Forward
// column names it.
type Method string

// Forwarding methods. Local is what the kernel reports for a direct-routing
// server whose address is the director's own; it cannot be asked for.
const (
	Masq   Method = "Masq"   // NAT (-m)
	Route  Method = "Route"  // direct routing (-g)
	Tunnel Method = "Tunnel" // IP-in-IP or GUE (-i)
	Local  Method = "Local"
)

// Tunnel types and checksum modes of a Tunnel real server (--tun-type,
// --tun-nocsum / --tun-csum / --tun-remcsum).
const (
	TunIPIP = "ipip"
	TunGUE  = "gue"
	TunGRE  = "gre"

	CsumNone   = "nocsum"
	CsumOn     = "csum"
	CsumRemote = "remcsum"
)

// Scheduler flags (-b), the kernel's IP_VS_SVC_F_SCHED* bits. sh and mh
// call the first two sh-fallback/sh-port and mh-fallback/mh-port.
const (
	SchedFlag1 uint32 = 0x0008
	SchedFlag2 uint32 = 0x0010
	SchedFlag3 uint32 = 0x0020
)

// Stats are 64-bit traffic counters since the last zeroing. Bytes are IP
// packet lengths.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// Rates are per-second rates from the kernel's estimator: 2 s samples
// smoothed with an EWMA of weight 1/4.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inpps"`
	OutPPS uint64 `json:"outpps"`
	InBPS  uint64 `json:"inbps"`
	OutBPS uint64 `json:"outbps"`
}

// ServiceKey names a virtual service: a protocol, VIP and port, or a
// firewall mark and address family.
type ServiceKey struct {
	Protocol Protocol   `json:"protocol,omitempty"` // empty for a firewall-mark service
	Addr     netip.Addr `json:"addr,omitzero"`      // VIP; invalid for a firewall-mark service
	Port     uint16     `json:"port,omitempty"`
	FwMark   uint32     `json:"fwmark,omitempty"`
	IPv6     bool       `json:"ipv6,omitempty"` // family of a firewall-mark service
}

// IsFwMark reports whether k names a firewall-mark service.
func (k ServiceKey) IsFwMark() bool { return k.FwMark != 0 }

// Is6 reports whether the service is IPv6.
func (k ServiceKey) Is6() bool {
	if k.IsFwMark() {
		return k.IPv6
	}
	return k.Addr.Is6()
}

// String formats the key as ipvsadm -L -n labels it ("TCP 10.0.0.1:80",
// "FWM 1 IPv6").
func (k ServiceKey) String() string {
	if k.IsFwMark() {
		if k.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FwMark)
		}
		return fmt.Sprintf("FWM %d", k.FwMark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Addr, k.Port))
}

// Service is a virtual service: its settings and, when read back, its real
// servers and counters.
type Service struct {
	ServiceKey
	Scheduler  string `json:"scheduler"`             // "" means wlc
	SchedFlags uint32 `json:"sched_flags,omitempty"` // SchedFlag1|2|3
	Persistent bool   `json:"persistent,omitempty"`
	Timeout    uint32 `json:"timeout,omitempty"` // persistence timeout, seconds
	// Netmask is the persistence granularity as a prefix length; 0 means
	// a host mask (/32 or /128).
	Netmask   int    `json:"netmask,omitempty"`
	PE        string `json:"pe,omitempty"` // persistence engine (vsd has none; always "")
	OnePacket bool   `json:"ops,omitempty"`
	// vsd's own settings (no ipvsadm words; an edit keeps them): the
	// per-client packet rate limit and the stateless-until-ACK SYN mode.
	SourceRate uint32 `json:"source_rate,omitempty"`
	ConnRate   uint32 `json:"conn_rate,omitempty"` // packets/s per connection (client address and port); 0 = none
	SynProxy   bool   `json:"syn_proxy,omitempty"`

	// Read back only.
	Dests []Dest `json:"dests,omitempty"` // in the service's list order
	Stats Stats  `json:"stats"`
	Rates Rates  `json:"rates"`
}

// DestKey names a real server of a service.
type DestKey struct {
	Addr netip.Addr `json:"addr"`
	Port uint16     `json:"port"`
}

// Dest is a real server (destination) of a service.
type Dest struct {
	DestKey
	Method     Method `json:"method"`
	Weight     int32  `json:"weight"`
	UThreshold uint32 `json:"u_threshold,omitempty"`
	LThreshold uint32 `json:"l_threshold,omitempty"`
	TunType    string `json:"tun_type,omitempty"` // Tunnel only: ipip (default), gue, gre
	TunPort    uint16 `json:"tun_port,omitempty"` // gue: UDP port
	TunCsum    string `json:"tun_csum,omitempty"` // gue/gre: nocsum (default), csum, remcsum

	// Read back only.
	ActiveConns  int32 `json:"active_conns"`
	InactConns   int32 `json:"inact_conns"`
	PersistConns int32 `json:"persist_conns"`
	Stats        Stats `json:"stats"`
	Rates        Rates `json:"rates"`
}

// Table is the whole service table as the daemon holds it.
type Table struct {
	// TableSize is the number of buckets of the connection table, the
	// "size=" of ipvsadm's version line.
	TableSize int `json:"table_size"`
	// Services in the daemon's list order (the order they were added);
	// listings sort them unless asked not to.
	Services []Service `json:"services"`
	// Stats and Rates are the director's totals (/proc/net/ip_vs_stats).
	Stats Stats `json:"stats"`
	Rates Rates `json:"rates"`
	// PerWorker are the totals of each packet worker
	// (/proc/net/ip_vs_stats_percpu).
	PerWorker []Stats `json:"per_worker,omitempty"`
}

// Find returns the service with key k, or nil.
func (t *Table) Find(k ServiceKey) *Service {
	for i := range t.Services {
		if SameService(t.Services[i].ServiceKey, k) {
			return &t.Services[i]
		}
	}
	return nil
}

// SameService reports whether a and b name the same service.
func SameService(a, b ServiceKey) bool {
	if a.IsFwMark() || b.IsFwMark() {
		return a.FwMark == b.FwMark && a.IPv6 == b.IPv6
	}
	return a.Protocol == b.Protocol && a.Addr == b.Addr && a.Port == b.Port
}

// Conn is one entry of the connection table (a connection or a
// persistence template), in the terms of /proc/net/ip_vs_conn.
type Conn struct {
	// Protocol as the proc file names it: TCP, UDP, SCTP, or IP for the
	// template of a firewall-mark service.
	Protocol string         `json:"protocol"`
	Client   netip.AddrPort `json:"client"`
	// Virtual is the VIP and port; for a firewall-mark template the mark
	// as an address (mark 1 → 0.0.0.1) and port 0.
	Virtual netip.AddrPort `json:"virtual"`
	Dest    netip.AddrPort `json:"dest"`
	State   string         `json:"state"`
	Expires uint32         `json:"expires"` // seconds until it expires
	PEName  string         `json:"pe_name,omitempty"`
	PEData  string         `json:"pe_data,omitempty"`
	Synced  bool           `json:"synced,omitempty"` // learned from a sync master
}

// Timeouts are the three timeouts ipvsadm --set changes, in seconds.
type Timeouts struct {
	TCP    uint32 `json:"tcp"`     // TCP ESTABLISHED
	TCPFin uint32 `json:"tcp_fin"` // TCP FIN_WAIT
	UDP    uint32 `json:"udp"`
}

// SyncDaemon is the setting of a connection-sync daemon
// (--start-daemon and its options).
type SyncDaemon struct {
	Role      string     `json:"role"` // master or backup
	Interface string     `json:"interface"`
	SyncID    uint8      `json:"syncid"`
	MaxLen    uint16     `json:"maxlen,omitempty"`
	Group     netip.Addr `json:"group,omitzero"`
	Port      uint16     `json:"port,omitempty"`
	TTL       uint8      `json:"ttl,omitempty"`
}

// OpKind names an operation.
type OpKind string

// Operations, one per changing ipvsadm command.
const (
	AddService    OpKind = "add-service"    // -A: Service
	EditService   OpKind = "edit-service"   // -E: Service (every setting replaced)
	DeleteService OpKind = "delete-service" // -D: Service (key)
	Clear         OpKind = "clear"          // -C
	AddDest       OpKind = "add-server"     // -a: Service (key), Dest
	EditDest      OpKind = "edit-server"    // -e: Service (key), Dest (every setting replaced)
	DeleteDest    OpKind = "delete-server"  // -d: Service (key), Dest (key)
	Zero          OpKind = "zero"           // -Z: Service (key), or nil for all
	SetTimeouts   OpKind = "set"            // --set: Timeouts (0 = unchanged)
	StartDaemon   OpKind = "start-daemon"   // --start-daemon: Daemon
	StopDaemon    OpKind = "stop-daemon"    // --stop-daemon: Daemon (role)
	SetTunable    OpKind = "set-tunable"    // vsadm --sysctl NAME=VALUE: Tunable
)

// Tunable is one of the director's tunables by its IPVS sysctl name
// (drop_entry, secure_tcp, amemthresh, sloppy_tcp, ...; per-state
// timeouts as timeout_tcp_syn_recv, timeout_udp, timeout_sctp_init in
// seconds). Booleans are 0 or 1.
type Tunable struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// Op is one change. Which fields it uses depends on Kind.
type Op struct {
	Kind     OpKind      `json:"op"`
	Service  *Service    `json:"service,omitempty"`
	Dest     *Dest       `json:"dest,omitempty"`
	Timeouts *Timeouts   `json:"timeouts,omitempty"`
	Daemon   *SyncDaemon `json:"daemon,omitempty"`
	Tunable  *Tunable    `json:"tunable,omitempty"`
}

// OpError is the refusal of one operation of a batch; nothing of the batch
// was applied.
type OpError struct {
	// Index is the position of the refused operation in the batch.
	Index int `json:"index"`
	// Message is the text ipvsadm prints for the matching kernel error.
	Message string `json:"message"`
	// Detail says which service, server or value was refused.
	Detail string `json:"detail,omitempty"`
}

func (e *OpError) Error() string {
	if e.Detail != "" && e.Detail != e.Message {
		return fmt.Sprintf("operation %d: %s (%s)", e.Index+1, e.Message, e.Detail)
	}
	return fmt.Sprintf("operation %d: %s", e.Index+1, e.Message)
}

// Messages of OpError, the texts of ipvsadm 1.31's libipvs for the kernel's
// errors.
const (
	MsgServiceExists = "Service already exists"
	MsgNoService     = "No such service"
	MsgServiceNotDef = "Service not defined"
	MsgDestExists    = "Destination already exists"
	MsgNoDest        = "No such destination"
	MsgSchedNotFound = "Scheduler or persistence engine not found"
	MsgDaemonRuns    = "Daemon has already run"
	MsgNoDaemon      = "No daemon is running"
	MsgInvalid       = "Invalid operation.  Possibly wrong module version, address not unicast, ..."
	MsgPermission    = "Permission denied (you must be root)"
	MsgRange         = "Numerical result out of range"
)

// Status is the daemon's own report (GET /v1/status).
type Status struct {
	Config      string            `json:"config"`
	Datapath    string            `json:"datapath"`
	Uptime      string            `json:"uptime"`
	Services    int               `json:"services"`
	Connections int64             `json:"connections"`
	Frames      uint64            `json:"frames"`
	Tx          uint64            `json:"tx"`
	Pass        uint64            `json:"pass"`
	Drop        uint64            `json:"drop"`
	Drops       map[string]uint64 `json:"drops,omitempty"`  // dropped frames by reason
	Events      map[string]uint64 `json:"events,omitempty"` // counted decisions by kind
	Ports       []PortStatus      `json:"ports,omitempty"`
	Link        *LinkStatus       `json:"link,omitempty"`
	Defense     DefenseStatus     `json:"defense"`
}

// DefenseStatus are the flood defenses as the last once-a-second update
// left them.
type DefenseStatus struct {
	DropEntry      int    `json:"drop_entry"` // levels 0..3 (1 ↔ 2 move by themselves)
	DropPacket     int    `json:"drop_packet"`
	SecureTCP      int    `json:"secure_tcp"`
	AmemThresh     int    `json:"amemthresh"`      // pages
	AvailablePages int64  `json:"available_pages"` // the connection table budget's headroom
	NoMem          bool   `json:"nomem"`           // available below amemthresh
	DropRate       int    `json:"drop_rate"`       // drop_packet: 1 of this many new connections, 0 none
	SecureTables   bool   `json:"secure_tables"`   // the secure_tcp state tables are in use
	EntriesDropped uint64 `json:"entries_dropped"` // by drop_entry passes, since start
}

// LinkStatus are the datapath's own counters, summed over its queues.
type LinkStatus struct {
	RxDropped uint64 `json:"rx_dropped"` // frames the kernel dropped: a ring was full
	TxDropped uint64 `json:"tx_dropped"` // Tx frames that found no ring slot
	PassLost  uint64 `json:"pass_lost"`  // Pass verdicts AF_XDP could not hand back to the kernel
	Kicks     uint64 `json:"kicks"`      // TX wake-up syscalls
	Polls     uint64 `json:"polls"`      // poll syscalls
	FillEmpty uint64 `json:"fill_empty"` // AF_XDP fill ring found empty before a poll
}

// PortStatus are one port's link counters, summed over its queues.
type PortStatus struct {
	Name     string `json:"name"`
	RxFrames uint64 `json:"rx_frames"`
	TxFrames uint64 `json:"tx_frames"`
}
