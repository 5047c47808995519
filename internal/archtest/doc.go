// Package archtest holds no code, only tests that guard the shape of the
// module (docs/design.md, "Layers"):
//
//   - TestLayering: a package imports only packages of strictly lower
//     layers. L0 clock, packet, link; L1 state, service, sched (sched may
//     import service, the one same-layer import allowed); L2 conntrack,
//     forward; L3 director; L4 sim, listing and every other package
//     (control plane); L5 cmd/... . A package not in the table is treated
//     as L4 and the failure message asks to classify it. Packages below L3
//     must not import "log" or "log/..." (log/slog, log/syslog).
//   - TestNoGopacketOutsideTests: github.com/google/gopacket is for
//     *_test.go files only.
//   - TestPackageDocs: every package of the module, commands included, has
//     a package doc comment.
//
// The tests read the module with `go list -e -json ./...` run from the
// module root; they skip when no go command is found, except with CI=true,
// where that is a failure. Only non-test imports are checked. To add a
// package, put it in the layer table in layers_test.go.
//
// Not for: anything imported by other packages (it exports nothing).
package archtest
