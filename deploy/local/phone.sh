#!/usr/bin/env bash
# The bundled far end for `make run`: sipp as an Exotel-like carrier on
# 127.0.0.1 over TCP that answers every call, speaks a sentence, holds
# (a=sendonly), resumes and hangs up (deploy/local/phone.xml).
#   deploy/local/phone.sh [PORT]     (default 5070, or PHONE_PORT)
# PHONE_DIR (default var/phone) receives the caller's audio and the
# scenario; PHONE_MEDIA_PORT (default 6000) is sipp's RTP port.
# The caller's audio is made here, not checked in (deploy/local/caller-audio.sh):
# espeak-ng speaks a line the demo assistant's script answers, sox turns it
# into raw 8 kHz A-law behind 5 s of silence (the agent greets first, about
# 3 s). Without either tool the caller is silent (A-law silence), and the
# call still runs.
# Runs in the foreground until killed; stack.sh starts it in the background
# and stops it by pid. Point the dev Exotel trunk at it:
#   {"sip_host":"127.0.0.1","sip_port":5070,"transport":"tcp","sip_domain":"127.0.0.1",
#    "username":"dev","password":"dev","numbers":["+918044319240"]}
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${1:-${PHONE_PORT:-5070}}
logdir=${PHONE_LOG_DIR:-var/log}
dir=${PHONE_DIR:-var/phone}
media_port=${PHONE_MEDIA_PORT:-6000}
text=${PHONE_SAYS:-"What are your hours?"}
mkdir -p "$logdir" "$dir"

audio="$dir/caller.alaw"
if [ ! -s "$audio" ]; then
  if ! deploy/local/caller-audio.sh "$audio" "$text" 2>>"$logdir/phone.log"; then
    # 5 s of A-law silence (0xD5)
    head -c 40000 /dev/zero | tr '\0' '\325' >"$dir/caller.$$" && mv -f "$dir/caller.$$" "$audio"
  fi
fi
# rtp_stream names its file in the scenario: a copy that points at ours
case $audio in /*) abs=$audio ;; *) abs=$PWD/$audio ;; esac
sed "s|@AUDIO@|$abs|" deploy/local/phone.xml >"$dir/phone.xml"

exec sipp -sf "$dir/phone.xml" -t t1 -i 127.0.0.1 -p "$port" -mp "$media_port" -nostdin \
  -key hold_c_sess "c=IN IP4 127.0.0.1" -key hold_sess_attr "a=x-none" -key hold_port "$media_port" \
  -key hold_c_media "a=x-none" -key hold_media_attr "a=sendonly" \
  -trace_err -error_file "$logdir/phone-errors.log" >>"$logdir/phone.log" 2>&1
