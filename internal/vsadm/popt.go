package vsadm

// A reproduction of the parts of popt 1.19 that ipvsadm 1.31 uses: short
// options bundled in one word ("-Lnc"), an attached value ("-t1.2.3.4:80",
// "-s=rr" drops the '='), long options with "--opt value" or "--opt=value"
// and no abbreviations, the optional value of -p (taken from the next word
// unless that word starts with '-'), "--" ending the options and every
// other word collected as a leftover argument.

// tag identifies an option, as the "val" of ipvsadm's popt table.
type tag int

const (
	tagNone tag = iota
	// commands
	tagAdd
	tagEdit
	tagDel
	tagFlush
	tagList
	tagZero
	tagAddDest
	tagEditDest
	tagDelDest
	tagSet
	tagHelp
	tagVersion
	tagRestore
	tagSave
	tagStartDaemon
	tagStopDaemon
	// options
	tagTCP
	tagUDP
	tagSCTP
	tagFwMark
	tagScheduler
	tagPersistent
	tagNetmask
	tagRealServer
	tagMasq
	tagIPIP
	tagGate
	tagWeight
	tagUThreshold
	tagLThreshold
	tagNumeric
	tagConnection
	tagMcastInterface
	tagSyncID
	tagTimeout
	tagDaemon
	tagStats
	tagRate
	tagThresholds
	tagPersistentConn
	tagNoSort
	tagSort
	tagExact
	tagIPv6
	tagOps
	tagPE
	tagSchedFlags
	tagSyncMaxLen
	tagMcastGroup
	tagMcastPort
	tagMcastTTL
	tagTunType
	tagTunPort
	tagTunNoCsum
	tagTunCsum
	tagTunRemCsum
	tagTunInfo
)

type argKind int

const (
	argNone     argKind = iota
	argString           // POPT_ARG_STRING
	argOptional         // POPT_ARG_STRING|POPT_ARGFLAG_OPTIONAL
)

type optDef struct {
	long  string
	short byte
	arg   argKind
	tag   tag
}

// optTable is ipvsadm 1.31's popt table, in its order (popt takes the
// first match, so "--list" is -L).
var optTable = []optDef{
	{"add-service", 'A', argNone, tagAdd},
	{"edit-service", 'E', argNone, tagEdit},
	{"delete-service", 'D', argNone, tagDel},
	{"clear", 'C', argNone, tagFlush},
	{"list", 'L', argNone, tagList},
	{"list", 'l', argNone, tagList},
	{"zero", 'Z', argNone, tagZero},
	{"add-server", 'a', argNone, tagAddDest},
	{"edit-server", 'e', argNone, tagEditDest},
	{"delete-server", 'd', argNone, tagDelDest},
	{"set", 0, argNone, tagSet},
	{"help", 'h', argNone, tagHelp},
	{"version", 'v', argNone, tagVersion},
	{"restore", 'R', argNone, tagRestore},
	{"save", 'S', argNone, tagSave},
	{"start-daemon", 0, argString, tagStartDaemon},
	{"stop-daemon", 0, argString, tagStopDaemon},
	{"tcp-service", 't', argString, tagTCP},
	{"udp-service", 'u', argString, tagUDP},
	{"sctp-service", 0, argString, tagSCTP},
	{"fwmark-service", 'f', argString, tagFwMark},
	{"scheduler", 's', argString, tagScheduler},
	{"persistent", 'p', argOptional, tagPersistent},
	{"netmask", 'M', argString, tagNetmask},
	{"real-server", 'r', argString, tagRealServer},
	{"masquerading", 'm', argNone, tagMasq},
	{"ipip", 'i', argNone, tagIPIP},
	{"gatewaying", 'g', argNone, tagGate},
	{"weight", 'w', argString, tagWeight},
	{"u-threshold", 'x', argString, tagUThreshold},
	{"l-threshold", 'y', argString, tagLThreshold},
	{"numeric", 'n', argNone, tagNumeric},
	{"connection", 'c', argNone, tagConnection},
	{"mcast-interface", 0, argString, tagMcastInterface},
	{"syncid", 0, argString, tagSyncID},
	{"timeout", 0, argNone, tagTimeout},
	{"daemon", 0, argNone, tagDaemon},
	{"stats", 0, argNone, tagStats},
	{"rate", 0, argNone, tagRate},
	{"thresholds", 0, argNone, tagThresholds},
	{"persistent-conn", 0, argNone, tagPersistentConn},
	{"nosort", 0, argNone, tagNoSort},
	{"sort", 0, argNone, tagSort},
	{"exact", 'X', argNone, tagExact},
	{"ipv6", '6', argNone, tagIPv6},
	{"ops", 'o', argNone, tagOps},
	{"pe", 0, argString, tagPE},
	{"sched-flags", 'b', argString, tagSchedFlags},
	{"sync-maxlen", 0, argString, tagSyncMaxLen},
	{"mcast-group", 0, argString, tagMcastGroup},
	{"mcast-port", 0, argString, tagMcastPort},
	{"mcast-ttl", 0, argString, tagMcastTTL},
	{"tun-type", 0, argString, tagTunType},
	{"tun-port", 0, argString, tagTunPort},
	{"tun-nocsum", 0, argNone, tagTunNoCsum},
	{"tun-csum", 0, argNone, tagTunCsum},
	{"tun-remcsum", 0, argNone, tagTunRemCsum},
	{"tun-info", 0, argNone, tagTunInfo},
}

