#!/usr/bin/env bash
# The bundled far end for `make run`: sipp as an Exotel-like carrier on
# 127.0.0.1 over TCP that answers every call, holds (a=sendonly), resumes and
# hangs up (deploy/local/phone.xml).
#   deploy/local/phone.sh [PORT]     (default 5070, or PHONE_PORT)
# Runs in the foreground until killed; stack.sh starts it in the background
# and stops it by pid. Point the dev Exotel trunk at it:
#   {"sip_host":"127.0.0.1","sip_port":5070,"transport":"tcp","sip_domain":"127.0.0.1",
#    "username":"dev","password":"dev","numbers":["+918044319240"]}
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${1:-${PHONE_PORT:-5070}}
logdir=${PHONE_LOG_DIR:-var/log}
mkdir -p "$logdir"
exec sipp -sf deploy/local/phone.xml -t t1 -i 127.0.0.1 -p "$port" -nostdin \
  -key hold_c_sess "c=IN IP4 127.0.0.1" -key hold_sess_attr "a=x-none" -key hold_port 6000 \
  -key hold_c_media "a=x-none" -key hold_media_attr "a=sendonly" \
  -trace_err -error_file "$logdir/phone-errors.log" >>"$logdir/phone.log" 2>&1
