// Package config reads the daemon's YAML configuration file (`vsd run
// --config FILE`), validates all of it before anything is applied, and
// reconciles a live service.Set with it.
//
// Parse walks the yaml.Node tree itself (go.yaml.in/yaml/v3) so that every
// problem is reported with its file, line, column and field path
// ("vsd.yaml:12:17: services[1].real_servers[0].weight: -1 is out of range
// 0..65535"), all problems at once, in file order. Parse checks everything
// that does not depend on the machine, with the same rules ipvsadm and the
// kernel apply (weight 0..65535, persistence 1..2678400 s, port 0 needs
// persistence, one-packet scheduling only for UDP, address families mix
// only with tunnelling, ...): when Parse succeeds, Build succeeds. Check
// adds the machine-dependent checks (interfaces and CPUs exist).
//
// Build makes a fresh service.Set at start; Apply edits a running one in
// place on reload (SIGHUP), keeping the service.Dest objects, their
// counters and the schedulers' state, so established connections keep
// their real servers. The schema is documented by testdata/vsd.yaml.
//
// Not for: the packet path (nothing here is fast or allocation-free), the
// ipvsadm command-line grammar (that is vsadm's), or the engine's own
// settings that a reload cannot change (Config.RestartFields lists them).
package config
