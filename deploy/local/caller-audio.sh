#!/usr/bin/env bash
# The phone simulator's caller audio, as its RTP carries it:
#   deploy/local/caller-audio.sh OUT [TEXT]
# espeak-ng speaks TEXT (default: PHONE_SAYS, else "What are your hours?"),
# sox turns it into raw 8 kHz A-law behind 5 s of silence (the agent greets
# first, about 3 s) and writes OUT. Fails, writing nothing, without either
# tool. phone.sh plays it; tests/unit/test_agent_phone.c hears it.
set -euo pipefail
out=${1:?usage: caller-audio.sh OUT [TEXT]}
text=${2:-${PHONE_SAYS:-"What are your hours?"}}
command -v espeak-ng >/dev/null || { echo "caller-audio.sh: espeak-ng is not installed (make deps)" >&2; exit 1; }
command -v sox >/dev/null || { echo "caller-audio.sh: sox is not installed (make deps)" >&2; exit 1; }
tmp="$out.$$"
trap 'rm -f "$tmp.wav" "$tmp.alaw"' EXIT
espeak-ng -w "$tmp.wav" "$text"
sox "$tmp.wav" -r 8000 -c 1 -e a-law -t raw "$tmp.alaw" pad 5 0
mv -f "$tmp.alaw" "$out"
