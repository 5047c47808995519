package steer

import (
	"regexp"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestProgramSizes loads every program with verifier statistics and logs
// its size (instructions, as the kernel counts them) and how many
// instructions the verifier walked. Sizes are kept far below the limits so
// a change that blows up verification shows here.
func TestProgramSizes(t *testing.T) {
	p := loadTestPrograms(t)
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer xsks.Close()
	dm, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: keySize, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	processed := regexp.MustCompile(`processed (\d+) insns`)
	for _, c := range []struct {
		name  string
		typ   ebpf.ProgramType
		insns asm.Instructions
	}{
		{"steering", ebpf.XDP, xdpSteeringInsns(p.maps, xsks)},
		{"steering test variant", ebpf.XDP, xdpSteeringInsns(p.maps, nil)},
		{"guard", ebpf.SchedCLS, guardInsns(p.maps)},
		{"decap (GUE)", ebpf.XDP, decapInsns(dm, guePort)},
		{"decap (no GUE)", ebpf.XDP, decapInsns(dm, 0)},
	} {
		prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: c.typ, Instructions: c.insns, License: "Dual MIT/GPL"},
			ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := processed.FindStringSubmatch(prog.VerifierLog)
		prog.Close()
		n := c.insns.Size() / asm.InstructionSize
		if m == nil {
			t.Fatalf("%s: no statistics in the verifier log %q", c.name, prog.VerifierLog)
		}
		t.Logf("%-22s %4d instructions, verifier processed %s", c.name, n, m[1])
		if n > 1000 {
			t.Errorf("%s: %d instructions; the classifier was meant to stay small", c.name, n)
		}
	}
}

// BenchmarkPrograms reports the kernel's time per run (BPF test run,
// including the runner's own overhead) for a service packet, a NAT reply,
// a frame that is not ours, and a GUE decapsulation.
func BenchmarkPrograms(b *testing.B) {
	p := loadTestPrograms(b)
	d := loadTestDecap(b, guePort)
	gue := decapCases()[6]
	for _, c := range []struct {
		name  string
		prog  *ebpf.Program
		frame []byte
	}{
		{"xdp/service", p.xdp, build(l4Frame(protoTCP, client, 1234, vip4, 80))},
		{"xdp/reply6", p.xdp, build(l4Frame(protoTCP, rs6, 80, cli6, 1234))},
		{"xdp/not-ours", p.xdp, build(l4Frame(protoTCP, client, 1234, other4, 22))},
		{"guard/service", p.guard.Program(), build(l4Frame(protoTCP, client, 1234, vip4, 80))},
		{"decap/" + gue.name, d.Program(), gue.in},
	} {
		b.Run(c.name, func(b *testing.B) {
			_, per, err := c.prog.Benchmark(c.frame, max(b.N, 1000), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "kernel-ns/run")
		})
	}
}
