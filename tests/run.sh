#!/usr/bin/env bash
# Runs every test binary, the fuzz corpus replays, the shell tests of the scripts
# and Makefile (tests/scripts), the JS schema checks, the offline checks of the
# deployment files, the LiveKit test server's proof and the console;
# sums their "N passed, M failed" lines into the suite's closing line.
# TESTS="glob ..." runs only the suites whose name (unit/test_core,
# integration/test_bus, fuzz/fuzz_rtp, scripts/test_make, js/console, ...)
# matches one of the globs. Under ThreadSanitizer every process of a suite
# (the test and the services it starts) writes its reports to
# $BUILD/test-logs/tsan/<suite>/; a suite with a report fails, and the
# reports are printed after its log (tests/tsan.supp: third-party code only).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CALLMESH_BUILD="$BUILD"
export PATH="$PWD/$BUILD/bin:$PATH"
log_dir="$BUILD/test-logs"; mkdir -p "$log_dir"
total_pass=0; total_fail=0; failed_suites=()

tally() { # name logfile exitcode
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
  if [ -z "$line" ]; then p=0; f=1; else p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}; fi
  [ "$3" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  [ "$f" -ne 0 ] && failed_suites+=("$1")
}

selected() { # name
  [ -z "${TESTS:-}" ] && return 0
  local g
  for g in $TESTS; do
    # shellcheck disable=SC2053 # the glob is the point
    [[ $1 == $g ]] && return 0
  done
  return 1
}

run_suite() { # name cmd...
  local name=$1; shift
  selected "$name" || return 0
  local logf="$log_dir/${name//\//_}.log" tsan_dir="$log_dir/tsan/${name//\//_}"
  rm -rf "$tsan_dir"; mkdir -p "$tsan_dir"
  TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS }suppressions=$PWD/tests/tsan.supp log_path=$PWD/$tsan_dir/report" \
    "$@" >"$logf" 2>&1
  local rc=$?
  if compgen -G "$tsan_dir/report.*" >/dev/null; then
    echo "ThreadSanitizer reports from $name (in $tsan_dir):" >>"$logf"
    cat "$tsan_dir"/report.* >>"$logf"
    [ "$rc" -eq 0 ] && rc=66
  fi
  cat "$logf"
  tally "$name" "$logf" "$rc"
}

for t in "$BUILD"/tests/unit/test_* "$BUILD"/tests/integration/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d|*.o) continue ;; esac
  run_suite "${t#"$BUILD"/tests/}" timeout 600 "$t"
done

for r in "$BUILD"/fuzz/*-replay; do
  [ -x "$r" ] || continue
  name=$(basename "$r" -replay)
  run_suite "fuzz/$name" timeout 300 "$r" "tests/fuzz/corpus/${name#fuzz_}"
done

for s in tests/scripts/test_*.sh; do
  [ -x "$s" ] || continue
  run_suite "scripts/$(basename "$s" .sh)" timeout 600 "$s"
done

if [ -f tests/js/package.json ]; then
  run_suite js/schemas node tests/js/run.mjs
  run_suite js/deploy node tests/js/deploy.mjs
  # the LiveKit test server proven by LiveKit's clients (WebRTC: in a namespace, root)
  run_suite js/livekit env NODE_ENV=production timeout 600 tests/netns/run.sh node tests/js/livekit.mjs
  run_suite js/console timeout 600 node tests/js/console.mjs
  run_suite js/console-livekit timeout 600 tests/netns/run.sh node tests/js/console.mjs --livekit
fi

echo
# why each failed suite failed, here at the end where a truncated log still
# shows it: its FAIL lines, or its last lines when it died without one
for name in "${failed_suites[@]}"; do
  logf="$log_dir/${name//\//_}.log"
  echo "--- $name ($logf):"
  if grep -q '^FAIL' "$logf"; then grep '^FAIL' "$logf" | head -n 5 | cut -c1-400
  else tail -n 12 "$logf" | cut -c1-400; fi
done
if [ ${#failed_suites[@]} -gt 0 ]; then echo "failed suites: ${failed_suites[*]}"; fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
