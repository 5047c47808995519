package director

import (
	"time"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/service"
)

// sourceLimiter enforces services' per-source packet rates (service
// Limits.SourceRate) with a token bucket per (service, client address),
// holding a second's worth of packets. It is a fixed table per worker
// (no allocation, no lock): a slot's key is checked, and a new key takes
// the slot over, so two sources that collide share nothing but may each
// find a fresh bucket (a limit is never stricter than asked, possibly
// looser under heavy collisions). A client's packets may be spread over
// several workers by the NIC's hash; each worker then allows the rate.
type sourceLimiter struct {
	slots [limiterSlots]limitSlot
}

const limiterSlots = 1 << 12

type limitSlot struct {
	key    uint64
	tokens int64 // in 1/1000 packets
	last   clock.Time
}

// allow reports whether one more packet from src to the service with
// limits l fits its rate at now.
func (s *sourceLimiter) allow(l *service.Limits, rate uint32, src *[16]byte, now clock.Time) bool {
	return s.allowKey(l.ID*0x9e3779b97f4a7c15^le64(src[0:8])*0xff51afd7ed558ccd^le64(src[8:16]), rate, now)
}

// allowConn is allow for one connection of src: its client port is part
// of the key (a worker's second table, so connections and sources never
// share a bucket).
func (s *sourceLimiter) allowConn(l *service.Limits, rate uint32, src *[16]byte, port uint16, now clock.Time) bool {
	return s.allowKey((l.ID^uint64(port)<<40)*0x9e3779b97f4a7c15^le64(src[0:8])*0xff51afd7ed558ccd^le64(src[8:16]), rate, now)
}

func (s *sourceLimiter) allowKey(k uint64, rate uint32, now clock.Time) bool {
	k |= 1 // 0 marks a free slot
	sl := &s.slots[(k^k>>29)&(limiterSlots-1)]
	burst := int64(rate) * 1000
	if sl.key != k {
		*sl = limitSlot{key: k, tokens: burst, last: now}
	} else if d := now.Sub(sl.last); d > 0 {
		sl.tokens = min(burst, sl.tokens+int64(d/time.Microsecond)*int64(rate)/1000)
		sl.last = now
	}
	if sl.tokens < 1000 {
		return false
	}
	sl.tokens -= 1000
	return true
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
