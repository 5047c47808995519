package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of one Parse: every node visited counts,
// also each time an alias is expanded, so a file of nested aliases
// ("billion laughs") is refused instead of expanded.
const maxNodes = 1 << 20

// parser walks a yaml.Node tree and collects problems.
type parser struct {
	file   string
	errs   Errors
	budget int
	over   *Error // budget exhausted: the only problem reported
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// resolve follows aliases and counts the node against the budget. It
// returns nil once the budget is exhausted.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
		p.budget--
	}
	p.budget--
	if p.budget < 0 {
		if p.over == nil {
			p.over = &Error{File: p.file, Msg: fmt.Sprintf("the file is too large: more than %d YAML nodes after expanding aliases", maxNodes)}
		}
		return nil
	}
	return n
}

// isNull reports whether n is absent or an explicit null ("key:" or "~").
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// field is one key: value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fields returns the pairs of mapping n by key, reporting keys that are
// unknown (with a suggestion), given twice or not plain. A null n is an
// empty mapping. ok is false when n is not a mapping at all.
func (p *parser) fields(n *yaml.Node, path string, known []string) (map[string]field, bool) {
	m := make(map[string]field)
	if n == nil {
		return m, true
	}
	if n = p.resolve(n); n == nil {
		return m, false
	}
	if isNull(n) {
		return m, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping (key: value), got %s", kindName(n))
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i])
		if k == nil {
			return m, false
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key must be a plain word, got %s", kindName(k))
			continue
		}
		name := k.Value
		fp := join(path, name)
		if name == "<<" && k.ShortTag() == "!!merge" {
			p.errorf(k, fp, "merge keys (<<) are not supported; repeat the keys or use an alias for the whole value")
			continue
		}
		if !contains(known, name) {
			if s := suggest(name, known); s != "" {
				p.errorf(k, fp, "unknown key, did you mean %q?", s)
			} else {
				p.errorf(k, fp, "unknown key (known here: %s)", strings.Join(known, ", "))
			}
			continue
		}
		if prev, dup := m[name]; dup {
			p.errorf(k, fp, "given twice (first at line %d)", prev.key.Line)
			continue
		}
		m[name] = field{key: k, val: n.Content[i+1]}
	}
	return m, true
}

