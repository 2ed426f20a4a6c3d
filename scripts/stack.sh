#!/usr/bin/env bash
# The local runtime (DESIGN §9): nats-server with JetStream, a private PostgreSQL
# cluster and the five services, all under var/, stopped by pid.
#   stack.sh up     start in the background, wait until every /readyz is OK; a
#                   process that exits meanwhile stops it at once, showing its log
#   stack.sh down   stop exactly what `up` started
#   stack.sh run    up, the demo call, then follow logs and events in the
#                   foreground; Ctrl-C (INT), TERM, HUP or a closed output pipe
#                   stops everything `up` started, PostgreSQL included
# Every variable below can be overridden from the environment (VAR_DIR: where
# pids, logs and data live; DEMO=0: `run` places no demo call).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
BIN="$ROOT/$BUILD/bin"
VAR=${VAR_DIR:-$ROOT/var}
RUN="$VAR/run"
LOGS="$VAR/log"
DEMO=${DEMO:-1}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-60}

NATS_PORT=${NATS_PORT:-4222}
export PHONE_PORT=${PHONE_PORT:-5070}
export PHONE_DIR=${PHONE_DIR:-$VAR/phone}
PG_PORT=${PG_PORT:-55432}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:$NATS_PORT}
export DATABASE_URL=${DATABASE_URL:-postgresql://callmesh@127.0.0.1:$PG_PORT/callmesh}
export API_ADDR=${API_ADDR:-127.0.0.1:8080}
export API_KEYS=${API_KEYS:-dev-key-callmesh}
export RECORDINGS_DIR=${RECORDINGS_DIR:-$VAR/recordings}
export LOG_LEVEL=${LOG_LEVEL:-info}
export MIGRATIONS_DIR=${MIGRATIONS_DIR:-$ROOT/services/api-gateway/migrations}
# Development secrets, made once and kept under VAR so that stored rows still
# open on the next `make up`: the trunk-password key, the webhook signing
# secret; webhooks and providers may reach this machine's own addresses.
NATS_AUTH="$VAR/nats-auth"
dev_secret() { # file generator-args...
  local f="$VAR/$1"; shift
  mkdir -p "$VAR" # not under the umask: PostgreSQL's own user reads var/pg
  [ -s "$f" ] || (umask 077; openssl rand "$@" >"$f")
  cat "$f"
}
export SECRETS_KEY=${SECRETS_KEY:-$(dev_secret secrets_key -base64 32)}
export WEBHOOK_SIGNING_SECRET=${WEBHOOK_SIGNING_SECRET:-$(dev_secret webhook_secret -hex 32)}
export OUTBOUND_ALLOW_PRIVATE=${OUTBOUND_ALLOW_PRIVATE:-true}

SERVICES=(api-gateway room-manager twilio-dialer sip-bridge agent-worker)
declare -A HEALTH=(
  [api-gateway]=${API_GATEWAY_HEALTH_ADDR:-127.0.0.1:9100}
  [room-manager]=${ROOM_MANAGER_HEALTH_ADDR:-127.0.0.1:9101}
  [twilio-dialer]=${TWILIO_DIALER_HEALTH_ADDR:-127.0.0.1:9102}
  [sip-bridge]=${SIP_BRIDGE_HEALTH_ADDR:-127.0.0.1:9103}
  [agent-worker]=${AGENT_WORKER_HEALTH_ADDR:-127.0.0.1:9104}
)

# stdout may be a pipe whose reader is gone (`make run | tee log` after Ctrl-C):
# then the message goes to stderr, and a message is never a reason to stop
say() { printf 'stack: %s\n' "$*" 2>/dev/null || printf 'stack: %s\n' "$*" >&2 2>/dev/null || true; }

# A pid names a live process: it exists and is not a zombie (one stopped or
# traced, state T or t, is alive).
pid_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  local st
  st=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# A pid file names a live process only if that process is still what we started.
alive() { # pidfile
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  pid_alive "$pid" || return 1
  grep -qa -- "$(basename "$1" .pid)" "/proc/$pid/cmdline" 2>/dev/null
}

declare -A STARTED=()
start_bg() { # name logfile cmd...
  local name=$1 logf=$2; shift 2
  nohup "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  STARTED[$name]=$!
}

# running NAME: NAME's pid file names a live process. One this shell started is
# judged by pid alone: until the forked shell has exec'd, its command line is
# still this script's, which `alive` takes for a stale pid (then `up` stopped
# there, or hung in `died` waiting for a live process); a child's pid is not
# reused before it is reaped. Others must still be what their name says.
running() {
  if [ -n "${STARTED[$1]:-}" ]; then pid_alive "${STARTED[$1]}"; else alive "$RUN/$1.pid"; fi
}

# died NAME: NAME exited while starting; show why and stop everything
died() {
  local f logs=("$LOGS/$1.log")
  [ "$1" = phone ] && logs=("$LOGS/phone-sim.log" "$LOGS/phone.log")
  local pid rc=0 how=""
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || pid=""
  # its status, when it was this shell's child (127: it was not); never waits
  # for one that still runs
  if [ -n "$pid" ]; then
    if pid_alive "$pid"; then rc=127; else wait "$pid" 2>/dev/null || rc=$?; fi
  fi
  # 129..192 is a signal (64 of them); sipp's fatal errors exit with 254 or 255
  if [ "$rc" -gt 128 ] && [ "$rc" -le 192 ]; then how=" (killed by signal $((rc - 128)))"
  elif [ "$rc" -ne 127 ]; then how=" (exit status $rc)"; fi
  say "$1 exited while starting$how"
  for f in "${logs[@]}"; do
    [ -s "$f" ] || continue
    say "last lines of $f:"
    tail -n 15 "$f" 2>/dev/null | sed 's/^/  | /' || true
  done
  rm -f "$RUN/$1.pid"
  down
  exit 1
}

# wait_ready SECONDS WHAT NAME CMD...: until CMD succeeds; NAME's process
# exiting first ends the wait (and `up`) at once
wait_ready() {
  local secs=$1 what=$2 name=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    running "$name" || died "$name"
    if [ $SECONDS -ge "$deadline" ]; then say "timed out after $secs s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  for b in "${SERVICES[@]}"; do
    [ -x "$BIN/$b" ] || { say "missing $BIN/$b: run 'make build'"; exit 1; }
  done
  mkdir -p "$RUN" "$LOGS" "$VAR/nats" "$RECORDINGS_DIR"
  # one NATS identity per service, least privilege (scripts/nats-auth.sh)
  scripts/nats-auth.sh generate "$NATS_AUTH" >/dev/null

  if alive "$RUN/nats-server.pid"; then
    say "nats-server already running (pid $(cat "$RUN/nats-server.pid"))"
  else
    tcp_open "$NATS_PORT" && { say "port $NATS_PORT is taken by another process; set NATS_PORT"; exit 1; }
    say "starting nats-server on :$NATS_PORT (JetStream in $VAR/nats)"
    start_bg nats-server "$LOGS/nats-server.log" nats-server -c "$NATS_AUTH/nats.conf" \
      -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$VAR/nats"
    wait_ready 20 "nats-server on :$NATS_PORT" nats-server tcp_open "$NATS_PORT" || { down; exit 1; }
  fi

  if pg_alive; then
    say "postgres already running"
  else
    # a new cluster's initdb flushes to disk what the machine has not yet written
    # (just after `make deps`, that can take minutes): say so while it runs
    if [ -f "$VAR/pg/data/PG_VERSION" ]; then say "starting PostgreSQL on :$PG_PORT ($VAR/pg)"
    else say "creating a PostgreSQL cluster in $VAR/pg (first run) and starting it on :$PG_PORT"; fi
    scripts/pg.sh start "$VAR/pg" "$PG_PORT" >>"$LOGS/postgres-setup.log" 2>&1 \
      || { say "postgres failed to start:"; tail -n 20 "$LOGS/postgres-setup.log" "$VAR/pg/postgres.log" 2>/dev/null; down; exit 1; }
  fi

  if alive "$RUN/phone.pid"; then
    say "phone simulator already running"
  else
    tcp_open "$PHONE_PORT" && { say "port $PHONE_PORT is taken by another process; set PHONE_PORT"; down; exit 1; }
    say "starting the phone simulator on :$PHONE_PORT"
    PHONE_LOG_DIR="$LOGS" start_bg phone "$LOGS/phone-sim.log" deploy/local/phone.sh "$PHONE_PORT"
    wait_ready 20 "phone simulator on :$PHONE_PORT" phone tcp_open "$PHONE_PORT" || { down; exit 1; }
  fi

  for s in "${SERVICES[@]}"; do
    if alive "$RUN/$s.pid"; then say "$s already running"; continue; fi
    # shellcheck disable=SC2046 # NAME=value words, no spaces
    HEALTH_ADDR=${HEALTH[$s]} start_bg "$s" "$LOGS/$s.log" env $(cat "$NATS_AUTH/$s.env") "$BIN/$s"
  done

  say "started ${SERVICES[*]}; waiting for each /readyz (up to $READY_TIMEOUT_S s)"
  # all at once: every tick looks at each service not yet ready, so one that
  # exits is seen within a tick, whichever it is
  local -A ready=()
  local deadline=$((SECONDS + READY_TIMEOUT_S)) s pending
  for (( ; ; )); do
    pending=0
    for s in "${SERVICES[@]}"; do
      [ -n "${ready[$s]:-}" ] && continue
      if curl -fsS -m 2 "http://${HEALTH[$s]}/readyz" >/dev/null 2>&1; then ready[$s]=1; continue; fi
      running "$s" || died "$s"
      pending=$((pending + 1))
    done
    [ "$pending" -eq 0 ] && break
    if [ $SECONDS -ge "$deadline" ]; then
      for s in "${SERVICES[@]}"; do
        [ -n "${ready[$s]:-}" ] && continue
        say "$s is not ready after $READY_TIMEOUT_S s ($(curl -sS -m 2 "http://${HEALTH[$s]}/readyz" 2>&1 | head -c 200)); last log lines:"
        tail -n 15 "$LOGS/$s.log" 2>/dev/null | sed 's/^/  | /' || true
      done
      down
      exit 1
    fi
    sleep 0.2
  done

  cat <<INFO
stack: all services ready
  API          http://$API_ADDR   (Authorization: Bearer $API_KEYS)
  console      http://$API_ADDR/   (open it in a browser; API key: $API_KEYS)
  NATS         $NATS_URL          (watch events: $(scripts/nats-auth.sh viewer "$NATS_AUTH" "$NATS_URL"))
  Postgres     $DATABASE_URL
  phone sim    sip:127.0.0.1:$PHONE_PORT (TCP; answers, holds, resumes, hangs up)
  health       $(for s in "${SERVICES[@]}"; do printf '%s=http://%s ' "$s" "${HEALTH[$s]}"; done)
  logs         $LOGS/
  stop with    make down
INFO
}

pg_pid() { head -n 1 "$VAR/pg/data/postmaster.pid" 2>/dev/null; }
pg_alive() { pid_alive "$(pg_pid)"; }

# stop NAME...: TERM to each live one at once, then up to 10 s for all of them
# to go, then KILL for what is left
stop() {
  local n pid i left
  local -A pids=()
  for n in "$@"; do
    if running "$n"; then
      pid=$(cat "$RUN/$n.pid")
      kill -TERM "$pid" 2>/dev/null || true
      pids[$n]=$pid
    fi
  done
  for ((i = 0; i < 100; i++)); do
    left=0
    for n in "${!pids[@]}"; do pid_alive "${pids[$n]}" && left=1; done
    [ $left -eq 0 ] && break
    sleep 0.1
  done
  for n in "$@"; do
    if [ -n "${pids[$n]:-}" ]; then
      if pid_alive "${pids[$n]}"; then say "$n did not stop in 10 s; killing it"; kill -KILL "${pids[$n]}" 2>/dev/null || true; fi
      say "stopped $n"
    fi
    rm -f "$RUN/$n.pid"
  done
}

down() {
  stop agent-worker sip-bridge twilio-dialer room-manager api-gateway
  stop phone nats-server
  local pid
  pid=$(pg_pid) || true
  if [ -n "$pid" ] && pid_alive "$pid"; then
    if scripts/pg.sh stop "$VAR/pg" >>"$LOGS/postgres-setup.log" 2>&1; then say "stopped postgres"
    else say "pg_ctl could not stop postgres (see $LOGS/postgres-setup.log)"; fi
    if pid_alive "$pid"; then say "postgres (pid $pid) still runs; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
}

# run's way out, on a signal or when its output pipe closes: runs once,
# cannot be interrupted, and does not stop on an error of its own
FOLLOW_PIDS=()
cleanup() {
  trap '' INT TERM HUP PIPE
  trap - EXIT
  set +e
  say "stopping everything"
  local p
  for p in "${FOLLOW_PIDS[@]+"${FOLLOW_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
  down
  exit "${1:-0}"
}

run() {
  trap 'cleanup 0' INT TERM HUP PIPE
  trap 'cleanup $?' EXIT
  up
  # the demo and the events follower read events as the read-only viewer
  # shellcheck disable=SC2046
  if [ "$DEMO" != 0 ] && [ -x scripts/demo.sh ]; then env $(cat "$NATS_AUTH/viewer.env") scripts/demo.sh || say "demo call failed (see above)"; fi
  say "following logs (Ctrl-C stops everything); the console is at http://$API_ADDR/"
  tail -n 0 -F "$LOGS"/*.log &
  FOLLOW_PIDS+=($!)
  # shellcheck disable=SC2046
  if [ -x "$BIN/callmesh-events" ]; then env $(cat "$NATS_AUTH/viewer.env") "$BIN/callmesh-events" & FOLLOW_PIDS+=($!); fi
  wait "${FOLLOW_PIDS[0]}"
}

case "${1:-}" in
  up)
    # interrupted while starting: stop what was started
    trap 'trap "" INT TERM HUP PIPE; set +e; say "interrupted; stopping what was started"; down; exit 130' INT TERM HUP
    up
    trap - INT TERM HUP
    ;;
  down) down ;;
  run) run ;;
  *) echo "usage: stack.sh up|down|run" >&2; exit 2 ;;
esac
