package state

import (
	"strings"
	"testing"
)

// The grids below are the reference's tables as text. The test parses them
// and checks every cell against TCPNext and SCTPNext, so a wrong cell in the
// Go tables (or a reordered row or column) fails here.

// tcpGrids are the TCP transition tables of ipvs-semantics.md §2.3 (normal)
// and §2.4 (secure_tcp "dos"), in the same layout.
var tcpGrids = []struct {
	secure bool
	dir    Dir
	text   string
}{
	{false, Input, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| fin | CL | CW | SS | TW | TW | TW | CL | CW | LA | LI | TW |
| ack | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | SR |
`},
	{false, Output, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SS | ES | SS | SR | SS | SS | SS | SS | SS | LI | SR |
| fin | TW | FW | SS | TW | FW | TW | CL | TW | LA | LI | TW |
| ack | ES | ES | SS | ES | FW | TW | CL | CW | LA | ES | ES |
| rst | CL | CL | SS | CL | CL | TW | CL | CL | CL | CL | CL |
`},
	{false, InputOnly, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| fin | CL | FW | SS | TW | FW | TW | CL | CW | LA | LI | TW |
| ack | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | CL |
`},
	{true, Input, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SA |
| fin | CL | CW | SS | TW | TW | TW | CL | CW | LA | LI | SA |
| ack | ES | ES | SS | SR | FW | TW | CL | CW | CL | LI | SA |
| rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | CL |
`},
	{true, Output, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SS | ES | SS | SA | SS | SS | SS | SS | SS | LI | SA |
| fin | TW | FW | SS | TW | FW | TW | CL | TW | LA | LI | TW |
| ack | ES | ES | SS | ES | FW | TW | CL | CW | LA | ES | ES |
| rst | CL | CL | SS | CL | CL | TW | CL | CL | CL | CL | CL |
`},
	{true, InputOnly, `
| event \ cur | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| syn | SA | ES | ES | SR | SA | SA | SA | SA | SA | SA | SA |
| fin | CL | FW | SS | TW | FW | TW | CL | CW | LA | LI | TW |
| ack | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | CL |
`},
}

// sctpGrids are the SCTP transition tables of ipvs-semantics.md §2.7, in the
// same layout.
var sctpGrids = []struct {
	dir  Dir
	text string
}{
	{Input, `
| ev \ cur | NO | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| d | ES | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| i | I1 | IN | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | IN | IN |
| i_a | CW | CW | CW | CS | CR | CO | CO | CE | ES | SS | SR | SA | RJ | CL |
| c_e | CR | IN | IN | CR | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| c_a | ES | I1 | IN | CS | CR | CW | CO | ES | ES | SS | SR | SA | RJ | CL |
| s | SR | I1 | IN | CS | CR | CW | CO | CE | SR | SS | SR | SA | RJ | CL |
| s_a | CL | IN | IN | CS | CR | CW | CO | CE | ES | CL | SR | CL | RJ | CL |
| s_c | CL | CL | CL | CS | CR | CW | CO | CE | ES | SS | SR | CL | RJ | CL |
| err | CL | I1 | IN | CS | CR | CW | CO | CL | ES | SS | SR | SA | RJ | CL |
| ab | CL | CL | CL | CL | CL | RJ | CL | CL | CL | CL | CL | CL | CL | CL |
`},
	{Output, `
| ev \ cur | NO | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| d | ES | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| i | CW | CW | CW | CW | CW | CW | CW | CW | ES | CW | CW | CW | CW | CW |
| i_a | CS | CS | CS | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| c_e | CE | CE | CE | CE | CE | CE | CE | CE | ES | SS | SR | SA | RJ | CL |
| c_a | ES | ES | ES | ES | ES | ES | ES | ES | ES | SS | SR | SA | RJ | CL |
| s | SS | SS | SS | SS | SS | SS | SS | SS | SS | SS | SR | SA | RJ | CL |
| s_a | SA | SA | SA | SA | SA | CW | CO | CE | ES | SA | SA | SA | RJ | CL |
| s_c | CL | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| err | CL | CL | CL | CL | CL | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| ab | CL | RJ | CL | CL | CL | CL | CL | CL | CL | CL | CL | CL | CL | CL |
`},
	{InputOnly, `
| ev \ cur | NO | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| d | ES | I1 | IN | CS | CR | ES | CO | CE | ES | SS | SR | SA | RJ | CL |
| i | I1 | IN | IN | IN | IN | IN | CO | CE | ES | SS | SR | SA | IN | IN |
| i_a | CE | CE | CE | CE | CE | CE | CO | CE | ES | SS | SR | SA | RJ | CL |
| c_e | ES | ES | ES | ES | ES | ES | CO | CE | ES | SS | SR | SA | RJ | CL |
| c_a | ES | I1 | IN | ES | ES | CW | ES | ES | ES | SS | SR | SA | RJ | CL |
| s | SR | I1 | IN | CS | CR | CW | CO | CE | SR | SS | SR | SA | RJ | CL |
| s_a | CL | IN | IN | CS | CR | CW | CO | CE | CL | CL | SR | CL | RJ | CL |
| s_c | CL | CL | CL | CL | CL | CW | CO | CE | ES | SS | CL | CL | RJ | CL |
| err | CL | I1 | IN | CS | CR | CW | CO | CE | ES | SS | SR | SA | RJ | CL |
| ab | CL | CL | CL | CL | CL | RJ | CL | CL | CL | CL | CL | CL | CL | CL |
`},
}

// Abbreviations of the reference, in column order.
var (
	tcpAbbrev  = []string{"NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"}
	sctpAbbrev = []string{"NO", "I1", "IN", "CS", "CR", "CW", "CO", "CE", "ES", "SS", "SR", "SA", "RJ", "CL"}
	tcpEvents  = []string{"syn", "fin", "ack", "rst"}
	sctpEvents = []string{"d", "i", "i_a", "c_e", "c_a", "s", "s_a", "s_c", "err", "ab"}
)

// parseGrid parses a markdown table whose header row lists the column
// abbreviations (cols, in this order) and whose rows are named by an event
// (each of events exactly once). It returns cells[event index][column index]
// as the abbreviation written in the grid.
func parseGrid(t *testing.T, text string, cols, events []string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 2+len(events) {
		t.Fatalf("grid has %d lines, want header, separator and %d rows", len(lines), len(events))
	}
	split := func(line string) []string {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Fatalf("grid line %q is not a table row", line)
		}
		parts := strings.Split(line[1:len(line)-1], "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	header := split(lines[0])
	if got, want := strings.Join(header[1:], " "), strings.Join(cols, " "); got != want {
		t.Fatalf("grid header columns %q, want %q", got, want)
	}
	if !strings.HasPrefix(lines[1], "|---|") {
		t.Fatalf("grid separator %q", lines[1])
	}
	cells := make([][]string, len(events))
	for _, line := range lines[2:] {
		row := split(line)
		if len(row) != 1+len(cols) {
			t.Fatalf("grid row %q has %d cells, want %d", line, len(row)-1, len(cols))
		}
		ev := -1
		for i, name := range events {
			if row[0] == name {
				ev = i
			}
		}
		if ev < 0 || cells[ev] != nil {
			t.Fatalf("grid row %q: unknown or repeated event %q", line, row[0])
		}
		cells[ev] = row[1:]
	}
	return cells
}

func abbrevIndex(t *testing.T, abbrevs []string, a string) int {
	t.Helper()
	for i, x := range abbrevs {
		if x == a {
			return i
		}
	}
	t.Fatalf("unknown state abbreviation %q", a)
	return -1
}

func TestTCPTablesMatchReference(t *testing.T) {
	if len(tcpAbbrev) != int(TCPStateCount) || len(tcpEvents) != int(tcpEventCount) {
		t.Fatalf("test abbreviations out of step with the package: %d states, %d events", TCPStateCount, tcpEventCount)
	}
	seen := map[[2]int]bool{}
	checked := 0
	for _, g := range tcpGrids {
		seen[[2]int{boolIndex(g.secure), int(g.dir)}] = true
		cells := parseGrid(t, g.text, tcpAbbrev, tcpEvents)
		for ev, row := range cells {
			for cur, cell := range row {
				want := TCPState(abbrevIndex(t, tcpAbbrev, cell))
				got := TCPNext(g.secure, g.dir, TCPEvent(ev), TCPState(cur))
				if got != want {
					t.Errorf("TCPNext(secure=%v, %v, %v, %v) = %v, want %v", g.secure, g.dir, TCPEvent(ev), TCPState(cur), got, want)
				}
				checked++
			}
		}
	}
	if len(seen) != 6 || checked != 2*3*4*11 {
		t.Fatalf("checked %d cells in %d tables, want 264 in 6", checked, len(seen))
	}
}

func TestSCTPTablesMatchReference(t *testing.T) {
	if len(sctpAbbrev) != int(SCTPStateCount) || len(sctpEvents) != int(sctpEventCount) {
		t.Fatalf("test abbreviations out of step with the package: %d states, %d events", SCTPStateCount, sctpEventCount)
	}
	seen := map[Dir]bool{}
	checked := 0
	for _, g := range sctpGrids {
		seen[g.dir] = true
		cells := parseGrid(t, g.text, sctpAbbrev, sctpEvents)
		for ev, row := range cells {
			for cur, cell := range row {
				want := SCTPState(abbrevIndex(t, sctpAbbrev, cell))
				got := SCTPNext(g.dir, SCTPEvent(ev), SCTPState(cur))
				if got != want {
					t.Errorf("SCTPNext(%v, %v, %v) = %v, want %v", g.dir, SCTPEvent(ev), SCTPState(cur), got, want)
				}
				checked++
			}
		}
	}
	if len(seen) != 3 || checked != 3*10*14 {
		t.Fatalf("checked %d cells in %d tables, want 420 in 3", checked, len(seen))
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The test grids use the event names of String(); check them so the name
// lookups above and the package agree.
func TestEventNames(t *testing.T) {
	for i, name := range tcpEvents {
		if got := TCPEvent(i).String(); got != name {
			t.Errorf("TCPEvent(%d).String() = %q, want %q", i, got, name)
		}
	}
	for i, name := range sctpEvents {
		if got := SCTPEvent(i).String(); got != name {
			t.Errorf("SCTPEvent(%d).String() = %q, want %q", i, got, name)
		}
	}
}

// LISTEN is entered only through the FTP helper, never by the tables from
// another state (reference §2.1).
func TestTCPListenOnlyFromListen(t *testing.T) {
	for _, secure := range []bool{false, true} {
		for d := Input; d <= InputOnly; d++ {
			for ev := TCPEventSyn; ev <= TCPEventRst; ev++ {
				for cur := TCPNone; cur < TCPStateCount; cur++ {
					if next := TCPNext(secure, d, ev, cur); next == TCPListen && cur != TCPListen {
						t.Errorf("TCPNext(secure=%v, %v, %v, %v) = LISTEN", secure, d, ev, cur)
					}
				}
			}
		}
	}
}

// Arguments the kernel cannot produce must not panic and give the
// short-lived state.
func TestNextOutOfRange(t *testing.T) {
	cases := []struct {
		d   Dir
		ev  TCPEvent
		cur TCPState
	}{
		{3, TCPEventAck, TCPEstablished},
		{Input, 4, TCPEstablished},
		{Input, TCPEventAck, TCPStateCount},
		{255, 255, 255},
	}
	for _, c := range cases {
		for _, secure := range []bool{false, true} {
			if got := TCPNext(secure, c.d, c.ev, c.cur); got != TCPClose {
				t.Errorf("TCPNext(%v, %d, %d, %d) = %v, want CLOSE", secure, c.d, c.ev, c.cur, got)
			}
		}
	}
	if got := SCTPNext(3, SCTPEventData, SCTPEstablished); got != SCTPClosed {
		t.Errorf("SCTPNext(bad dir) = %v, want CLOSED", got)
	}
	if got := SCTPNext(Input, sctpEventCount, SCTPEstablished); got != SCTPClosed {
		t.Errorf("SCTPNext(bad event) = %v, want CLOSED", got)
	}
	if got := SCTPNext(Input, SCTPEventData, SCTPStateCount); got != SCTPClosed {
		t.Errorf("SCTPNext(bad state) = %v, want CLOSED", got)
	}
}
