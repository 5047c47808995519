package benchlab

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatSummary prints a median with its range: "575.2 (560.1–590.3)",
// just the median for one value, "–" for none. prec is the digits after
// the point.
func FormatSummary(s Summary, prec int) string {
	if s.N == 0 {
		return "–"
	}
	m := fmt.Sprintf("%.*f", prec, s.Median)
	if s.N == 1 {
		return m
	}
	return fmt.Sprintf("%s (%.*f–%.*f)", m, prec, s.Min, prec, s.Max)
}

// column is one figure of the table.
type column struct {
	head  string
	udp   bool // n/a without the UDP tests
	prec  int
	scale float64
	get   func(*Measurement) []float64
}

func columns(o Options) []column {
	rate := fmt.Sprintf("%.0fk", o.Rate/1000)
	return []column{
		{"UDP sat. kpps at servers", true, 0, 1e-3, func(m *Measurement) []float64 { return m.SatDelivered }},
		{"generator kpps", true, 0, 1e-3, func(m *Measurement) []float64 { return m.SatGen }},
		{"µs/pkt @" + rate, true, 3, 1, func(m *Measurement) []float64 { return m.FixCPU }},
		{"kpps at servers @" + rate, true, 0, 1e-3, func(m *Measurement) []float64 { return m.FixDelivered }},
		{"generator kpps @" + rate, true, 0, 1e-3, func(m *Measurement) []float64 { return m.FixGen }},
		{"keep-alive req/s", false, 0, 1, func(m *Measurement) []float64 { return m.KAReqs }},
		{"µs/req", false, 1, 1, func(m *Measurement) []float64 { return m.KACPU }},
		{"p99 ms", false, 2, 1, func(m *Measurement) []float64 { return m.KAP99 }},
		{"failed", false, 0, 1, func(m *Measurement) []float64 { return m.KAFailed }},
		{"close conn/s", false, 0, 1, func(m *Measurement) []float64 { return m.CloseReqs }},
		{"µs/conn", false, 1, 1, func(m *Measurement) []float64 { return m.CloseCPU }},
		{"p99 ms (close)", false, 2, 1, func(m *Measurement) []float64 { return m.CloseP99 }},
		{"failed (close)", false, 0, 1, func(m *Measurement) []float64 { return m.CloseFailed }},
	}
}

func scaled(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * k
	}
	return out
}

// cells is one row of formatted figures.
func (r *Report) cells(m *Measurement) []string {
	var out []string
	for _, c := range columns(r.Options) {
		if c.udp && !m.UDP {
			out = append(out, "n/a")
			continue
		}
		out = append(out, FormatSummary(Summarize(scaled(c.get(m), c.scale)), c.prec))
	}
	return out
}

// Header is the line naming machine, date and command.
func (r *Report) Header() string {
	return fmt.Sprintf("machine: %s; date: %s; command: %s", r.Machine, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Command)
}

// Setup says what was measured, for the text and the Markdown.
func (r *Report) Setup() string {
	o := r.Options
	return fmt.Sprintf("median of %d run(s), (min–max); UDP: 64-byte frames, 64 flows, sendmmsg batches of 64, %v per run, fixed rate %.0f pps; "+
		"HTTP: wrk 1 thread, %d connections, %v per run, nginx ×%d, %d-byte bodies; generator, wrk and real servers on CPU%d, "+
		"all director work on CPU%d (taskset + RPS); director CPU = CPU%d busy time (/proc/stat) / packets delivered, requests or connections",
		o.Runs, o.UDPDuration, o.Rate, o.Connections, o.HTTPDuration, numServers, bodySize, genCPU, dirCPU, dirCPU)
}

// WriteText prints the table for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "vsbench datapath — %s\n%s\n\n", r.Header(), r.Setup())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	heads := []string{"candidate"}
	for _, c := range columns(r.Options) {
		heads = append(heads, c.head)
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for i := range r.Results {
		m := &r.Results[i]
		fmt.Fprintln(tw, string(m.Candidate)+"\t"+strings.Join(r.cells(m), "\t"))
	}
	tw.Flush()
	r.notes(&b, "")
	if r.Duration > 0 {
		fmt.Fprintf(&b, "total time %v\n", r.Duration.Round(time.Second))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// busyWarn is the idle CPU1 share above which a row is flagged: something
// else on the machine ran on the director's CPU.
const busyWarn = 0.05

// notes are the lines under the table, each starting with bullet.
func (r *Report) notes(b *strings.Builder, bullet string) {
	for _, m := range r.Results {
		if m.Datapath != "" {
			fmt.Fprintf(b, "%s%s: vsd datapath %s\n", bullet, m.Candidate, m.Datapath)
		}
		if m.Err != nil {
			fmt.Fprintf(b, "%s%s: NOT (fully) MEASURED: %s\n", bullet, m.Candidate, firstLine(m.Err.Error()))
		}
		if !m.UDP {
			fmt.Fprintf(b, "%s%s: UDP packet tests n/a (a TCP proxy)\n", bullet, m.Candidate)
		}
		if m.UDP && len(m.FixDelivered) > 0 {
			if d, g := Summarize(m.FixDelivered).Median, Summarize(m.FixGen).Median; d < 0.95*g {
				fmt.Fprintf(b, "%s%s: at the fixed rate only %.0f of %.0f kpps offered got through: its µs/packet is at overload, not at the offered rate\n",
					bullet, m.Candidate, d/1000, g/1000)
			}
		}
		if m.IdleShare > busyWarn {
			fmt.Fprintf(b, "%s%s: CPU%d was %.0f %% busy before traffic started (other work on the machine): its CPU figures are inflated\n",
				bullet, m.Candidate, dirCPU, 100*m.IdleShare)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// WriteMarkdown prints the block for docs/BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Datapath side by side (`make bench-datapath`)\n\n")
	fmt.Fprintf(&b, "Command: `%s`. Machine: %s. Date: %s.\n\n", r.Command, r.Machine, r.Started.UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "%s.\n\n", strings.ToUpper(r.Setup()[:1])+r.Setup()[1:])
	heads := []string{"director"}
	for _, c := range columns(r.Options) {
		heads = append(heads, c.head)
	}
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(heads, " | "), strings.Repeat("---|", len(heads)))
	for i := range r.Results {
		m := &r.Results[i]
		fmt.Fprintf(&b, "| %s | %s |\n", m.Candidate.Describe(), strings.Join(r.cells(m), " | "))
	}
	b.WriteString("\n")
	r.notes(&b, "- ")
	_, err := io.WriteString(w, b.String())
	return err
}
