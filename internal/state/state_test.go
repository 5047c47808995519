package state

import (
	"testing"

	"github.com/vsd/vsd/internal/packet"
)

const (
	fin = packet.TCPFin
	syn = packet.TCPSyn
	rst = packet.TCPRst
	psh = packet.TCPPsh
	ack = packet.TCPAck
	urg = packet.TCPUrg
	ece = packet.TCPEce
	cwr = packet.TCPCwr
)

func TestTCPEventOf(t *testing.T) {
	cases := []struct {
		flags packet.TCPFlags
		want  TCPEvent
		ok    bool
	}{
		{syn, TCPEventSyn, true},
		{syn | ack, TCPEventSyn, true},
		{fin | ack, TCPEventFin, true},
		{rst | ack, TCPEventRst, true},
		{rst | syn, TCPEventRst, true},
		{syn | fin, TCPEventSyn, true},
		{fin, TCPEventFin, true},
		{ack, TCPEventAck, true},
		{ack | psh, TCPEventAck, true},
		{ack | urg | ece | cwr, TCPEventAck, true},
		{rst, TCPEventRst, true},
		{0xff, TCPEventRst, true},
		{0, 0, false},
		{psh, 0, false},
		{urg | ece | cwr | psh, 0, false},
	}
	for _, c := range cases {
		got, ok := TCPEventOf(c.flags)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("TCPEventOf(%#02x) = %v, %v; want %v, %v", uint8(c.flags), got, ok, c.want, c.ok)
		}
	}
}

// referenceEvent is the kernel's tcp_state_idx written as the plain chain
// of tests, to check the lookup table for every flags byte.
func referenceEvent(f packet.TCPFlags) (TCPEvent, bool) {
	switch {
	case f&rst != 0:
		return TCPEventRst, true
	case f&syn != 0:
		return TCPEventSyn, true
	case f&fin != 0:
		return TCPEventFin, true
	case f&ack != 0:
		return TCPEventAck, true
	}
	return 0, false
}

func TestTCPTransitionEveryInput(t *testing.T) {
	for _, secure := range []bool{false, true} {
		for d := Input; d <= InputOnly; d++ {
			for cur := TCPNone; cur < TCPStateCount; cur++ {
				for f := 0; f < 256; f++ {
					flags := packet.TCPFlags(f)
					ev, ok := TCPEventOf(flags)
					wantEv, wantOK := referenceEvent(flags)
					if ok != wantOK || (ok && ev != wantEv) {
						t.Fatalf("TCPEventOf(%#02x) = %v, %v; want %v, %v", f, ev, ok, wantEv, wantOK)
					}
					want := TCPClose // no SYN/FIN/ACK/RST: straight to CLOSE
					if ok {
						want = TCPNext(secure, d, ev, cur)
					}
					if got := TCPTransition(secure, d, flags, cur); got != want {
						t.Fatalf("TCPTransition(%v, %v, %#02x, %v) = %v, want %v", secure, d, f, cur, got, want)
					}
				}
			}
		}
	}
}

func TestTCPTransitionNoFlagsCloses(t *testing.T) {
	for cur := TCPNone; cur < TCPStateCount; cur++ {
		for d := Input; d <= InputOnly; d++ {
			if got := TCPTransition(false, d, psh|urg, cur); got != TCPClose {
				t.Errorf("TCPTransition(%v, PSH|URG, %v) = %v, want CLOSE", d, cur, got)
			}
		}
	}
}

func TestTCPCreates(t *testing.T) {
	cases := []struct {
		flags  packet.TCPFlags
		sloppy bool
		want   bool
	}{
		{syn, false, true},
		{syn | ack, false, true}, // active FTP
		{syn | rst, false, false},
		{syn | rst, true, false},
		{rst, true, false},
		{rst | ack, true, false},
		{ack, false, false},
		{ack, true, true},
		{fin | ack, false, false},
		{fin | ack, true, true},
		{0, false, false},
		{0, true, true},
		{psh | ack, true, true},
	}
	for _, c := range cases {
		if got := TCPCreates(c.flags, c.sloppy); got != c.want {
			t.Errorf("TCPCreates(%#02x, sloppy=%v) = %v, want %v", uint8(c.flags), c.sloppy, got, c.want)
		}
	}
}

