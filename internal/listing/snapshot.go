package listing

import (
	"io"

	"github.com/vsd/vsd/api"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/service"
)

// WriteSnapshot writes the plain listing of `ipvsadm -L [-n]` of an
// internal service snapshot, unsorted (services in the order they were
// added, real servers in list order), with "size=tableSize" (0 → 4096).
// It is the package's former WriteTable, kept for the callers that still
// hold a *service.Snapshot.
//
// Deprecated: build an api.Table and use WriteTable. To be removed.
func WriteSnapshot(w io.Writer, snap *service.Snapshot, numeric bool, tableSize int) error {
	t := &api.Table{TableSize: tableSize}
	if snap != nil {
		t.Services = make([]api.Service, 0, len(snap.Services))
		for _, svc := range snap.Services {
			t.Services = append(t.Services, snapshotService(svc))
		}
	}
	return WriteTable(w, t, Options{Numeric: numeric, NoSort: true})
}

// snapshotService converts the settings and counters the plain view shows.
func snapshotService(svc *service.Service) api.Service {
	k := svc.Key
	s := api.Service{
		Scheduler:  svc.SchedName,
		SchedFlags: uint32(svc.Flags) & schedFlagMask,
		Persistent: svc.Flags&service.FlagPersistent != 0,
		Timeout:    svc.Timeout,
		OnePacket:  svc.Flags&service.FlagOnePacket != 0,
	}
	if s.Scheduler == "" && svc.Sched != nil {
		s.Scheduler = svc.Sched.Name()
	}
	if k.IsFwMark() {
		s.FwMark, s.IPv6 = k.FwMark, k.Addr.Is6()
	} else {
		s.Addr, s.Port = k.Addr, k.Port
		switch k.Proto {
		case packet.ProtoTCP:
			s.Protocol = api.TCP
		case packet.ProtoUDP:
			s.Protocol = api.UDP
		case packet.ProtoSCTP:
			s.Protocol = api.SCTP
		}
	}
	// service keeps the host mask as 0 or the full length; the API as 0.
	bits := 32
	if s.Is6() {
		bits = 128
	}
	if svc.Netmask != bits {
		s.Netmask = svc.Netmask
	}
	for _, d := range svc.Dests {
		var cfg service.DestConfig
		if c := d.Config(); c != nil {
			cfg = *c
		}
		s.Dests = append(s.Dests, api.Dest{
			DestKey:      api.DestKey{Addr: d.Addr, Port: d.Port},
			Method:       api.Method(cfg.Method.String()),
			Weight:       cfg.Weight,
			UThreshold:   cfg.UThreshold,
			LThreshold:   cfg.LThreshold,
			ActiveConns:  d.Active.Load(),
			InactConns:   d.Inactive.Load(),
			PersistConns: d.Persist.Load(),
		})
	}
	return s
}