// list returns the items of sequence n (null: none). ok is false when n is
// not a sequence.
func (p *parser) list(n *yaml.Node, path, what string) ([]*yaml.Node, bool) {
	if n == nil {
		return nil, true
	}
	if n = p.resolve(n); n == nil {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list of %s, got %s", what, kindName(n))
		return nil, false
	}
	return n.Content, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suggest returns the known word closest to s when it is close enough to
// be a typo: the same word modulo case and -/_, or within a small edit
// distance.
func suggest(s string, known []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	best, bestD := "", 1<<30
	for _, k := range known {
		if norm(k) == norm(s) {
			return k
		}
		d := editDistance(norm(s), norm(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 1
	if len(s) >= 5 {
		limit = 2
	}
	if len(s) >= 10 {
		limit = 3
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes), with an
// adjacent swap counting as one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// scalar returns the text of scalar n, reporting a missing value or a
// list/mapping where a single value belongs. want describes the value.
func (p *parser) scalar(n *yaml.Node, path, want string) (*yaml.Node, string, bool) {
	n = p.resolve(n)
	switch {
	case n == nil:
		return nil, "", false
	case isNull(n):
		p.errorf(n, path, "no value, want %s", want)
		return nil, "", false
	case n.Kind != yaml.ScalarNode:
		p.errorf(n, path, "want %s, got %s", want, kindName(n))
		return nil, "", false
	}
	return n, n.Value, true
}

// str returns a non-empty string.
func (p *parser) str(n *yaml.Node, path, want string) (string, bool) {
	n, s, ok := p.scalar(n, path, want)
	if ok && s == "" {
		p.errorf(n, path, "empty, want %s", want)
		return "", false
	}
	return s, ok
}

// parseInt accepts decimal with an optional sign, or 0x hexadecimal.
func parseInt(s string) (int64, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok && h != "" && h[0] != '+' && h[0] != '-' {
		v, err := strconv.ParseUint(h, 16, 63)
		return int64(v), err
	}
	return strconv.ParseInt(s, 10, 64)
}

// number returns an integer in lo..hi. unit, if not empty, follows the
// range in messages ("1..2678400 seconds").
func (p *parser) number(n *yaml.Node, path string, lo, hi int64, unit string) (int64, bool) {
	rng := fmt.Sprintf("%d..%d", lo, hi)
	if unit != "" {
		rng += " " + unit
	}
	n, s, ok := p.scalar(n, path, "a number "+rng)
	if !ok {
		return 0, false
	}
	tag := n.ShortTag()
	v, err := parseInt(s)
	if (err != nil && !isRange(err)) || (tag != "!!int" && tag != "!!str" && (tag != "!!float" || err == nil)) {
		p.errorf(n, path, "%q is not a number %s", s, rng)
		return 0, false
	}
	if err != nil || v < lo || v > hi {
		p.errorf(n, path, "%s is out of range %s", s, rng)
		return 0, false
	}
	return v, true
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// boolean returns true or false; YAML's true/True/TRUE and false forms.
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n, s, ok := p.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	if n.ShortTag() == "!!bool" {
		return strings.EqualFold(s, "true"), true
	}
	p.errorf(n, path, "%q is not a boolean (true or false)", s)
	return false, false
}

// enum returns one of the allowed words.
func (p *parser) enum(n *yaml.Node, path string, allowed []string) (string, bool) {
	want := "one of " + strings.Join(allowed, ", ")
	n, s, ok := p.scalar(n, path, want)
	if !ok {
		return "", false
	}
	if contains(allowed, s) {
		return s, true
	}
	msg := fmt.Sprintf("%q is not %s", s, want)
	if sg := suggest(s, allowed); sg != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", sg)
	}
	p.errorf(n, path, "%s", msg)
	return "", false
}

// shortDuration returns a Go duration ("20us", "1ms") in 0..hi; a plain 0
// is accepted too.
func (p *parser) shortDuration(n *yaml.Node, path string, hi time.Duration) (time.Duration, bool) {
	n, s, ok := p.scalar(n, path, "a duration like 20us (0 to "+hi.String()+")")
	if !ok {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, path, "%q is not a duration like 20us or 1ms", s)
		return 0, false
	}
	if d < 0 || d > hi {
		p.errorf(n, path, "%s is out of range 0..%s", s, hi)
		return 0, false
	}
	return d, true
}

// seconds returns a whole number of seconds in lo..hi, given as a number
// of seconds or as a Go duration ("900s", "15m").
func (p *parser) seconds(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	rng := fmt.Sprintf("%d..%d seconds", lo, hi)
	n, s, ok := p.scalar(n, path, "seconds "+rng+" or a duration like 15m")
	if !ok {
		return 0, false
	}
	if n.ShortTag() == "!!int" || n.ShortTag() == "!!str" {
		if _, err := parseInt(s); err == nil || isRange(err) {
			return p.number(n, path, lo, hi, "seconds")
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || n.ShortTag() != "!!str" {
		p.errorf(n, path, "%q is not a number of seconds or a duration like 900s or 15m", s)
		return 0, false
	}
	if d%time.Second != 0 {
		p.errorf(n, path, "%s is not a whole number of seconds", s)
		return 0, false
	}
	if v := int64(d / time.Second); v >= lo && v <= hi {
		return v, true
	}
	p.errorf(n, path, "%s is out of range %s", s, rng)
	return 0, false
}

// size returns a byte count in lo..hi: a plain integer or a number with a
// B, KiB, MiB, GiB or TiB suffix.
func (p *parser) size(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	rng := fmt.Sprintf("%s..%s", formatSize(lo), formatSize(hi))
	want := "a size " + rng + " (bytes, or a number with B, KiB, MiB, GiB or TiB)"
	n, s, ok := p.scalar(n, path, want)
	if !ok {
		return 0, false
	}
	num, mult := s, int64(1)
	for _, u := range [...]struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	tag := n.ShortTag()
	if (tag != "!!int" && tag != "!!str") || (err != nil && !isRange(err)) || num == "" || num[0] == '+' {
		p.errorf(n, path, "%q is not %s", s, want)
		return 0, false
	}
	if err != nil || v < 0 || v > hi/mult || v*mult < lo {
		p.errorf(n, path, "%s is out of range %s", s, rng)
		return 0, false
	}
	return v * mult, true
}

// formatSize writes n with the largest binary suffix that divides it.
func formatSize(n int64) string {
	for _, u := range [...]struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
