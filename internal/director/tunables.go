package director

// TunableField is one tunable by its IPVS sysctl name, pointing into a
// Tunables: either an integer with its range or an on/off switch. The
// configuration file and the control API both read and set tunables
// through this one list.
type TunableField struct {
	Name     string
	Int      *int  // an integer tunable, Min..Max
	Bool     *bool // an on/off tunable
	Min, Max int64
	Level    bool   // a defense level 0..3 (the file also takes true/false for 3/0)
	Unit     string // for messages: what the number counts
}

// Fields lists t's tunables, integers first, in a fixed order.
func (t *Tunables) Fields() []TunableField {
	const levels = "(0 off, 1 automatic, 2 automatic and on now, 3 always)"
	return []TunableField{
		{Name: "drop_entry", Int: &t.Defense.DropEntry, Max: 3, Level: true, Unit: levels},
		{Name: "drop_packet", Int: &t.Defense.DropPacket, Max: 3, Level: true, Unit: levels},
		{Name: "secure_tcp", Int: &t.Defense.SecureTCP, Max: 3, Level: true, Unit: levels},
		{Name: "amemthresh", Int: &t.Defense.AmemThresh, Max: 1 << 40, Unit: "pages of 4 KiB"},
		{Name: "am_droprate", Int: &t.Defense.AmDropRate, Min: 1, Max: 1<<31 - 1},
		{Name: "conn_reuse_mode", Int: &t.ConnReuseMode, Max: 3},
		{Name: "debug_level", Int: &t.DebugLevel, Max: 12, Unit: "(0 off, 1 drops and passes, 2 also scheduling)"},
		{Name: "icmp_ratelimit", Int: &t.ICMPRatelimit, Max: 1<<31 - 1, Unit: "ICMP errors sent per second and worker (0 no limit)"},
		{Name: "expire_nodest_conn", Bool: &t.ExpireNodestConn},
		{Name: "expire_quiescent_template", Bool: &t.ExpireQuiescentTemplate},
		{Name: "sloppy_tcp", Bool: &t.SloppyTCP},
		{Name: "sloppy_sctp", Bool: &t.SloppySCTP},
		{Name: "pmtu_disc", Bool: &t.PMTUDisc},
		{Name: "no_icmp_unreachable", Bool: &t.NoICMPUnreachable},
		{Name: "overload_forward", Bool: &t.OverloadForward},
		{Name: "host_memory", Bool: &t.HostMemory},
		{Name: "no_icmp_forward", Bool: &t.NoICMPForward},
	}
}
