package config

import (
	"fmt"
	"net"
)

// Check does the checks that depend on the machine: every interface
// exists (ifaceExists; nil asks the kernel with net.InterfaceByName), none
// is listed twice, and every CPU in cpus is one this process may run on.
// Problems come as Errors in the same format as Parse's.
func (c *Config) Check(ifaceExists func(name string) bool) error {
	return c.CheckWith(ifaceExists, nil)
}

// CheckWith is Check with the CPU test given too (nil: the CPUs in this
// process's affinity mask, see cpuAllowed).
func (c *Config) CheckWith(ifaceExists func(name string) bool, cpuExists func(cpu int) bool) error {
	if ifaceExists == nil {
		ifaceExists = func(name string) bool {
			_, err := net.InterfaceByName(name)
			return err == nil
		}
	}
	var errs Errors
	add := func(line, col int, field, format string, args ...any) {
		errs = append(errs, &Error{File: c.Path, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	first := map[string]int{}
	for i, in := range c.Interfaces {
		field := index("interfaces", i) + ".name"
		if l, dup := first[in.Name]; dup {
			if l > 0 {
				add(in.Line, in.Col, field, "%q is listed twice (first at line %d)", in.Name, l)
			} else {
				add(in.Line, in.Col, field, "%q is listed twice", in.Name)
			}
			continue
		}
		first[in.Name] = in.Line
		if !ifaceExists(in.Name) {
			add(in.Line, in.Col, field, "no interface %q on this host", in.Name)
		}
	}
	if len(c.CPUs) > 0 {
		desc := ""
		if cpuExists == nil {
			cpuExists, desc = cpuAllowed()
		}
		seen := map[int]bool{}
		for i, cpu := range c.CPUs {
			var pos Pos
			if i < len(c.cpuPos) {
				pos = c.cpuPos[i]
			}
			switch {
			case seen[cpu]:
				add(pos.Line, pos.Col, index("cpus", i), "CPU %d is listed twice", cpu)
			case !cpuExists(cpu):
				msg := fmt.Sprintf("CPU %d does not exist or is not allowed for this process", cpu)
				if desc != "" {
					msg += " (allowed: " + desc + ")"
				}
				add(pos.Line, pos.Col, index("cpus", i), "%s", msg)
			}
			seen[cpu] = true
		}
	}
	if len(errs) > 0 {
		return errs.sorted(c.Path)
	}
	return nil
}
