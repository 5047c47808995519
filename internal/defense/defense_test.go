package defense

import (
	"errors"
	"testing"
)

// TestLevels walks each strategy's levels through a memory shortage and
// its end, as §3.2 of the semantics notes tables them.
func TestLevels(t *testing.T) {
	const thresh = 1024
	short, fine := int64(thresh-256), int64(thresh+1)
	for _, tt := range []struct {
		level     int
		avail     int64
		wantLevel int
		entry     bool
		rate      int
		secure    bool
	}{
		{0, short, 0, false, 0, false},
		{1, fine, 1, false, 0, false},
		{1, short, 2, true, 4, true}, // rate = 1024 / (1024-768) = 4
		{2, short, 2, true, 4, true},
		{2, fine, 1, false, 0, false},
		{3, fine, 3, true, 10, true},
		{3, short, 3, true, 10, true},
	} {
		s := Settings{DropEntry: tt.level, DropPacket: tt.level, SecureTCP: tt.level, AmemThresh: thresh, AmDropRate: 10}
		st := Update(s, tt.avail)
		want := Settings{DropEntry: tt.wantLevel, DropPacket: tt.wantLevel, SecureTCP: tt.wantLevel, AmemThresh: thresh, AmDropRate: 10}
		if st.Settings != want || st.DropEntry != tt.entry || st.DropRate != tt.rate || st.SecureTCP != tt.secure || st.NoMem != (tt.avail < thresh) {
			t.Errorf("level %d, %d pages available: got %+v, want levels %d, drop_entry %v, rate %d, secure %v",
				tt.level, tt.avail, st, tt.wantLevel, tt.entry, tt.rate, tt.secure)
		}
	}
}

// TestDropRate: the automatic rate follows the kernel's integer formula
// amemthresh / (amemthresh - available), at least 1 (drop everything when
// nothing is left).
func TestDropRate(t *testing.T) {
	for _, tt := range []struct {
		avail int64
		rate  int
	}{{1023, 1024}, {1000, 42}, {512, 2}, {513, 2}, {511, 1}, {0, 1}, {-50, 1}} {
		if got := Update(Settings{DropPacket: 1, AmemThresh: 1024, AmDropRate: 10}, tt.avail).DropRate; got != tt.rate {
			t.Errorf("%d pages available: rate %d, want %d", tt.avail, got, tt.rate)
		}
	}
	if st := Update(Settings{DropPacket: 1, AmemThresh: 0, AmDropRate: 10}, 0); st.NoMem || st.DropRate != 0 {
		t.Errorf("amemthresh 0 never starts the defense: %+v", st)
	}
}

func TestDropper(t *testing.T) {
	var d Dropper
	if d.Drop() {
		t.Fatal("rate 0 dropped")
	}
	d.SetRate(3, true)
	got := ""
	for range 9 {
		if d.Drop() {
			got += "D"
		} else {
			got += "."
		}
	}
	if got != "..D..D..D" {
		t.Errorf("rate 3: %s", got)
	}
	d.SetRate(1, false)
	if !d.Drop() || !d.Drop() {
		t.Error("rate 1 must drop every packet")
	}
}

// TestChooser: the first candidate of each packet count goes, then one in
// count; young entries and those with 0 or more than 8 packets stay.
func TestChooser(t *testing.T) {
	var c EntryChooser
	for _, tt := range []struct {
		pkts int
		idle int64
		want bool
	}{
		{1, 59, false}, {0, 100, false}, {9, 100, false},
		{1, 60, true}, {1, 60, true},
		{3, 100, true}, {3, 100, false}, {3, 100, false}, {3, 100, true},
		{8, 100, true}, {8, 100, false},
	} {
		if got := c.Choose(tt.pkts, tt.idle); got != tt.want {
			t.Errorf("%d packets, idle %d s: %v, want %v", tt.pkts, tt.idle, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		s    Settings
		want string
		err  error
	}{
		{Settings{DropEntry: 4, AmDropRate: 10}, "drop_entry 4: must be 0", ErrLevel},
		{Settings{SecureTCP: -1, AmDropRate: 10}, "secure_tcp -1: must be 0", ErrLevel},
		{Settings{AmemThresh: -1, AmDropRate: 10}, "amemthresh -1: out of range", ErrValue},
		{Settings{AmDropRate: 0}, "am_droprate 0: out of range", ErrValue},
	} {
		err := tt.s.Validate()
		if !errors.Is(err, tt.err) || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("%+v: %v, want %q", tt.s, err, tt.want)
		}
	}
}
