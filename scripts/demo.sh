#!/usr/bin/env bash
# Places the demo call against the running stack (see scripts/demo.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/demo.mjs "$@"
