// Package netns builds throw-away network-namespace topologies and runs
// programs inside them, for `vsd lab`, the root integration tests and the
// datapath benchmark.
//
// A Lab owns everything it makes: named namespaces (`ip netns add
// PREFIX-NAME`), veth pairs inside them, background processes (each in its
// own process group, logging to a file in the lab's directory) and that
// directory. Close removes all of it, also after a failed step; callers
// defer Close, and CloseOnSignal makes Ctrl-C do the same. New first sweeps
// whatever an earlier, crashed run with the same prefix left behind.
//
// It shells out to iproute2's `ip` for set-up (the same commands a person
// would type, so errors read naturally) and uses netlink only for reading
// counters. It needs root.
//
// When not to use it: not on the datapath and not in the daemon (`vsd run`
// works in whatever namespace it is started in), and not for long-lived
// production topologies — a Lab is meant to vanish when its program ends.
// One live Lab per prefix; New refuses a prefix another live Lab holds.
package netns
