#!/usr/bin/env bash
# Runs a command inside a network namespace of its own, for tests that carry
# WebRTC media: libwebrtc gathers no loopback candidates, so the namespace gets
# a veth pair with both ends inside it and private addresses (10.213.0.1/24 and
# .2); nothing routes out of it, so no packet leaves the machine. Loopback is
# up too, so 127.0.0.1 services (nats-server, PostgreSQL) started inside work.
#
#   tests/netns/run.sh <command> [args…]   (root; exit status of the command)
#
# Inside, CALLMESH_NETNS names the namespace and CALLMESH_NETNS_ADDR is the
# address to bind servers to (reachable from every process inside).
# The namespace is deleted when the command ends, whatever the outcome.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 <command> [args…]" >&2; exit 2; }
if [ -n "${CALLMESH_NETNS:-}" ]; then exec "$@"; fi # already inside one
if [ "$(id -u)" -ne 0 ]; then echo "netns: needs root (ip netns add)" >&2; exit 2; fi
name="cm-$$-$RANDOM"
cleanup() { ip netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns del "$name" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$name"
ip -n "$name" link set lo up
ip -n "$name" link add cm0 type veth peer name cm1
ip -n "$name" addr add 10.213.0.1/24 dev cm0
ip -n "$name" addr add 10.213.0.2/24 dev cm1
ip -n "$name" link set cm0 up
ip -n "$name" link set cm1 up
set +e
CALLMESH_NETNS="$name" CALLMESH_NETNS_ADDR=10.213.0.1 ip netns exec "$name" "$@"
rc=$?
exit $rc