func TestSCTPEventOf(t *testing.T) {
	cases := []struct {
		first, second uint8
		hasSecond     bool
		want          SCTPEvent
	}{
		{0, 0, false, SCTPEventData},   // DATA
		{3, 0, false, SCTPEventData},   // SACK
		{4, 0, false, SCTPEventData},   // HEARTBEAT
		{5, 0, false, SCTPEventData},   // HEARTBEAT_ACK
		{12, 0, false, SCTPEventData},  // ECNE
		{13, 0, false, SCTPEventData},  // CWR
		{15, 0, false, SCTPEventData},  // AUTH and others
		{64, 0, false, SCTPEventData},  // unknown
		{192, 0, false, SCTPEventData}, // FORWARD_TSN
		{255, 0, false, SCTPEventData},
		{1, 0, false, SCTPEventInit},
		{2, 0, false, SCTPEventInitAck},
		{6, 0, false, SCTPEventAbort},
		{7, 0, false, SCTPEventShutdown},
		{8, 0, false, SCTPEventShutdownAck},
		{9, 0, false, SCTPEventError},
		{10, 0, false, SCTPEventCookieEcho},
		{11, 0, false, SCTPEventCookieAck},
		{14, 0, false, SCTPEventShutdownComplete},
		// COOKIE_ECHO / COOKIE_ACK followed by ABORT is an abort.
		{10, 6, true, SCTPEventAbort},
		{11, 6, true, SCTPEventAbort},
		{10, 0, true, SCTPEventCookieEcho},
		{11, 3, true, SCTPEventCookieAck},
		{10, 6, false, SCTPEventCookieEcho}, // no second chunk present
		// Only those two first chunks look at the second one.
		{0, 6, true, SCTPEventData},
		{1, 6, true, SCTPEventInit},
		{9, 6, true, SCTPEventError},
		{7, 6, true, SCTPEventShutdown},
	}
	for _, c := range cases {
		if got := SCTPEventOf(c.first, c.second, c.hasSecond); got != c.want {
			t.Errorf("SCTPEventOf(%d, %d, %v) = %v, want %v", c.first, c.second, c.hasSecond, got, c.want)
		}
	}
	// Every type not named by the reference maps to DATA.
	named := map[uint8]bool{1: true, 2: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 14: true}
	for ct := 0; ct < 256; ct++ {
		if named[uint8(ct)] {
			continue
		}
		if got := SCTPEventOf(uint8(ct), 6, true); got != SCTPEventData {
			t.Errorf("SCTPEventOf(%d) = %v, want d", ct, got)
		}
	}
}

func TestSCTPCreates(t *testing.T) {
	for ct := 0; ct < 256; ct++ {
		for _, sloppy := range []bool{false, true} {
			want := ct == 1 || (sloppy && ct != 6)
			if got := SCTPCreates(uint8(ct), sloppy); got != want {
				t.Errorf("SCTPCreates(%d, sloppy=%v) = %v, want %v", ct, sloppy, got, want)
			}
		}
	}
}

func TestTCPStateNamesAndActive(t *testing.T) {
	cases := []struct {
		st     TCPState
		name   string
		active bool
	}{
		{TCPNone, "NONE", false},
		{TCPEstablished, "ESTABLISHED", true},
		{TCPSynSent, "SYN_SENT", true},
		{TCPSynRecv, "SYN_RECV", true},
		{TCPFinWait, "FIN_WAIT", false},
		{TCPTimeWait, "TIME_WAIT", false},
		{TCPClose, "CLOSE", false},
		{TCPCloseWait, "CLOSE_WAIT", false},
		{TCPLastAck, "LAST_ACK", false},
		{TCPListen, "LISTEN", false},
		{TCPSynAck, "SYNACK", true},
		{TCPStateCount, "ERR!", false},
		{255, "ERR!", false},
	}
	if len(cases) != int(TCPStateCount)+2 {
		t.Fatalf("cases do not cover every state")
	}
	for i, c := range cases {
		if i < int(TCPStateCount) && c.st != TCPState(i) {
			t.Fatalf("case %d is for state %d: ids out of order", i, c.st)
		}
		if got := c.st.String(); got != c.name {
			t.Errorf("TCPState(%d).String() = %q, want %q", c.st, got, c.name)
		}
		if got := c.st.Active(); got != c.active {
			t.Errorf("%v.Active() = %v, want %v", c.st, got, c.active)
		}
		if got := IsActive(packet.ProtoTCP, uint8(c.st)); got != c.active {
			t.Errorf("IsActive(TCP, %v) = %v, want %v", c.st, got, c.active)
		}
		if got := StateName(packet.ProtoTCP, uint8(c.st), false); got != c.name {
			t.Errorf("StateName(TCP, %d) = %q, want %q", c.st, got, c.name)
		}
	}
}

