package sched

import "github.com/vsd/vsd/internal/siphash"

// sipKey is the SipHash key of the hash schedulers.
type sipKey = siphash.Key
