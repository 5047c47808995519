package control

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/conntrack"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
	"github.com/vsd/vsd/internal/state"
)

// ProtocolOf names a service protocol as the API does ("" for anything
// but TCP, UDP and SCTP).
func ProtocolOf(p packet.Proto) api.Protocol {
	switch p {
	case packet.ProtoTCP:
		return api.TCP
	case packet.ProtoUDP:
		return api.UDP
	case packet.ProtoSCTP:
		return api.SCTP
	}
	return ""
}

// KeyOf is the API's name of a service key.
func KeyOf(k service.Key) api.ServiceKey {
	if k.IsFwMark() {
		return api.ServiceKey{FwMark: k.FwMark, IPv6: k.Addr.Is6()}
	}
	return api.ServiceKey{Protocol: ProtocolOf(k.Proto), Addr: k.Addr.Unmap(), Port: k.Port}
}

// MethodOf names a forwarding method as the API does.
func MethodOf(m service.Method) api.Method {
	switch m {
	case service.Masq:
		return api.Masq
	case service.Tunnel:
		return api.Tunnel
	case service.Local:
		return api.Local
	}
	return api.Route
}

func statsOf(c service.Counters) api.Stats {
	return api.Stats{Conns: c.Conns, InPkts: c.InPkts, OutPkts: c.OutPkts, InBytes: c.InBytes, OutBytes: c.OutBytes}
}

// ServiceOf is the API's view of one service, its real servers in list
// order, their counters and (with est) rates.
func ServiceOf(svc *service.Service, est *Estimator) api.Service {
	s := api.Service{
		ServiceKey: KeyOf(svc.Key),
		Scheduler:  svc.SchedName,
		SchedFlags: uint32(svc.Flags & (service.FlagSched1 | service.FlagSched2 | service.FlagSched3)),
		Persistent: svc.Persistent(),
		OnePacket:  svc.Flags&service.FlagOnePacket != 0,
		SynProxy:   svc.Flags&service.FlagSynStateless != 0,
		Dests:      make([]api.Dest, 0, len(svc.Dests)),
	}
	if s.Persistent {
		s.Timeout = svc.Timeout
	}
	if svc.Limits != nil {
		s.SourceRate = svc.Limits.SourceRate.Load()
		s.ConnRate = svc.Limits.ConnRate.Load()
	}
	if bits := hostBits(svc.V6); svc.Netmask != bits {
		s.Netmask = svc.Netmask
	}
	if svc.Stats != nil {
		s.Stats = statsOf(svc.Stats.Sum())
		if est != nil {
			s.Rates = est.Rates(svc.Stats)
		}
	}
	for _, d := range svc.Dests {
		s.Dests = append(s.Dests, destOf(d, est))
	}
	return s
}

func hostBits(v6 bool) int {
	if v6 {
		return 128
	}
	return 32
}

func destOf(d *service.Dest, est *Estimator) api.Dest {
	c := d.Config()
	ad := api.Dest{
		DestKey:      api.DestKey{Addr: d.Addr, Port: d.Port},
		Method:       MethodOf(c.Method),
		Weight:       c.Weight,
		UThreshold:   c.UThreshold,
		LThreshold:   c.LThreshold,
		ActiveConns:  d.Active.Load(),
		InactConns:   d.Inactive.Load(),
		PersistConns: d.Persist.Load(),
		Stats:        statsOf(d.Stats.Sum()),
	}
	if est != nil {
		ad.Rates = est.Rates(&d.Stats)
	}
	if c.Method == service.Tunnel {
		ad.TunType = c.TunType.String()
		if c.TunType == service.TunGUE {
			ad.TunPort = c.TunPort
		}
		if c.TunType != service.TunIPIP {
			switch {
			case c.TunFlags&service.TunFlagRemCsum != 0:
				ad.TunCsum = api.CsumRemote
			case c.TunFlags&service.TunFlagCsum != 0:
				ad.TunCsum = api.CsumOn
			default:
				ad.TunCsum = api.CsumNone
			}
		}
	}
	return ad
}

