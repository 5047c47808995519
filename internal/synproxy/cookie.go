package synproxy

import (
	"encoding/binary"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/packet"
	"github.com/vsd/vsd/internal/siphash"
)

// Cookie layout (the server ISN the director gives the client):
//
//	bits 31..27  time counter (mod 32), one step per counterShift ns (≈ 68.7 s)
//	bits 26..24  index into mssTable
//	bits 23..0   keyed hash of the client and virtual address and port,
//	             the client's ISN and the full time counter
//
// A cookie is accepted in the period it was made and the next one, so it
// lives 69 to 137 s: longer than any SYN+ACK retransmission, short enough
// that a captured cookie soon stops working.
const (
	counterShift = 36
	timeBits     = 5
	mssBits      = 3
	hashBits     = 32 - timeBits - mssBits
	hashMask     = 1<<hashBits - 1
)

// mssTable are the MSS values a cookie can carry; a client's MSS is
// rounded down to one of them.
var mssTable = [1 << mssBits]uint16{536, 1220, 1280, 1360, 1400, 1440, 1452, 1460}

// Cookies makes and checks SYN cookies with one secret key. It is safe for
// concurrent use (it is never written after New).
type Cookies struct {
	key siphash.Key
}

// New returns cookies keyed with key, which must be secret and random
// (the director draws it from crypto/rand at start).
func New(key siphash.Key) *Cookies { return &Cookies{key: key} }

// Make returns the cookie for the SYN p (client p.Src:p.SrcPort to virtual
// p.Dst:p.DstPort) whose sequence number is isn and whose MSS option was
// mss (0 if it had none), at time now.
func (c *Cookies) Make(p *packet.Parsed, isn uint32, mss uint16, now clock.Time) uint32 {
	t := counter(now)
	i := mssIndex(mss)
	return t%(1<<timeBits)<<(32-timeBits) | uint32(i)<<hashBits | c.hash(p, isn, t)&hashMask
}

// Check tells whether cookie, acknowledged by the client's ACK p (whose
// sequence number is isn+1), is one Make gave this client for this virtual
// service recently; if so it returns the MSS the cookie carries.
func (c *Cookies) Check(p *packet.Parsed, isn, cookie uint32, now clock.Time) (mss uint16, ok bool) {
	t := counter(now)
	for age := uint32(0); age < 2; age++ {
		tc := t - age
		if tc%(1<<timeBits) != cookie>>(32-timeBits) {
			continue
		}
		if c.hash(p, isn, tc)&hashMask == cookie&hashMask {
			return MSSOf(cookie), true
		}
	}
	return 0, false
}

// MSSOf returns the MSS a cookie carries.
func MSSOf(cookie uint32) uint16 { return mssTable[cookie>>hashBits&(1<<mssBits-1)] }

func counter(now clock.Time) uint32 { return uint32(uint64(now) >> counterShift) }

// mssIndex picks the largest table MSS not above mss (536, the IPv4
// default, when the client sent none or a smaller one).
func mssIndex(mss uint16) int {
	i := 0
	for j, m := range mssTable {
		if m <= mss {
			i = j
		}
	}
	return i
}

func (c *Cookies) hash(p *packet.Parsed, isn, t uint32) uint32 {
	var b [44]byte
	copy(b[0:16], p.Src[:])
	copy(b[16:32], p.Dst[:])
	binary.LittleEndian.PutUint16(b[32:], p.SrcPort)
	binary.LittleEndian.PutUint16(b[34:], p.DstPort)
	binary.LittleEndian.PutUint32(b[36:], isn)
	binary.LittleEndian.PutUint32(b[40:], t)
	return uint32(c.key.Sum(b[:], 2, 4))
}
