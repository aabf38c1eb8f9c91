#!/usr/bin/env bash
# Runs the comparison benchmark (bench/run.mjs): installs and builds what it
# needs first (scripts/setup.sh --test: Chromium, npm packages, Garage, the
# wasm package, the dev server), then passes its arguments on.
#   scripts/bench.sh                 everything (47 minutes on 2 cores on 2026-12-03)
#   scripts/bench.sh --quick         256 MiB, one run (a few minutes)
#   scripts/bench.sh --help          the flags
# BENCH_SKIP_SETUP=1 skips the set-up (when everything is built already).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ "${BENCH_SKIP_SETUP:-}" != 1 ]; then
  "$ROOT/scripts/setup.sh" --test
fi
step "the benchmark (bench/run.mjs $*)"
exec node bench/run.mjs "$@"