// popt errors (poptGetNextOpt's negative results).
type poptErr int

const (
	poptOK     poptErr = 0
	poptEnd    poptErr = -1
	poptNoArg  poptErr = -10
	poptBadOpt poptErr = -11
)

func (e poptErr) String() string {
	switch e {
	case poptNoArg:
		return "missing argument"
	case poptBadOpt:
		return "unknown option"
	}
	return "unknown error"
}

// popt walks one argument vector. argv[0] is the program name and is
// skipped, as popt does.
type popt struct {
	argv        []string
	next        int
	nextChar    string // rest of a bundle of short options
	hasNextChar bool
	restLeft    bool // "--" seen: everything else is a leftover
	leftovers   []string
}

func newPopt(argv []string) *popt { return &popt{argv: argv, next: 1} }

// nextOpt returns the next option and its value (hasArg false when an
// optional value is absent), poptEnd at the end, or an error.
func (p *popt) nextOpt() (opt *optDef, arg string, hasArg bool, err poptErr) {
	for {
		if !p.hasNextChar && p.next >= len(p.argv) {
			return nil, "", false, poptEnd
		}
		var longArg string
		hasLongArg := false
		opt = nil
		if !p.hasNextChar {
			word := p.argv[p.next]
			p.next++
			if p.restLeft || len(word) == 0 || word[0] != '-' || word == "-" {
				p.leftovers = append(p.leftovers, word)
				continue
			}
			if word == "--" {
				p.restLeft = true
				continue
			}
			name := word[1:]
			oneDash := true
			if name[0] == '-' {
				name = name[1:]
				oneDash = false
			}
			if i := indexByte(name, '='); i >= 0 {
				longArg, hasLongArg = name[i+1:], true
				name = name[:i]
			}
			if !oneDash {
				// ipvsadm has no POPT_ARGFLAG_ONEDASH option, so only
				// "--name" can match a long name.
				if name != "" {
					opt = findLong(name)
				}
				if opt == nil {
					return nil, "", false, poptBadOpt
				}
			} else {
				p.nextChar, p.hasNextChar = word[1:], true
				hasLongArg = false
			}
		}
		if p.hasNextChar {
			s := p.nextChar
			p.nextChar, p.hasNextChar = "", false
			if s == "" {
				return nil, "", false, poptBadOpt
			}
			opt = findShort(s[0])
			if opt == nil {
				return nil, "", false, poptBadOpt
			}
			s = s[1:]
			if s != "" {
				if s[0] == '=' {
					s = s[1:]
				}
				p.nextChar, p.hasNextChar = s, true
			}
		}
		if opt.arg == argNone {
			return opt, "", false, poptOK
		}
		switch {
		case hasLongArg:
			return opt, longArg, true, poptOK
		case p.hasNextChar:
			arg = p.nextChar
			p.nextChar, p.hasNextChar = "", false
			return opt, arg, true, poptOK
		case p.next >= len(p.argv):
			if opt.arg != argOptional {
				return nil, "", false, poptNoArg
			}
			return opt, "", false, poptOK
		case opt.arg == argOptional && len(p.argv[p.next]) > 0 && p.argv[p.next][0] == '-':
			return opt, "", false, poptOK
		}
		arg = p.argv[p.next]
		p.next++
		return opt, arg, true, poptOK
	}
}

// badOption is poptBadOption: the last word popt looked at.
func (p *popt) badOption() string {
	if p.next < 1 || p.next > len(p.argv) {
		return ""
	}
	return p.argv[p.next-1]
}

// getArg is poptGetArg: the next leftover word.
func (p *popt) getArg() (string, bool) {
	if len(p.leftovers) == 0 {
		return "", false
	}
	s := p.leftovers[0]
	p.leftovers = p.leftovers[1:]
	return s, true
}

func findLong(name string) *optDef {
	for i := range optTable {
		if optTable[i].long == name {
			return &optTable[i]
		}
	}
	return nil
}

func findShort(c byte) *optDef {
	if c == 0 {
		return nil
	}
	for i := range optTable {
		if optTable[i].short == c {
			return &optTable[i]
		}
	}
	return nil
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
