package defense

import (
	"errors"
	"fmt"
)

// PageSize is the unit of AmemThresh and of available memory (the
// kernel's pages).
const PageSize = 4096

// Settings are the sysctls of the defenses.
type Settings struct {
	DropEntry  int // 0 off, 1 automatic (off now), 2 automatic (on now), 3 always
	DropPacket int
	SecureTCP  int
	AmemThresh int // pages of available memory below which automatic defenses start (kernel default 1024)
	AmDropRate int // drop_packet at level 3 drops 1 of this many new-connection packets (default 10)
}

// DefaultSettings are the kernel's defaults: every defense off,
// amemthresh 1024 pages, am_droprate 10.
func DefaultSettings() Settings {
	return Settings{AmemThresh: 1024, AmDropRate: 10}
}

// ErrLevel and ErrValue are wrapped by Validate's errors.
var (
	ErrLevel = errors.New("must be 0 (off), 1 (automatic), 2 (automatic, on now) or 3 (always)")
	ErrValue = errors.New("out of range")
)

// Validate checks every field and names the first bad one.
func (s Settings) Validate() error {
	for _, f := range [...]struct {
		name string
		v    int
	}{{"drop_entry", s.DropEntry}, {"drop_packet", s.DropPacket}, {"secure_tcp", s.SecureTCP}} {
		if f.v < 0 || f.v > 3 {
			return fmt.Errorf("%s %d: %w", f.name, f.v, ErrLevel)
		}
	}
	if s.AmemThresh < 0 {
		return fmt.Errorf("amemthresh %d: %w (pages, 0 or more)", s.AmemThresh, ErrValue)
	}
	if s.AmDropRate < 1 {
		return fmt.Errorf("am_droprate %d: %w (1 or more: drop 1 packet of every am_droprate)", s.AmDropRate, ErrValue)
	}
	return nil
}

// State is the outcome of the last Update: which defenses are on now.
type State struct {
	// Settings as the timer left them: an automatic level moves between
	// 1 and 2 as memory runs short and recovers, as the kernel writes
	// its sysctls.
	Settings Settings
	// NoMem: available memory was below AmemThresh.
	NoMem bool
	// DropEntry: a random drop pass runs this second.
	DropEntry bool
	// DropRate: drop one new-connection packet of every DropRate (0 =
	// drop none).
	DropRate int
	// SecureTCP: use the secure_tcp ("dos") TCP state tables.
	SecureTCP bool
}

// Update is the kernel's once-a-second update_defense_level: given the
// settings in force and the available memory in pages, it returns the new
// state, with the settings as the timer rewrote them.
func Update(s Settings, availablePages int64) State {
	thresh := int64(max(s.AmemThresh, 0))
	nomem := availablePages < thresh
	st := State{NoMem: nomem}

	// drop_entry
	switch s.DropEntry {
	case 1:
		if nomem {
			s.DropEntry, st.DropEntry = 2, true
		}
	case 2:
		if nomem {
			st.DropEntry = true
		} else {
			s.DropEntry = 1
		}
	case 3:
		st.DropEntry = true
	}

	// drop_packet: the rate grows as the headroom shrinks.
	rate := func() int {
		r := thresh / max(thresh-availablePages, 1)
		return int(max(r, 1))
	}
	switch s.DropPacket {
	case 1:
		if nomem {
			s.DropPacket, st.DropRate = 2, rate()
		}
	case 2:
		if nomem {
			st.DropRate = rate()
		} else {
			s.DropPacket = 1
		}
	case 3:
		st.DropRate = s.AmDropRate
	}

	// secure_tcp
	switch s.SecureTCP {
	case 1:
		if nomem {
			s.SecureTCP = 2
		}
	case 2:
		if !nomem {
			s.SecureTCP = 1
		}
	}
	st.SecureTCP = s.SecureTCP >= 2
	st.Settings = s
	return st
}

// Dropper applies a drop rate to new-connection packets: one of every
// rate is dropped. One per worker.
type Dropper struct {
	rate, left int
}

// SetRate changes the rate (0: drop nothing). In automatic mode the kernel
// restarts the count at every update; at level 3 it keeps counting.
func (d *Dropper) SetRate(rate int, restart bool) {
	if rate != d.rate || restart {
		d.left = rate
	}
	d.rate = rate
}

// Drop reports whether this new-connection packet is to be dropped.
func (d *Dropper) Drop() bool {
	if d.rate == 0 {
		return false
	}
	d.left--
	if d.left <= 0 {
		d.left = d.rate
		return true
	}
	return false
}

// EntryChooser is todrop_entry: among entries that are candidates by their
// state, it picks roughly one in i of those with i input packets (i = 1..8)
// whose timer was armed at least 60 s ago. One per pass owner.
type EntryChooser struct {
	left [9]int
}

// MinIdle is how long ago an entry's timer must have been armed for a
// drop_entry pass to consider it (the kernel's 60 s).
const MinIdle = 60

// Choose reports whether to drop an entry that saw inPkts input packets
// and whose timer was armed idleSeconds ago.
func (c *EntryChooser) Choose(inPkts int, idleSeconds int64) bool {
	if idleSeconds < MinIdle || inPkts <= 0 || inPkts > 8 {
		return false
	}
	c.left[inPkts]--
	if c.left[inPkts] > 0 {
		return false
	}
	c.left[inPkts] = inPkts
	return true
}
