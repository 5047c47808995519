package benchlab

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	cases := []struct {
		in            []float64
		med, min, max float64
		n             int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{[]float64{7}, 7, 7, 7, 1},
		{[]float64{math.NaN(), 5, 1, math.NaN()}, 3, 1, 5, 2},
	}
	for _, c := range cases {
		s := Summarize(c.in)
		if s.Median != c.med || s.Min != c.min || s.Max != c.max || s.N != c.n {
			t.Errorf("Summarize(%v) = %+v; want median %v min %v max %v n %d", c.in, s, c.med, c.min, c.max, c.n)
		}
	}
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 {
		t.Errorf("Summarize sorted its input: %v", in)
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("Summarize(nil) = %+v", s)
	}
	if s := Summarize([]float64{math.NaN()}); s.N != 0 {
		t.Errorf("all NaN: %+v", s)
	}
}

func TestSpread(t *testing.T) {
	if got := Summarize([]float64{90, 100, 110}).Spread(); math.Abs(got-0.2) > 1e-12 {
		t.Errorf("spread %v; want 0.2", got)
	}
	if got := Summarize([]float64{5}).Spread(); got != 0 {
		t.Errorf("spread of one value %v; want 0", got)
	}
	if got := Summarize(nil).Spread(); !math.IsNaN(got) {
		t.Errorf("spread of nothing %v; want NaN", got)
	}
}

func TestFormatSummary(t *testing.T) {
	for _, c := range []struct {
		s    Summary
		prec int
		want string
	}{
		{Summarize([]float64{575.24, 560.1, 590.35}), 1, "575.2 (560.1–590.4)"},
		{Summarize([]float64{0.7}), 3, "0.700"},
		{Summarize(nil), 0, "–"},
	} {
		if got := FormatSummary(c.s, c.prec); got != c.want {
			t.Errorf("FormatSummary(%+v) = %q; want %q", c.s, got, c.want)
		}
	}
}

func TestCPUArithmetic(t *testing.T) {
	// 0.5 s of CPU1 for 700 000 packets is 0.714 µs per packet.
	if got := PerUnit(500*time.Millisecond, 700000); math.Abs(got-0.7142857) > 1e-6 {
		t.Errorf("PerUnit = %v µs; want 0.714", got)
	}
	// 2.4 s for 100 000 requests: 24 µs each.
	if got := PerUnit(2400*time.Millisecond, 100000); math.Abs(got-24) > 1e-9 {
		t.Errorf("PerUnit = %v µs; want 24", got)
	}
	if got := PerUnit(time.Second, 0); !math.IsNaN(got) {
		t.Errorf("PerUnit with no packets = %v; want NaN", got)
	}
	if got := Rate(1500000, 3*time.Second); got != 500000 {
		t.Errorf("Rate = %v; want 500000", got)
	}
	if got := Rate(1, 0); !math.IsNaN(got) {
		t.Errorf("Rate over 0 s = %v; want NaN", got)
	}
	if delta(10, 25) != 15 || delta(25, 10) != 0 {
		t.Errorf("delta: %d %d", delta(10, 25), delta(25, 10))
	}
}

func TestReport(t *testing.T) {
	o := QuickOptions()
	o.Runs = 3
	rep := &Report{Options: o, Machine: "2 CPUs (nproc), Linux 6.18, Test CPU", Started: time.Unix(0, 0), Command: "vsbench datapath --runs 3",
		Results: []Measurement{
			{Candidate: NFT, UDP: true, SatDelivered: []float64{600e3, 575e3, 690e3}, SatGen: []float64{700e3, 690e3, 710e3},
				FixCPU: []float64{0.7, 0.72, 0.69}, FixDelivered: []float64{3e5, 3e5, 3e5}, FixGen: []float64{3e5, 3e5, 3e5},
				KAReqs: []float64{25000, 24000, 26000}, KACPU: []float64{2, 2.1, 1.9}, KAP99: []float64{4, 5, 6}, KAFailed: []float64{0, 0, 0},
				CloseReqs: []float64{8300}, CloseCPU: []float64{52.5}, CloseP99: []float64{9}, CloseFailed: []float64{0}},
			{Candidate: HAProxy, KAReqs: []float64{25500}, IdleShare: 0.2},
			{Candidate: VSDAFXDP, UDP: true, Err: errWrap("vsd exited\nlog line"), FixDelivered: []float64{100e3}, FixGen: []float64{300e3}},
		}}
	var text, md strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Test CPU", "1970-01-01", "vsbench datapath --runs 3", "600 (575–690)", "0.700 (0.690–0.720)", "25000 (24000–26000)", "n/a",
		"vsd-afxdp: NOT (fully) MEASURED: vsd exited …", "haproxy: CPU1 was 20 % busy", "vsd-afxdp: at the fixed rate only 100 of 300 kpps"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	for _, want := range []string{"| kernel nftables DNAT, numgen inc mod 3 | 600 (575–690) |", "| HAProxy, TCP mode, 1 thread | n/a | n/a |", "|---|", "- vsd-afxdp: NOT"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
}

type errWrap string

func (e errWrap) Error() string { return string(e) }

func TestCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModel(in); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("nothing"); got != "unknown CPU" {
		t.Errorf("cpuModel without a model = %q", got)
	}
}

func TestParseCandidates(t *testing.T) {
	cs, err := ParseCandidates("nft, none")
	if err != nil || len(cs) != 2 || cs[0] != NFT || cs[1] != None {
		t.Errorf("ParseCandidates = %v, %v", cs, err)
	}
	if cs, err := ParseCandidates("all"); err != nil || len(cs) != 5 {
		t.Errorf("all = %v, %v", cs, err)
	}
	if _, err := ParseCandidates("nft,ipvs"); err == nil || !strings.Contains(err.Error(), `"ipvs"`) {
		t.Errorf("unknown candidate: %v", err)
	}
}
