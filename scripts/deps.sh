#!/usr/bin/env bash
# Installs every Debian package callmesh needs to build, run and test, then the
# npm test tools from the committed lock file. Idempotent: quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential pkg-config make gcc clang clang-format curl ca-certificates procps iproute2
  libnats-dev nats-server libcjson-dev libsofia-sip-ua-dev libsrtp2-dev libopus-dev
  libpq-dev postgresql postgresql-contrib libcurl4-openssl-dev libmicrohttpd-dev
  libssl-dev libwebsockets-dev libprotobuf-c-dev protobuf-c-compiler libspeexdsp-dev
  libespeak-ng-dev espeak-ng libpocketsphinx-dev pocketsphinx-en-us sox
  sip-tester baresip-core wrk openssl nodejs npm rtpengine-daemon
  docker-compose kubernetes-client chromium
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${PACKAGES[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from outside Debian (nodesource, nvm): accept a working one.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
# kubectl (for `kubectl kustomize`) may come from outside Debian too; docker's
# own compose plugin does what docker-compose does.
keep=()
for p in "${missing[@]+"${missing[@]}"}"; do
  case "$p" in
  kubernetes-client) command -v kubectl >/dev/null || keep+=("$p") ;;
  docker-compose) command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || keep+=("$p") ;;
  *) keep+=("$p") ;;
  esac
done
missing=("${keep[@]+"${keep[@]}"}")

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

# npm: the LiveKit client engine the services load (runtime/livekit) and the
# test tools (tests/js), each from its committed lock file.
for dir in runtime/livekit tests/js console; do
  [ -f "$dir/package-lock.json" ] || continue
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "deps: npm packages in $dir present"
  fi
done
