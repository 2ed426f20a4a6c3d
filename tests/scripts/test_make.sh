#!/usr/bin/env bash
# The Makefile on a machine that lacks a -dev package (issue 11): build goals
# stop at once naming the library pkg-config cannot find, deps/clean/down work
# without it, and `make run` installs the dependencies before it plans the build.
# Runs on a copy of the tree (with the current build, mtimes kept) whose
# pkg-config search path hides libpq.pc; dpkg-query/apt-get are stand-ins that
# "install" libpq-dev by putting libpq.pc back, and stack.sh is replaced by a
# line that says it was reached.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/scripts/lib.sh
# `make run` plans a plain build whatever suite runs this (the sanitizer one
# too): copy the plain build, and let no BUILD/SANITIZE of ours reach it
BUILD_DIR=build
WORK=$(mktemp -d /tmp/callmesh-make.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TREE="$WORK/tree" PC="$WORK/pc" FAKE="$WORK/bin"
mkdir -p "$TREE" "$PC" "$FAKE"

# the tree as it is on disk (tracked and new files), and its build
git ls-files -co --exclude-standard -z | xargs -0 cp -a --parents -t "$TREE"
[ -d "$BUILD_DIR" ] && mkdir -p "$TREE/build" && cp -a "$BUILD_DIR/." "$TREE/build/"
# npm is a stand-in below: the LiveKit engine it would install is the real one
[ -d runtime/livekit/node_modules ] && ln -s "$PWD/runtime/livekit/node_modules" "$TREE/runtime/livekit/node_modules"

# every .pc file pkg-config knows but libpq.pc
real_pq=$(pkg-config --path libpq) || { echo "libpq.pc not found on this machine"; exit 1; }
IFS=: read -r -a pcdirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pcdirs[@]}"; do
  for f in "$d"/*.pc; do
    [ -e "$f" ] && [ "$(basename "$f")" != libpq.pc ] && ln -sf "$f" "$PC/"
  done
done

cat >"$FAKE/dpkg-query" <<SH
#!/bin/sh
# -W -f='\${Status}' PKG: installed, but libpq-dev only once apt-get put it back
pkg=\$(eval echo \\\${\$#})
[ "\$pkg" = libpq-dev ] && [ ! -e "$PC/libpq.pc" ] && exit 1
printf 'install ok installed'
SH
cat >"$FAKE/apt-get" <<SH
#!/bin/sh
echo "apt-get \$*" >>"$WORK/apt.log"
[ "\$1" = install ] || exit 0
for p in "\$@"; do [ "\$p" = libpq-dev ] && ln -sf "$real_pq" "$PC/libpq.pc"; done
exit 0
SH
printf '#!/bin/sh\nexec "$@"\n' >"$FAKE/sudo"
printf '#!/bin/sh\necho "npm $*"\n' >"$FAKE/npm"
chmod +x "$FAKE"/*
export PATH="$FAKE:$PATH" PKG_CONFIG_LIBDIR="$PC"
unset PKG_CONFIG_PATH MAKEFLAGS MAKELEVEL BUILD SANITIZE
# nothing here may start a stack: stack.sh only says it was reached
printf '#!/bin/sh\necho "stack.sh $*: reached"\n' >"$TREE/scripts/stack.sh"
hide_pq() { rm -f "$PC/libpq.pc" "$WORK/apt.log"; }

build_names_the_library() {
  hide_pq
  local out="$WORK/build.out" rc=0
  make -C "$TREE" --no-print-directory build >"$out" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "make build succeeded without libpq"
  expect_in "$out" "pkg-config cannot find libpq (Debian package libpq-dev)"
  expect_in "$out" "make deps"
  ! grep -q '^  CC' "$out" || fail "make build compiled without libpq's flags"
}

up_names_the_library() {
  hide_pq
  local out="$WORK/up.out" rc=0
  make -C "$TREE" --no-print-directory up >"$out" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "make up went ahead without libpq"
  ! grep -q "stack.sh up: reached" "$out" || fail "make up started the stack without libpq"
  expect_in "$out" "pkg-config cannot find libpq"
}

down_clean_deps_work_without_it() {
  hide_pq
  local out="$WORK/misc.out"
  make -C "$TREE" --no-print-directory down >"$out" 2>&1 || fail "make down failed: $(cat "$out")"
  expect_in "$out" "stack.sh down: reached"
  make -C "$TREE" --no-print-directory -n clean >"$out" 2>&1 || fail "make -n clean failed: $(cat "$out")"
  make -C "$TREE" --no-print-directory deps >"$out" 2>&1 || fail "make deps failed: $(cat "$out")"
  expect_in "$out" "deps: installing libpq-dev"
  [ -e "$PC/libpq.pc" ] || fail "make deps did not install libpq-dev"
}

run_installs_before_it_builds() {
  hide_pq
  # what includes libpq-fe.h is compiled again: without libpq's flags it fails
  touch "$TREE"/libs/db/*.c
  local out="$WORK/run.out" rc=0
  make -C "$TREE" --no-print-directory -j2 run >"$out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "make run failed ($rc): $(tail -n 5 "$out")"
  expect_in "$out" "CC    libs/db/"
  ! grep -q "cannot find" "$out" || fail "make run planned the build before deps"
  expect_in "$out" "deps: installing libpq-dev"
  expect_in "$out" "stack.sh run: reached"
  expect_in "$WORK/apt.log" "apt-get install"
  local dl sl
  dl=$(grep -n "deps: installing" "$out" | head -n 1 | cut -d: -f1)
  sl=$(grep -n "stack.sh run: reached" "$out" | head -n 1 | cut -d: -f1)
  [ "$dl" -lt "$sl" ] || fail "deps ran after the stack started"
}

clean_works_without_it() {
  hide_pq
  make -C "$TREE" --no-print-directory clean >/dev/null 2>&1 || fail "make clean failed"
  [ ! -e "$TREE/build" ] || fail "make clean left build/"
}

run_test build_names_the_library build_names_the_library
run_test up_names_the_library up_names_the_library
run_test down_clean_deps_work_without_it down_clean_deps_work_without_it
run_test run_installs_before_it_builds run_installs_before_it_builds
run_test clean_works_without_it clean_works_without_it
finish