func TestSCTPStateNamesAndActive(t *testing.T) {
	cases := []struct {
		st     SCTPState
		name   string
		active bool
	}{
		{SCTPNone, "NONE", false},
		{SCTPInit1, "INIT1", false},
		{SCTPInit, "INIT", false},
		{SCTPCookieSent, "C-SENT", false},
		{SCTPCookieReplied, "C-REPLIED", false},
		{SCTPCookieWait, "C-WAIT", false},
		{SCTPCookie, "COOKIE", false},
		{SCTPCookieEchoed, "C-ECHOED", false},
		{SCTPEstablished, "ESTABLISHED", true},
		{SCTPShutdownSent, "S-SENT", false},
		{SCTPShutdownReceived, "S-RECEIVED", false},
		{SCTPShutdownAckSent, "S-ACK-SENT", false},
		{SCTPRejected, "REJECTED", false},
		{SCTPClosed, "CLOSED", false},
		{SCTPStateCount, "ERR!", false},
		{200, "ERR!", false},
	}
	if len(cases) != int(SCTPStateCount)+2 {
		t.Fatalf("cases do not cover every state")
	}
	for i, c := range cases {
		if i < int(SCTPStateCount) && c.st != SCTPState(i) {
			t.Fatalf("case %d is for state %d: ids out of order", i, c.st)
		}
		if got := c.st.String(); got != c.name {
			t.Errorf("SCTPState(%d).String() = %q, want %q", c.st, got, c.name)
		}
		if got := c.st.Active(); got != c.active {
			t.Errorf("%v.Active() = %v, want %v", c.st, got, c.active)
		}
		if got := IsActive(packet.ProtoSCTP, uint8(c.st)); got != c.active {
			t.Errorf("IsActive(SCTP, %v) = %v, want %v", c.st, got, c.active)
		}
		if got := StateName(packet.ProtoSCTP, uint8(c.st), false); got != c.name {
			t.Errorf("StateName(SCTP, %d) = %q, want %q", c.st, got, c.name)
		}
	}
}

func TestUDPState(t *testing.T) {
	if UDPNormal != 0 || UDPStateCount != 1 {
		t.Fatalf("UDP ids: normal %d, count %d; want 0, 1", UDPNormal, UDPStateCount)
	}
	if got := UDPNormal.String(); got != "UDP" {
		t.Errorf("UDPNormal.String() = %q", got)
	}
	if got := UDPState(1).String(); got != "ERR!" {
		t.Errorf("UDPState(1).String() = %q, want ERR!", got)
	}
	for st := 0; st < 256; st++ {
		if UDPState(st).Active() || IsActive(packet.ProtoUDP, uint8(st)) {
			t.Fatalf("UDP state %d reported active", st)
		}
	}
}

func TestStateName(t *testing.T) {
	cases := []struct {
		proto    packet.Proto
		st       uint8
		template bool
		want     string
	}{
		{packet.ProtoTCP, 0, true, "NONE"},
		{packet.ProtoTCP, 1, true, "ASSURED"},
		{packet.ProtoTCP, 2, true, "ERR!"},
		{0, 0, true, "NONE"},
		{0, 1, true, "ASSURED"},
		{packet.ProtoUDP, 1, true, "ASSURED"},
		{packet.ProtoTCP, uint8(TCPTimeWait), false, "TIME_WAIT"},
		{packet.ProtoSCTP, uint8(SCTPCookieEchoed), false, "C-ECHOED"},
		{packet.ProtoUDP, 0, false, "UDP"},
		{packet.ProtoUDP, 1, false, "ERR!"},
		{0, 0, false, "NONE"}, // fwmark (protocol IP) with no handler
		{0, 7, false, "NONE"},
		{packet.ProtoICMP, 0, false, "ERR!"},
		{packet.ProtoGRE, 0, false, "ERR!"},
		{50, 0, false, "ERR!"}, // ESP
	}
	for _, c := range cases {
		if got := StateName(c.proto, c.st, c.template); got != c.want {
			t.Errorf("StateName(%d, %d, template=%v) = %q, want %q", c.proto, c.st, c.template, got, c.want)
		}
	}
	if TemplateNone != 0 || TemplateAssured != 1 {
		t.Errorf("template ids %d, %d; want 0, 1", TemplateNone, TemplateAssured)
	}
}

func TestIsActiveOtherProtocols(t *testing.T) {
	for _, p := range []packet.Proto{0, packet.ProtoICMP, packet.ProtoUDP, packet.ProtoGRE, 50, 51} {
		for st := 0; st < 256; st++ {
			if IsActive(p, uint8(st)) {
				t.Fatalf("IsActive(%d, %d) = true", p, st)
			}
		}
	}
}