// TableOf is the API's view of the whole table: snap's services in list
// order, the engine's totals and connection-table size, and rates from est
// (nil: none).
func TableOf(snap *service.Snapshot, eng *director.Engine, est *Estimator) api.Table {
	t := api.Table{TableSize: eng.Table().Buckets(), Services: make([]api.Service, 0, len(snap.Services))}
	for _, svc := range snap.Services {
		t.Services = append(t.Services, ServiceOf(svc, est))
	}
	t.Stats = statsOf(eng.Stats().Sum())
	if est != nil {
		t.Rates = est.Rates(eng.Stats())
	}
	for i := range min(eng.Workers(), service.StatShards) {
		t.PerWorker = append(t.PerWorker, statsOf(eng.Stats().Shard(i)))
	}
	return t
}

// StatsOf lists every counter set of snap and the engine, for
// Estimator.Sample.
func StatsOf(snap *service.Snapshot, eng *director.Engine) []*service.Stats {
	out := []*service.Stats{eng.Stats()}
	for _, svc := range snap.Services {
		if svc.Stats != nil {
			out = append(out, svc.Stats)
		}
		for _, d := range svc.Dests {
			out = append(out, &d.Stats)
		}
	}
	return out
}

// ConnsOf lists every entry of the engine's connection table (templates
// included) as /proc/net/ip_vs_conn would, with expiry times relative to
// now. The walk takes one bucket lock at a time, so entries created or
// freed meanwhile may or may not appear.
func ConnsOf(eng *director.Engine, now clock.Time) []api.Conn {
	var out []api.Conn
	EachConns(eng, now, 1<<30, func(cs []api.Conn) error {
		out = append(out, cs...)
		return nil
	})
	return out
}

// EachConns walks the connection table in pieces of about `piece` buckets
// and hands each piece's entries to fn, outside every lock, so a caller can
// write a huge table out without holding it all in memory nor blocking the
// packet path on a slow reader. It stops at fn's first error.
func EachConns(eng *director.Engine, now clock.Time, piece int, fn func([]api.Conn) error) error {
	t := eng.Table()
	snap := eng.Snapshot()
	var buf []api.Conn
	for first := 0; first < t.Buckets(); first += piece {
		buf = buf[:0]
		t.RangeBuckets(first, piece, func(idx uint32, e *conntrack.Entry) bool {
			buf = append(buf, connOf(t, snap, t.ConnLocked(idx, now), now))
			return true
		})
		if len(buf) > 0 {
			if err := fn(buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func connOf(t *conntrack.Table, snap *service.Snapshot, c conntrack.Conn, now clock.Time) api.Conn {
	template := c.Flags&conntrack.FlagTemplate != 0
	proto := "IP"
	if p := ProtocolOf(c.Proto); p != "" {
		proto = string(p)
	} else if c.Proto != 0 {
		proto = "IP_" + strconv.Itoa(int(c.Proto))
	}
	ac := api.Conn{
		Protocol: proto,
		Client:   netip.AddrPortFrom(addrOf(c.V6, c.Caddr), c.Cport),
		Virtual:  netip.AddrPortFrom(addrOf(c.V6, c.Vaddr), c.Vport),
		State:    state.StateName(c.Proto, c.State, template),
	}
	if d := snap.Dest(service.DestID(c.Dest)); d != nil {
		ac.Dest = netip.AddrPortFrom(d.Addr, c.Dport)
	} else {
		ac.Dest = netip.AddrPortFrom(addrOf(c.V6, t.DestAddr(c.Dest)), c.Dport)
	}
	if left := c.Expires.Sub(now); left > 0 {
		ac.Expires = uint32(left / time.Second)
	}
	return ac
}

func addrOf(v6 bool, a [16]byte) netip.Addr {
	if v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom16(a).Unmap()
}
