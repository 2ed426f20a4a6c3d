#!/usr/bin/env bash
# Runs every benchmark binary in $BUILD/bench (each bounded in time, each
# starting its own nats-server unless NATS_URL is set) and prints their
# figures. Figures are reported against targets; a bench fails only when it
# cannot run.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
rc=0
found=0
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  case "$b" in *.d|*.o) continue ;; esac
  found=1
  # bench_relay runs two backends (local, then LiveKit through the test server)
  limit=120; case "$b" in */bench_relay) limit=300 ;; esac
  timeout "$limit" "$b" || { echo "$(basename "$b"): failed ($?)"; rc=1; }
  echo
done
[ "$found" -eq 1 ] || echo "no benchmarks in $BUILD/bench"
exit $rc
