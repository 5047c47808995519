#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME (default 10s) on top of
# its committed seed corpus. A target fails on a real finding: a crasher
# written to testdata/fuzz, a panic, a failed check. A bare "context
# deadline exceeded" with no crasher is Go's own shutdown race when the
# -fuzztime deadline meets a busy worker (golang/go#75804, fixed in Go
# 1.27): that target is run once more and must then pass.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    for try in 1 2; do
      echo "fuzz $pkg $t"
      before=$(find "$dir/testdata/fuzz/$t" -type f 2>/dev/null | wc -l)
      if $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
        break
      fi
      after=$(find "$dir/testdata/fuzz/$t" -type f 2>/dev/null | wc -l)
      if [ "$try" = 1 ] && [ "$before" = "$after" ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input\|panic:' "$log"; then
        echo "fuzz $pkg $t: Go's fuzz deadline race (no crasher written); running it once more"
        continue
      fi
      cat "$log"
      exit 1
    done
  done
done
