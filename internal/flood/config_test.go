package flood

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	cfg, err := ParseArgs(strings.Fields("--dev veth0 --src 10.0.0.1-10.15.255.255 --srcnum 1000 --random --sport 1024-65535 "+
		"--dst 192.0.2.1:80 --kind synack-seq --rate 20000 --packets 5000 --duration 10s --dst-mac 02:00:00:00:00:02 --seed 9 --batch 64"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dev: "veth0", Src: mustRange(t, "10.0.0.1-10.15.255.255"), SrcNum: 1000, Random: true, Sport: PortRange{1024, 65535},
		Dst: netip.MustParseAddrPort("192.0.2.1:80"), Kind: KindSYNACKSeq, Rate: 20000, Packets: 5000, Duration: 10 * time.Second,
		Seed: 9, Batch: 64}
	got := cfg
	got.DstMAC = nil
	if got.Dev != want.Dev || got.Src != want.Src || got.SrcNum != want.SrcNum || !got.Random || got.Sport != want.Sport ||
		got.Dst != want.Dst || got.Kind != want.Kind || got.Rate != want.Rate || got.Packets != want.Packets ||
		got.Duration != want.Duration || got.Seed != 9 || got.Batch != 64 || cfg.DstMAC.String() != "02:00:00:00:00:02" {
		t.Errorf("ParseArgs = %+v", cfg)
	}
	cfg, err = ParseArgs(strings.Fields("--dev lo --src 2001:db8::/64 --dst [2001:db8:1::1]:53 --kind udp --rate max --duration 1h"), io.Discard)
	if err != nil || cfg.Rate != 0 || cfg.Size != 64 || cfg.Kind != KindUDP || cfg.Batch != DefaultBatch {
		t.Errorf("udp defaults: %+v, %v", cfg, err)
	}
	cfg, err = ParseArgs(strings.Fields("--dev lo --src 10.0.0.1 --dst 127.0.0.1:9 --kind udp --size 0 --rate 1 --packets 1"), io.Discard)
	if err != nil || cfg.Size != 0 {
		t.Errorf("--size 0: %+v, %v", cfg, err)
	}
	if _, err := ParseArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	ok := "--dev veth0 --src 10.0.0.0/8 --dst 192.0.2.1:80 --rate max --packets 10"
	for _, c := range []struct{ args, want string }{
		{"--src 10.0.0.0/8 --dst 192.0.2.1:80 --rate max --packets 10", "--dev"},
		{"--dev veth0 --dst 192.0.2.1:80 --rate max --packets 10", "--src"},
		{"--dev veth0 --src 10.0.0.0/8 --rate max --packets 10", "--dst"},
		{"--dev veth0 --src 10.0.0.0/8 --dst 192.0.2.1:80 --packets 10", "--rate is required"},
		{"--dev veth0 --src 10.0.0.0/8 --dst 192.0.2.1:80 --rate max", "--packets or --duration"},
		{ok + " --src 10.0.0.0/33", `"10.0.0.0/33" for flag -src`},
		{ok + " --src 10.0.0.9-10.0.0.1", "comes after"},
		{ok + " --srcnum 0", `"0" for flag -srcnum`},
		{ok + " --src 10.0.0.0/30 --srcnum 5", "--srcnum 5: the range 10.0.0.0-10.0.0.3 holds only 4"},
		{ok + " --sport 9-8", `"9-8" for flag -sport`},
		{ok + " --sport 70000", `"70000" for flag -sport`},
		{ok + " --dst 192.0.2.1", `"192.0.2.1" for flag -dst`},
		{ok + " --dst 192.0.2.1:0", `"192.0.2.1:0" for flag -dst`},
		{ok + " --dst [2001:db8::1]:80", "not of the same family"},
		{ok + " --dst [fe80::1%eth0]:80 --src 2001:db8::/64", "no zones"},
		{ok + " --kind ack", `--kind: kind "ack"`},
		{ok + " --size 10", "--size 10: only for --kind udp"},
		{ok + " --kind udp --size -1", `"-1" for flag -size`},
		{ok + " --kind udp --size 70000", "--size 70000"},
		{ok + " --rate 0", `--rate "0"`},
		{ok + " --rate fast", `--rate "fast"`},
		{ok + " --rate 1000000000", `--rate "1000000000"`},
		{ok + " --packets 0", `"0" for flag -packets`},
		{ok + " --packets 99999999999999", "--packets 99999999999999: at most"},
		{ok + " --duration 2h", "--duration 2h0m0s: want more than 0 and at most 1h0m0s"},
		{ok + " --duration -1s", `"-1s" for flag -duration`},
		{ok + " --duration soon", `"soon" for flag -duration`},
		{ok + " --dst-mac 02:00:00:00:00:00:00:01", `for flag -dst-mac`},
		{ok + " --dst-mac zz", `"zz" for flag -dst-mac`},
		{ok + " --batch 0", "--batch 0"},
		{ok + " --batch 100000", "--batch 100000"},
		{ok + " --dev a/b", `--dev "a/b"`},
		{ok + " extra", `unexpected argument "extra"`},
		{ok + " --nope", "-nope"},
	} {
		_, err := ParseArgs(strings.Fields(c.args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseArgs(%s) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestMainBadInput(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), strings.Fields("--dev veth0 --src 10.0.0.0/8 --dst 192.0.2.1:80 --rate max --packets 10 --kind bogus"), &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), `vsflood: --kind: kind "bogus"`) || out.Len() != 0 {
		t.Errorf("bad --kind: status %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = Main(context.Background(), strings.Fields("--dev no-such-if0 --src 10.0.0.0/8 --dst 192.0.2.1:80 --rate max --packets 10"), &out, &errb)
	// In a non-initial namespace the check passes and the lookup fails;
	// in the initial one the lookup (for "is it the loopback?") fails.
	if code != 2 || !strings.Contains(errb.String(), "--dev no-such-if0") {
		t.Errorf("unknown --dev: status %d, stderr %q", code, errb.String())
	}
}

// FuzzParseArgs: no command line panics, and one that parses is valid.
func FuzzParseArgs(f *testing.F) {
	f.Add("--dev lo --src 10.0.0.0/8 --dst 127.0.0.1:80 --rate max --packets 10")
	f.Add("--dev veth0 --src 2001:db8::/64 --dst [2001:db8::1]:80 --kind udp --size 1400 --rate 20000 --duration 1s --random --sport 1-2")
	f.Add("--dev x --src 10.0.0.1-10.0.0.2 --srcnum 2 --dst 1.2.3.4:5 --kind synack-seq --rate 1 --packets 1 --dst-mac 02:00:00:00:00:01")
	f.Add("-h")
	f.Fuzz(func(t *testing.T, line string) {
		cfg, err := ParseArgs(strings.Fields(line), io.Discard)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", line)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q parses to an invalid Config: %v", line, err)
		}
	})
}
