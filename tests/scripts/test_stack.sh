#!/usr/bin/env bash
# scripts/stack.sh against the real things (issue 11): a service that exits at
# start fails `up` at once with its message; Ctrl-C of `run` (SIGINT to its
# process group, as a terminal sends it), also piped into tee, leaves no
# process `up` started, PostgreSQL included; the stack's PostgreSQL is durable.
# Each test has its own var directory and free ports; every process the stack
# starts carries STACK_TEST_MARK in its environment, which is how leftovers
# are found.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/scripts/lib.sh
export BUILD=${CALLMESH_BUILD:-build}
WORK=$(mktemp -d /tmp/callmesh-stack.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as postgres when we are root
# not exported: only what the stack starts carries it, not this shell's subshells
MARK="callmesh-stack-test-$$"

# marked: pids of live processes whose environment carries our mark
marked() {
  local e pid
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "STACK_TEST_MARK=$MARK" || continue
    pid_alive "$pid" && echo "$pid"
  done
  return 0
}

# whatever a failed test left behind is stopped by pid, and its data removed
cleanup_all() {
  local d p
  for d in "$WORK"/*/var; do
    [ -d "$d" ] && VAR_DIR=$d scripts/stack.sh down >/dev/null 2>&1
  done
  for p in $(marked); do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup_all EXIT

# stack_env NAME: a var directory and free ports of its own
stack_env() {
  local d="$WORK/$1"
  mkdir -p "$d"
  export VAR_DIR="$d/var"
  local v
  for v in NATS_PORT PG_PORT PHONE_PORT PHONE_MEDIA_PORT; do
    printf -v "$v" '%s' "$(free_port)"
    export "${v?}"
  done
  for v in API_ADDR SIP_BIND API_GATEWAY_HEALTH_ADDR ROOM_MANAGER_HEALTH_ADDR \
           TWILIO_DIALER_HEALTH_ADDR SIP_BRIDGE_HEALTH_ADDR AGENT_WORKER_HEALTH_ADDR; do
    printf -v "$v" '127.0.0.1:%s' "$(free_port)"
    export "${v?}"
  done
  unset NATS_URL DATABASE_URL RECORDINGS_DIR PHONE_DIR LIVEKIT_URL
}

# wait_for FILE TEXT SECONDS: FILE contains TEXT before SECONDS pass
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt "$deadline" ] || { echo "    no \"$2\" in $1 after $3 s"; tail -n 20 "$1" | sed 's/^/      | /'; return 1; }
    sleep 0.1
  done
}

# wait_gone PID SECONDS
wait_gone() {
  local deadline=$((SECONDS + $2))
  while pid_alive "$1"; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# the pids `up` recorded: every service, nats-server, the phone simulator, postgres
stack_pids() {
  local f
  for f in "$VAR_DIR"/run/*.pid; do cat "$f"; done
  head -n 1 "$VAR_DIR/pg/data/postmaster.pid"
}

expect_nothing_left() {
  local p left=()
  for p in "$@"; do pid_alive "$p" && left+=("$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | head -c 80)"); done
  for p in $(marked); do left+=("$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | head -c 80)"); done
  [ ${#left[@]} -eq 0 ] || { printf '    still running: %s\n' "${left[@]}"; return 1; }
  [ ! -e "$VAR_DIR/pg/data/postmaster.pid" ] || fail "postgres left its postmaster.pid"
  [ -z "$(ls "$VAR_DIR"/run/*.pid 2>/dev/null)" ] || fail "pid files left: $(ls "$VAR_DIR"/run)"
}

a_service_that_exits_at_start_fails_up_at_once() {
  stack_env exits
  local out="$WORK/exits/up.out" rc=0 t0=$SECONDS
  STACK_TEST_MARK=$MARK API_KEYS=bar-key timeout 60 scripts/stack.sh up >"$out" 2>&1 || rc=$?
  local took=$((SECONDS - t0))
  [ "$rc" -ne 0 ] || fail "stack.sh up succeeded with a 7-character API key"
  [ "$rc" -ne 124 ] || fail "stack.sh up waited until timeout(1) stopped it"
  expect_in "$out" "api-gateway exited while starting (exit status 1)"
  expect_in "$out" "API_KEYS: each key needs at least 8 characters"
  ! grep -q "timed out\|is not ready" "$out" || fail "up waited for /readyz instead"
  # PostgreSQL's initdb and start are most of it; /readyz would take 60 s
  [ "$took" -lt 30 ] || fail "up took $took s to notice"
  echo "    up failed after $took s"
  expect_nothing_left
}

# A process `up` has forked but whose exec has not happened yet still has
# stack.sh's command line: it is starting, not a stale pid. Here nats-server's
# log is a FIFO whose reader opens it a second late, so its start waits in the
# redirection, before exec, for that second (which is what a busy machine does
# for a moment); `up` took it for dead and then waited forever in `died`.
a_service_not_yet_exec_d_is_starting() {
  stack_env slow_exec
  local out="$WORK/slow_exec/up.out" fifo="$VAR_DIR/log/nats-server.log" rc=0
  mkdir -p "$VAR_DIR/log"
  mkfifo "$fifo"
  # widens the window on purpose; the reader then drains nats-server's log
  (sleep 1; exec cat "$fifo" >"$WORK/slow_exec/nats-server.log") &
  local reader=$!
  STACK_TEST_MARK=$MARK timeout 90 scripts/stack.sh up >"$out" 2>&1 || rc=$?
  scripts/stack.sh down >/dev/null 2>&1
  kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true
  [ "$rc" -ne 124 ] || fail "stack.sh up hung until timeout(1) stopped it: $(grep -v '^  |' "$out" | tail -n 3 | tr '\n' ' ')"
  [ "$rc" -eq 0 ] || fail "stack.sh up failed (rc $rc): $(grep -v '^  |' "$out" | tail -n 3 | tr '\n' ' ')"
  expect_in "$out" "all services ready"
  expect_nothing_left
}

# run_then_interrupt NAME CMD WAIT_TEXT: starts CMD in a process group of its
# own, waits for WAIT_TEXT in its output, checks the stack, sends SIGINT to the
# group and expects every process the stack started to be gone
run_then_interrupt() {
  local name=$1 cmd=$2 text=$3
  local out="$WORK/$name/run.out"
  # a job started with & has SIGINT ignored, which bash could not trap; a
  # terminal's foreground job has it at its default
  STACK_TEST_MARK=$MARK OUT=$out env --default-signal=INT setsid bash -c "$cmd" >"$WORK/$name/outer.out" 2>&1 </dev/null &
  local leader=$!
  [ "$(ps -o pgid= -p "$leader" | tr -d ' ')" = "$leader" ] || fail "setsid did not make $leader a group leader"
  wait_for "$out" "$text" 120 || { kill -INT -- "-$leader"; return 1; }
  mapfile -t pids < <(stack_pids)
  [ "${#pids[@]}" -eq 8 ] || fail "expected 8 recorded pids, got ${#pids[@]}: ${pids[*]}"
  local p
  for p in "${pids[@]}"; do pid_alive "$p" || fail "recorded pid $p is not running before SIGINT"; done
  local t0=$SECONDS
  kill -INT -- "-$leader"
  wait_gone "$leader" 60 || fail "the stack still runs 60 s after SIGINT"
  wait "$leader" 2>/dev/null || true # tee, killed by SIGINT, gives the pipeline its status
  echo "    stopped $((SECONDS - t0)) s after SIGINT"
  expect_nothing_left "${pids[@]}"
}

ctrl_c_of_run_stops_everything() {
  stack_env run
  # the stack's PostgreSQL keeps what it confirmed: durability on
  STACK_TEST_MARK=$MARK DEMO=0 timeout 120 scripts/stack.sh up >"$WORK/run/up.out" 2>&1 || { tail -n 30 "$WORK/run/up.out"; fail "up failed"; }
  local setting v
  for setting in fsync synchronous_commit full_page_writes; do
    v=$(psql -h 127.0.0.1 -p "$PG_PORT" -U callmesh -d callmesh -Atc "show $setting" 2>&1)
    [ "$v" = on ] || fail "postgres runs with $setting=$v"
  done
  # the effective configuration names the defaults a service derives
  local s logs="$VAR_DIR/log" missing=""
  for s in api-gateway room-manager twilio-dialer sip-bridge agent-worker; do
    grep -q '"event":"config","msg":"INSTANCE=[^"]' "$logs/$s.log" || missing+=" $s:INSTANCE"
  done
  for s in room-manager sip-bridge agent-worker; do
    grep -q '"event":"config","msg":"ROOM_BACKEND=local"' "$logs/$s.log" || missing+=" $s:ROOM_BACKEND=local"
  done
  scripts/stack.sh down >/dev/null 2>&1
  [ -z "$missing" ] || fail "the effective configuration lacks what the services use:$missing"
  expect_nothing_left
  # shellcheck disable=SC2016 # $OUT is expanded by the inner shell
  DEMO=0 run_then_interrupt run 'exec scripts/stack.sh run >"$OUT" 2>&1' "following logs"
}

ctrl_c_of_run_piped_into_tee_stops_everything() {
  stack_env tee
  # interrupted during the demo call, while tee holds its output
  # shellcheck disable=SC2016 # $OUT is expanded by the inner shell
  run_then_interrupt tee 'scripts/stack.sh run 2>&1 | tee "$OUT" >/dev/null' "queued in room"
}

run_test a_service_that_exits_at_start_fails_up_at_once a_service_that_exits_at_start_fails_up_at_once
run_test a_service_not_yet_exec_d_is_starting a_service_not_yet_exec_d_is_starting
run_test ctrl_c_of_run_stops_everything ctrl_c_of_run_stops_everything
run_test ctrl_c_of_run_piped_into_tee_stops_everything ctrl_c_of_run_piped_into_tee_stops_everything
finish
