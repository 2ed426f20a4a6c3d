#!/usr/bin/env bash
# A private PostgreSQL cluster in a directory: pg.sh start DIR PORT [fast] | stop DIR.
# As root the server runs as the `postgres` user (PostgreSQL refuses root).
# Creates role and database `callmesh` (trust auth on 127.0.0.1 only).
# Durable by default (fsync, synchronous commit, full-page writes: what the API
# confirmed survives a power cut). `fast` turns all three off, for throw-away
# test clusters only.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  port=${3:?port}
  durability=""
  case "${4:-}" in
  "") ;;
  fast) durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" ;;
  *) echo "pg.sh: unknown start option '$4' (the only one is 'fast', for test clusters)" >&2; exit 2 ;;
  esac
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  data="$dir/data"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir $durability" \
    start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  psql=( "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt )
  if [ "$("${psql[@]}" -d postgres -c "select 1 from pg_roles where rolname='callmesh'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "create role callmesh login"
    "${psql[@]}" -d postgres -c "create database callmesh owner callmesh"
  fi
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  # fast: roll back open transactions; a server that does not stop within
  # 30 s is stopped immediately (its WAL recovers what was committed)
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
  ;;
*) echo "usage: pg.sh start DIR PORT [fast] | stop DIR" >&2; exit 2 ;;
esac
