package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file. Line and Col are 1-based;
// 0 means unknown (YAML syntax errors carry a line but no column; a Config
// built in code carries no positions). Field is the path of the bad value,
// e.g. "services[1].real_servers[0].weight"; empty for problems of the file
// as a whole.
type Error struct {
	File      string
	Line, Col int
	Field     string
	Msg       string
	Err       error // the cause, when a service.Set refused a value (Msg is its text); nil for parse problems
}

// Unwrap returns the cause (a service.Set error wrapping ErrRange,
// ErrServiceExists, ...), if any.
func (e *Error) Unwrap() error { return e.Err }

// Error formats the problem as "FILE:LINE:COL: FIELD: MSG", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in file order.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the problems for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds the report for a hopeless file.
const maxErrors = 100

// sorted returns es in file order (stable for problems at one place),
// trimmed to maxErrors with a last line saying how many were left out.
func (es Errors) sorted(file string) Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *Error) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
	if len(out) > maxErrors {
		n := len(out) - maxErrors
		out = append(out[:maxErrors:maxErrors], &Error{File: file, Msg: strconv.Itoa(n) + " more problems not shown"})
	}
	return out
}