func TestDir(t *testing.T) {
	if Input != 0 || Output != 1 || InputOnly != 2 {
		t.Fatalf("dir ids %d %d %d, want the kernel's 0 1 2", Input, Output, InputOnly)
	}
	names := map[Dir]string{Input: "INPUT", Output: "OUTPUT", InputOnly: "INPUT_ONLY", 3: "DIR?"}
	for d, want := range names {
		if got := d.String(); got != want {
			t.Errorf("Dir(%d).String() = %q, want %q", d, got, want)
		}
	}
	cases := []struct {
		reply, noOutput bool
		want            Dir
	}{
		{false, false, Input},
		{false, true, InputOnly},
		{true, false, Output},
		{true, true, Output},
	}
	for _, c := range cases {
		if got := PacketDir(c.reply, c.noOutput); got != c.want {
			t.Errorf("PacketDir(reply=%v, noOutput=%v) = %v, want %v", c.reply, c.noOutput, got, c.want)
		}
	}
}

func TestNewConnPacket(t *testing.T) {
	cases := []struct {
		proto packet.Proto
		flags packet.TCPFlags
		chunk uint8
		want  bool
	}{
		{packet.ProtoTCP, syn, 0, true},
		{packet.ProtoTCP, syn | ack, 0, true},
		{packet.ProtoTCP, syn | rst, 0, true},
		{packet.ProtoTCP, ack, 1, false},
		{packet.ProtoTCP, 0, 0, false},
		{packet.ProtoSCTP, 0, 1, true},
		{packet.ProtoSCTP, syn, 0, false},
		{packet.ProtoSCTP, 0, 2, false},
		{packet.ProtoUDP, syn, 1, false},
	}
	for _, c := range cases {
		if got := NewConnPacket(c.proto, c.flags, c.chunk); got != c.want {
			t.Errorf("NewConnPacket(%d, %#02x, %d) = %v, want %v", c.proto, uint8(c.flags), c.chunk, got, c.want)
		}
	}
}

func TestExpectsNewConn(t *testing.T) {
	tcp := func(s TCPState) uint8 { return uint8(s) }
	cases := []struct {
		proto    packet.Proto
		st       uint8
		noOutput bool
		mode     int
		want     bool
	}{
		{packet.ProtoTCP, tcp(TCPTimeWait), false, 1, true},
		{packet.ProtoTCP, tcp(TCPClose), false, 1, true},
		{packet.ProtoTCP, tcp(TCPTimeWait), true, 1, true},
		{packet.ProtoTCP, tcp(TCPTimeWait), false, 0, false}, // mode 0 never
		{packet.ProtoTCP, tcp(TCPClose), true, 0, false},
		{packet.ProtoTCP, tcp(TCPTimeWait), false, 2, true}, // any non-zero mode
		{packet.ProtoTCP, tcp(TCPFinWait), true, 1, false},  // FIN_WAIT needs bit 2
		{packet.ProtoTCP, tcp(TCPFinWait), true, 2, true},
		{packet.ProtoTCP, tcp(TCPFinWait), true, 3, true},
		{packet.ProtoTCP, tcp(TCPFinWait), false, 3, false}, // NAT saw a reply
		{packet.ProtoTCP, tcp(TCPEstablished), true, 3, false},
		{packet.ProtoTCP, tcp(TCPCloseWait), true, 3, false},
		{packet.ProtoTCP, tcp(TCPLastAck), true, 3, false},
		{packet.ProtoTCP, tcp(TCPSynRecv), false, 3, false},
		{packet.ProtoTCP, tcp(TCPNone), false, 3, false},
		{packet.ProtoSCTP, uint8(SCTPClosed), false, 1, true},
		{packet.ProtoSCTP, uint8(SCTPClosed), true, 1, true},
		{packet.ProtoSCTP, uint8(SCTPClosed), false, 0, false},
		{packet.ProtoSCTP, uint8(SCTPShutdownAckSent), true, 3, false},
		{packet.ProtoSCTP, uint8(SCTPRejected), true, 3, false},
		{packet.ProtoSCTP, uint8(SCTPEstablished), false, 1, false},
		{packet.ProtoSCTP, tcp(TCPTimeWait), false, 1, false}, // id 5 is C-WAIT for SCTP
		{packet.ProtoUDP, 0, false, 3, false},
	}
	for _, c := range cases {
		if got := ExpectsNewConn(c.proto, c.st, c.noOutput, c.mode); got != c.want {
			t.Errorf("ExpectsNewConn(%d, %s, noOutput=%v, mode=%d) = %v, want %v",
				c.proto, StateName(c.proto, c.st, false), c.noOutput, c.mode, got, c.want)
		}
	}
}
