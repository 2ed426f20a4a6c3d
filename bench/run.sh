#!/usr/bin/env bash
# Runs every benchmark binary in $BUILD/bench (each bounded in time, each
# starting its own nats-server unless NATS_URL is set) and prints their
# figures, then a closing table of every "figure" line the benches printed
# (tests/harness/bench.h), each beside its goal, and the goals of issue 15
# that no bench reported (the bench failed, timed out or was not built).
# A bench fails only when it cannot run, never on a goal.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
rc=0
found=0
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-run.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
declare -A status=()
order=()
t0=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  case "$b" in *.d|*.o) continue ;; esac
  found=1
  name=$(basename "$b")
  order+=("$name")
  # bench_relay runs two backends (local, then LiveKit through the test server)
  limit=120; case "$b" in */bench_relay) limit=300 ;; esac
  # line-buffered, so the figures keep their place among the bench's messages
  stdbuf -oL timeout "$limit" "$b" | tee "$out/$name.txt"
  st=${PIPESTATUS[0]}
  case $st in
    0) status[$name]=ok ;;
    124) status[$name]="timed out after ${limit} s"; echo "$name: timed out after ${limit} s"; rc=1 ;;
    *) status[$name]="failed ($st)"; echo "$name: failed ($st)"; rc=1 ;;
  esac
  echo
done
[ "$found" -eq 1 ] || { echo "no benchmarks in $BUILD/bench"; exit $rc; }

# Issue 15's goals: figure name, the bench that reports it, goal (op value
# unit; "-" for a figure that is only reported).
required=(
  "sip.cpu_per_call bench_sip ≤ 150 µs"
  "sip.rss_after_calls bench_sip ≤ 64 MB"
  "sip.rss_idle_above_start bench_sip ≤ 4 MB"
  "sip.peak_concurrent_calls bench_sip - - calls"
  "sip.sofia_thread_per_call bench_sip - - µs"
  "relay.calls_every_frame bench_relay ≥ 200 calls"
  "relay.carrier_to_room_p50@200 bench_relay ≤ 20 ms"
  "relay.carrier_to_room_p99@200 bench_relay ≤ 30 ms"
  "relay.cpu_per_packet_transcoding bench_relay - - µs"
  "relay.plain_vs_rtpengine bench_relay ≤ 1 ratio"
  "rtpengine.cpu_per_packet_plain bench_relay - - µs"
  "api.outbound.req_per_s bench_api ≥ 3000 req/s"
  "api.outbound.p99 bench_api ≤ 20 ms"
  "bus.core_one_way_p99 bench_bus ≤ 500 µs"
  "bus.js_acked_per_s bench_bus ≥ 20000 ev/s"
)

# s left-aligned in w characters (UTF-8: "µ" and "≤" are one each)
pad() {
  local n
  n=$(printf '%s' "$1" | LC_ALL=C tr -d '\200-\277' | wc -c)
  printf '%s%*s' "$1" $(($2 > n ? $2 - n : 0)) ""
}

echo "== make bench: every figure beside its goal ($(nproc) cores; load average" \
  "$load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(($(date +%s) - t0)) s)"
printf '%-18s %-34s %10s %-7s %-22s %s\n' bench figure value unit goal verdict
met=0; notmet=0; absent=0; reported=0
for name in "${order[@]}"; do
  while IFS= read -r line; do
    printf '%-18s %s\n' "$name" "${line#figure  }"
    case "$line" in
      *"  NOT met"*) notmet=$((notmet + 1)) ;;
      *"  met"*) met=$((met + 1)) ;;
      *"  not measured"*) absent=$((absent + 1)) ;;
      *"  reported"*) reported=$((reported + 1)) ;;
    esac
  done < <(grep -a '^figure  ' "$out/$name.txt")
done
for r in "${required[@]}"; do
  read -r fig bench op goal unit <<<"$r"
  grep -aqs "^figure  $fig " "$out"/*.txt && continue
  why=${status[$bench]:-not built}
  [ "$why" = ok ] && why="the bench did not print it"
  g="goal -"; [ "$op" = - ] || g="goal $op $goal $unit"
  printf '%-18s %-34s %10s %s %s not measured: %s\n' "$bench" "$fig" - "$(pad "$unit" 7)" \
    "$(pad "$g" 22)" "$why"
  absent=$((absent + 1))
done
echo "== goals met $met, NOT met $notmet, not measured $absent; reported without a goal $reported"
exit $rc
