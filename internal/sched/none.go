package sched

import "github.com/vsd/vsd/internal/service"

// noScheduler is "none": scheduling always fails.
type noScheduler struct{}

func (noScheduler) Name() string                            { return "none" }
func (noScheduler) Update([]*service.Dest)                  {}
func (noScheduler) Schedule(*service.Request) *service.Dest { return nil }
