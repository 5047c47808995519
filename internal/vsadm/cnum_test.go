package vsadm

import (
	"bufio"
	"strings"
	"testing"
)

// TestInetAton: glibc inet_aton's accepted forms and refusals.
func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1.2.3.4", 0x01020304, true},
		{"255.255.255.255", 0xffffffff, true},
		{"10.1", 0x0a000001, true},
		{"10.1.2", 0x0a010002, true},
		{"10.1.65535", 0x0a01ffff, true},
		{"167772161", 0x0a000001, true},
		{"0x0a000001", 0x0a000001, true},
		{"0XA.0.0.1", 0x0a000001, true},
		{"012.0.0.1", 0x0a000001, true},
		{"0", 0, true},
		{"24", 24, true},
		{"1.2.3.4 trailing words", 0x01020304, true},
		{"1.2.3.4\tx", 0x01020304, true},
		{"", 0, false},
		{"1.2.3.4.5", 0, false},
		{"256.0.0.0", 0, false},
		{"1.2.3.256", 0, false},
		{"1.2.65536", 0, false},
		{"1.16777216", 0, false},
		{"4294967296", 0, false},
		{"99999999999999999999999", 0, false},
		{"08", 0, false},
		{"0x", 0, false},
		{"0x.1", 0, false},
		{"1.2.3.4x", 0, false},
		{"1..2", 0, false},
		{"1.2.3.", 0, false},
		{".1", 0, false},
		{" 1.2.3.4", 0, false},
		{"-1", 0, false},
		{"a.b.c.d", 0, false},
	}
	for _, tt := range tests {
		got, ok := inetAton(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("inetAton(%q) = %#x, %v; want %#x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestStringToNumber: strtol's spellings within ipvsadm's ranges.
func TestStringToNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"80", 80}, {" 80", 80}, {"+80", 80}, {"\t\n 7", 7}, {"0", 0}, {"-0", 0}, {"65535", 65535},
		{"65536", -1}, {"-1", -1}, {"", -1}, {" ", -1}, {"+", -1}, {"80 ", -1}, {"8x", -1}, {"0x10", -1},
		{"99999999999999999999", -1}, {"-99999999999999999999", -1},
	}
	for _, tt := range tests {
		if got := stringToNumber(tt.in, 0, 65535); got != tt.want {
			t.Errorf("stringToNumber(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestStrtoulAtoi(t *testing.T) {
	for _, tt := range []struct {
		in    string
		want  uint64
		whole bool
	}{
		{"5", 5, true}, {" +5", 5, true}, {"-1", 1<<64 - 1, true}, {"5x", 5, false}, {"", 0, false},
		{"-18446744069414584321", 4294967295, true},
	} {
		got, whole, erange := strtoul(tt.in)
		if got != tt.want || whole != tt.whole || erange {
			t.Errorf("strtoul(%q) = %d %v %v", tt.in, got, whole, erange)
		}
	}
	if _, _, erange := strtoul("18446744073709551616"); !erange {
		t.Error("strtoul overflow not reported")
	}
	for in, want := range map[string]int32{"64": 64, "64abc": 64, "abc": 0, " -3": -3, "4294967360": 64, "99999999999999999999": -1} {
		if got := atoi(in); got != want {
			t.Errorf("atoi(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestLookupService(t *testing.T) {
	for _, tt := range []struct {
		name, proto string
		port        uint16
		ok          bool
	}{
		{"http", "tcp", 80, true}, {"www", "tcp", 80, true}, {"http", "udp", 0, false}, {"HTTP", "tcp", 0, false},
		{"domain", "udp", 53, true}, {"webcache", "tcp", 8080, true}, {"amqp", "sctp", 5672, true}, {"comment", "tcp", 0, false},
	} {
		p, ok := lookupService(bufio.NewScanner(strings.NewReader(fakeServices)), tt.name, tt.proto)
		if p != tt.port || ok != tt.ok {
			t.Errorf("lookupService(%s/%s) = %d %v", tt.name, tt.proto, p, ok)
		}
	}
}
