# Shared by the shell tests in tests/scripts/: each test is a function run in a
# subshell of its own; the file ends with `finish`, which prints the
# "N passed, M failed" line that tests/run.sh sums.
# shellcheck shell=bash
passed=0
failed=0

# run_test NAME FUNCTION: passes when FUNCTION returns 0
run_test() {
  local name=$1 fn=$2 t0=$SECONDS rc
  # not in an `if`: there bash would ignore set -e inside the subshell
  ( set -euo pipefail; "$fn" )
  rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); echo "  ok   $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); echo "  FAIL $name ($((SECONDS - t0)) s)"
  fi
}

# fail MESSAGE: says why a test failed and fails it
fail() { echo "    $*"; return 1; }

# expect_in FILE TEXT: FILE contains TEXT, else fail showing FILE's tail
expect_in() {
  grep -qF -- "$2" "$1" && return 0
  echo "    expected \"$2\" in $1; it ends:"; tail -n 20 "$1" | sed 's/^/      | /'
  return 1
}

# free_port: a TCP port nothing on 127.0.0.1 listens on
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pid_alive PID: the process exists and is not a zombie
pid_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
