#!/usr/bin/env bash
# The local runtime (DESIGN §9): nats-server with JetStream, a private PostgreSQL
# cluster and the five services, all under var/, stopped by pid.
#   stack.sh up     start in the background, wait until every /readyz is OK
#   stack.sh down   stop exactly what `up` started
#   stack.sh run    up, follow logs and events in the foreground, down on Ctrl-C
# Every variable below can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
BIN="$ROOT/$BUILD/bin"
VAR="$ROOT/var"
RUN="$VAR/run"
LOGS="$VAR/log"

NATS_PORT=${NATS_PORT:-4222}
export PHONE_PORT=${PHONE_PORT:-5070}
PG_PORT=${PG_PORT:-55432}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:$NATS_PORT}
export DATABASE_URL=${DATABASE_URL:-postgresql://callmesh@127.0.0.1:$PG_PORT/callmesh}
export API_ADDR=${API_ADDR:-127.0.0.1:8080}
export API_KEYS=${API_KEYS:-dev-key-callmesh}
export RECORDINGS_DIR=${RECORDINGS_DIR:-$VAR/recordings}
export LOG_LEVEL=${LOG_LEVEL:-info}
export MIGRATIONS_DIR=${MIGRATIONS_DIR:-$ROOT/services/api-gateway/migrations}

SERVICES=(api-gateway room-manager twilio-dialer sip-bridge agent-worker)
declare -A HEALTH=(
  [api-gateway]=${API_GATEWAY_HEALTH_ADDR:-127.0.0.1:9100}
  [room-manager]=${ROOM_MANAGER_HEALTH_ADDR:-127.0.0.1:9101}
  [twilio-dialer]=${TWILIO_DIALER_HEALTH_ADDR:-127.0.0.1:9102}
  [sip-bridge]=${SIP_BRIDGE_HEALTH_ADDR:-127.0.0.1:9103}
  [agent-worker]=${AGENT_WORKER_HEALTH_ADDR:-127.0.0.1:9104}
)

say() { printf 'stack: %s\n' "$*"; }

# A pid file names a live process only if that process is still what we started.
alive() { # pidfile
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -qa -- "$(basename "$1" .pid)" "/proc/$pid/cmdline" 2>/dev/null
}

start_bg() { # name logfile cmd...
  local name=$1 logf=$2; shift 2
  nohup "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_until() { # seconds description cmd...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then say "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  for b in "${SERVICES[@]}"; do
    [ -x "$BIN/$b" ] || { say "missing $BIN/$b: run 'make build'"; exit 1; }
  done
  mkdir -p "$RUN" "$LOGS" "$VAR/nats" "$RECORDINGS_DIR"

  if alive "$RUN/nats-server.pid"; then
    say "nats-server already running (pid $(cat "$RUN/nats-server.pid"))"
  else
    tcp_open "$NATS_PORT" && { say "port $NATS_PORT is taken by another process; set NATS_PORT"; exit 1; }
    start_bg nats-server "$LOGS/nats-server.log" nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$VAR/nats"
    wait_until 20 "nats-server on :$NATS_PORT" tcp_open "$NATS_PORT"
  fi

  if [ -f "$VAR/pg/data/postmaster.pid" ] && pg_alive; then
    say "postgres already running"
  else
    scripts/pg.sh start "$VAR/pg" "$PG_PORT" >>"$LOGS/postgres-setup.log" 2>&1 \
      || { say "postgres failed to start:"; tail -n 20 "$LOGS/postgres-setup.log" "$VAR/pg/postgres.log" 2>/dev/null; exit 1; }
  fi

  if alive "$RUN/phone.pid"; then
    say "phone simulator already running"
  else
    tcp_open "$PHONE_PORT" && { say "port $PHONE_PORT is taken by another process; set PHONE_PORT"; exit 1; }
    PHONE_LOG_DIR="$LOGS" start_bg phone "$LOGS/phone-sim.log" deploy/local/phone.sh "$PHONE_PORT"
    wait_until 20 "phone simulator on :$PHONE_PORT" tcp_open "$PHONE_PORT"
  fi

  for s in "${SERVICES[@]}"; do
    if alive "$RUN/$s.pid"; then say "$s already running"; continue; fi
    HEALTH_ADDR=${HEALTH[$s]} start_bg "$s" "$LOGS/$s.log" "$BIN/$s"
  done

  local failed=0
  for s in "${SERVICES[@]}"; do
    if ! wait_until 60 "$s /readyz" curl -fsS "http://${HEALTH[$s]}/readyz"; then
      failed=1
      say "$s is not ready; last log lines:"
      tail -n 15 "$LOGS/$s.log" || true
    fi
  done
  if [ $failed -ne 0 ]; then down; exit 1; fi

  cat <<INFO
stack: all services ready
  API          http://$API_ADDR   (Authorization: Bearer $API_KEYS)
  console      http://$API_ADDR/   (open it in a browser; API key: $API_KEYS)
  NATS         $NATS_URL          (watch events: nats sub 'calls.>'  or  $BUILD/bin/callmesh-events)
  Postgres     $DATABASE_URL
  phone sim    sip:127.0.0.1:$PHONE_PORT (TCP; answers, holds, resumes, hangs up)
  health       $(for s in "${SERVICES[@]}"; do printf '%s=http://%s ' "$s" "${HEALTH[$s]}"; done)
  logs         $LOGS/
  stop with    make down
INFO
}

pg_alive() {
  local pid
  pid=$(head -n 1 "$VAR/pg/data/postmaster.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null
}

stop_pid() { # name
  local f="$RUN/$1.pid" pid i
  if alive "$f"; then
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "$1 did not stop in 10 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped $1"
  fi
  rm -f "$f"
}

down() {
  for s in agent-worker sip-bridge twilio-dialer room-manager api-gateway; do stop_pid "$s"; done
  stop_pid phone
  stop_pid nats-server
  if [ -f "$VAR/pg/data/postmaster.pid" ]; then
    scripts/pg.sh stop "$VAR/pg" && say "stopped postgres"
  fi
}

run() {
  up
  trap 'echo; kill $(jobs -p) 2>/dev/null; down; exit 0' INT TERM
  if [ -x scripts/demo.sh ]; then scripts/demo.sh || say "demo call failed (see above)"; fi
  say "console: http://$API_ADDR/ (API key: ${API_KEYS%%,*}); following logs (Ctrl-C stops everything)"
  tail -n 0 -F "$LOGS"/*.log &
  local tail_pid=$!
  if [ -x "$BIN/callmesh-events" ]; then "$BIN/callmesh-events" & fi
  wait "$tail_pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run) run ;;
  *) echo "usage: stack.sh up|down|run" >&2; exit 2 ;;
esac
