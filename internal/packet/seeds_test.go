package packet

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// decodeSeeds are frames of every kind Decode handles, and broken ones.
func decodeSeeds() [][]byte {
	tcp4 := frame(tcp4Frame())
	tcp6 := frame(tcp6Frame())
	icmpErr := frame(&Frame{IPv4: &IPv4Fields{TTL: 64, Src: dir4, Dst: client4}, ICMP: &ICMPFields{Type: 3, Code: 4, Rest: 1400},
		Payload: AppendPacket(nil, tcp4Frame())[:28]})
	arp := with(make([]byte, 60), 12, 0x08, 0x06)
	return [][]byte{
		tcp4,
		tcp6,
		arp,
		frame(&Frame{Ethernet: EthernetFields{HasVLAN: true, VLAN: 7}, IPv4: &IPv4Fields{TTL: 1, Options: []byte{0x94, 4, 0, 0}, Src: client4, Dst: vip4},
			UDP: &UDPFields{SrcPort: 1, DstPort: 53}, Payload: []byte("q")}),
		frame(&Frame{IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, SCTP: &SCTPFields{SrcPort: 1, DstPort: 2,
			Chunks: []SCTPChunk{{Type: SCTPCookieEcho, Value: []byte{1, 2, 3}}, {Type: SCTPData, Value: []byte{4}}}}}),
		icmpErr,
		frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: dir6, Dst: client6}, ICMP: &ICMPFields{Type: ICMPv6PacketTooBig, Rest: 1280},
			Payload: AppendPacket(nil, tcp6Frame())}),
		frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: client6, Dst: vip6, ExtHeaders: []IPv6ExtHeader{{Type: ProtoHopByHop},
			{Type: ProtoIPv6Route, Body: make([]byte, 6)}, {Type: ProtoAH, Body: make([]byte, 10)}, IPv6FragmentHeader(0, true, 5)}},
			TCP: &TCPFields{SrcPort: 1, DstPort: 2, Options: []byte{2, 4, 5, 0xb4}}}),
		frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, NextHeader: ProtoUDP, Src: client6, Dst: vip6,
			ExtHeaders: []IPv6ExtHeader{IPv6FragmentHeader(1232, false, 5)}}, Payload: make([]byte, 16)}),
		frame(&Frame{IPv4: &IPv4Fields{TTL: 1, FragOffset: 1480, Protocol: ProtoTCP, Src: client4, Dst: vip4}, Payload: make([]byte, 16)}),
		frame(&Frame{OuterIPv4: &IPv4Fields{TTL: 1, Src: dir4, Dst: real4}, IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4},
			TCP: &TCPFields{SrcPort: 1, DstPort: 2}}),
		frame(&Frame{OuterIPv6: &IPv6Fields{HopLimit: 1, Src: dir6, Dst: real6}, OuterUDP: &UDPFields{SrcPort: 1, DstPort: 6080},
			GUE: &GUEFields{}, IPv4: &IPv4Fields{TTL: 1, Src: client4, Dst: vip4}, UDP: &UDPFields{SrcPort: 3, DstPort: 4}}),
		frame(&Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: client6, Dst: vip6, ExtHeaders: make8(ProtoIPv6Opts, 9)}}),
		append(frame(tcp4Frame()), make([]byte, 10)...), // Ethernet padding
		tcp4[:13],
		tcp4[:40],
		with(tcp4, 14, 0x4f),
		with(tcp4, 34+12, 0x40),
		tcp6[:len(tcp6)-1],
	}
}

type embeddedSeed struct {
	b   []byte
	off int
}

func embeddedSeeds() []embeddedSeed {
	var seeds []embeddedSeed
	for _, b := range decodeSeeds() {
		var p Parsed
		if Decode(b, &p) == OK && p.Flags.Has(FlagL4) && (p.Proto == ProtoICMP || p.Proto == ProtoICMPv6) {
			seeds = append(seeds, embeddedSeed{b, int(p.PayOff)})
			seeds = append(seeds, embeddedSeed{b[:int(p.PayOff)+24], int(p.PayOff)})
		}
	}
	sctp6 := AppendPacket(nil, &Frame{IPv6: &IPv6Fields{HopLimit: 1, Src: vip6, Dst: client6, ExtHeaders: []IPv6ExtHeader{{Type: ProtoIPv6Opts}}},
		SCTP: &SCTPFields{SrcPort: 1, DstPort: 2, Chunks: []SCTPChunk{{Type: SCTPData}, {Type: SCTPSack}}}})
	seeds = append(seeds, embeddedSeed{sctp6, 0}, embeddedSeed{sctp6[:57], 0}, embeddedSeed{sctp6, 3})
	return seeds
}

func roundTripSeeds() []frameSpec {
	addrs := append(client6.AsSlice(), vip6.AsSlice()...)
	addrs4 := append(append(make([]byte, 0, 32), client4.AsSlice()...), make([]byte, 12)...)
	addrs4 = append(addrs4, vip4.AsSlice()...)
	return []frameSpec{
		{l4: 0, sport: 40000, dport: 80, seq: 1, tcpFlags: uint8(TCPSyn), ttl: 64, addrs: addrs4, l4Opts: []byte{2, 4, 5, 0xb4}, payload: []byte("hi")},
		{v6: true, l4: 1, sport: 5000, dport: 53, ttl: 64, addrs: addrs, ext: []byte{0, 1, 2, 3}, payload: []byte("query")},
		{hasVLAN: true, vlanTCI: 0x2005, l4: 2, sport: 3868, dport: 3868, ttl: 1, addrs: addrs4, l4Opts: []byte{SCTPInit, SCTPData}},
		{v6: true, l4: 3, sport: uint16(ICMPv6EchoRequest) << 8, seq: 0x10001, ttl: 255, addrs: addrs, more: true, ack: 77},
		{l4: 0, fragOff: 1480, ttl: 9, addrs: addrs4, ipOpts: []byte{1, 1, 1, 1, 0x94, 4, 0, 0}, payload: make([]byte, 20)},
	}
}

// TestFuzzSeedCorpus checks that the committed seed corpora match the seeds
// above; with -update-fuzz-seeds it rewrites them.
func TestFuzzSeedCorpus(t *testing.T) {
	corpora := map[string][]string{}
	for _, b := range decodeSeeds() {
		corpora["FuzzDecode"] = append(corpora["FuzzDecode"], corpusFile(b))
	}
	for _, s := range embeddedSeeds() {
		corpora["FuzzDecodeEmbedded"] = append(corpora["FuzzDecodeEmbedded"], corpusFile(s.b, s.off))
	}
	for _, s := range roundTripSeeds() {
		corpora["FuzzRoundTrip"] = append(corpora["FuzzRoundTrip"], corpusFile(s.v6, s.vlanTCI, s.hasVLAN, s.l4, s.sport, s.dport,
			s.seq, s.ack, s.tcpFlags, s.ttl, s.tos, s.id, s.fragOff, s.more, s.addrs, s.ipOpts, s.ext, s.l4Opts, s.payload))
	}
	for name, files := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, content := range files {
			path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestFuzzSeedCorpus -update-fuzz-seeds)", err)
			}
			if !bytes.Equal(got, []byte(content)) {
				t.Errorf("%s is stale (run go test -run TestFuzzSeedCorpus -update-fuzz-seeds)", path)
			}
		}
	}
}

// corpusFile formats values in the "go test fuzz v1" corpus format.
func corpusFile(vals ...any) string {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		default:
			panic(fmt.Sprintf("corpusFile: %T", v))
		}
	}
	return b.String()
}
