// Package clock defines the time value that flows through the datapath.
//
// Nothing below the director reads the wall clock: every function that
// needs the time takes a clock.Time argument, so timeouts can be tested in
// virtual time (a 15-minute ESTABLISHED timeout runs instantly in a test).
// The daemon turns its monotonic clock into a clock.Time once per batch.
package clock

import "time"

// Time is a monotonic instant in nanoseconds since an arbitrary origin.
// Only differences between two Times are meaningful.
type Time int64

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Seconds returns the Time s whole seconds after the origin; handy in tests.
func Seconds(s int64) Time { return Time(s * int64(time.Second)) }
