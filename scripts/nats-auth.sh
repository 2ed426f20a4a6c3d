#!/bin/sh
# nats-auth.sh — one NATS identity per service, with least-privilege permissions.
#
#   scripts/nats-auth.sh generate DIR [--force] [--tls CERT KEY [--verify CA]]
#       writes DIR/nats.conf (an `authorization` block for `nats-server -c`;
#       with --tls also a `tls` block: clients must use TLS, and with --verify
#       present a certificate signed by CA)
#       and DIR/<user>.env (NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX) for
#       api-gateway, room-manager, twilio-dialer, sip-bridge, agent-worker and
#       the read-only `viewer`; every file mode 0600, DIR mode 0700. Existing
#       files are kept (same passwords across `make up`s) unless --force.
#   scripts/nats-auth.sh viewer DIR [NATS_URL]
#       prints the `nats` CLI command that follows every call event as viewer.
#
# The permissions are what each service publishes and subscribes to
# (DESIGN.md §4); a subject added to a service must be added here too.
# nats-server flags given next to `-c` (-a, -p, -js, -sd) override nothing
# here: this file holds only the authorization block.
set -eu

USERS="api-gateway room-manager twilio-dialer sip-bridge agent-worker viewer"

usage() {
	echo "usage: $0 generate DIR [--force] [--tls CERT KEY [--verify CA]] | viewer DIR [NATS_URL]" >&2
	exit 2
}

# JetStream API every service uses at start: the CALLS and DIALS streams are
# created when missing (an identical create is a no-op) and looked at.
js_streams='"$JS.API.INFO", "$JS.API.STREAM.CREATE.CALLS", "$JS.API.STREAM.CREATE.DIALS",
      "$JS.API.STREAM.INFO.CALLS", "$JS.API.STREAM.INFO.DIALS"'

# A durable pull consumer $2 on stream $1: bound, fetched from and acked by
# its one user; nobody else can read or ack it.
js_reader() {
	printf '"$JS.API.CONSUMER.INFO.%s.%s", "$JS.API.CONSUMER.MSG.NEXT.%s.%s", "$JS.ACK.%s.%s.>"' \
		"$1" "$2" "$1" "$2" "$1" "$2"
}
# … and created by the user too. nats.c 3.4 creates through DURABLE.CREATE,
# whose subject does not name the filter, and the server lets a create change
# an existing durable's filter: so the DIALS workers' consumers are created by
# api-gateway (persist.c), and their users can only read them.
js_creator() {
	printf '"$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", "$JS.API.CONSUMER.INFO.%s.%s"' "$1" "$2" "$1" "$2"
}
js_consumer() {
	printf '"$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", %s' "$1" "$2" "$(js_reader "$1" "$2")"
}

ev() { # ev TYPE... → "calls.*.TYPE", ...
	sep=""
	for t in "$@"; do
		printf '%s"calls.*.%s"' "$sep" "$t"
		sep=", "
	done
}

# publish allow, subscribe allow, allow_responses (true|false)
perms() {
	case "$1" in
	api-gateway)
		PUB="$js_streams, \"\$JS.API.STREAM.UPDATE.CALLS\", \"\$JS.API.STREAM.UPDATE.DIALS\",
      $(js_consumer CALLS api-gateway-persister),
      $(js_creator DIALS sip-bridge), $(js_creator DIALS twilio-dialer),
      \"dial.exotel\", \"dial.twilio\", \"cmd.calls.*.hangup\",
      \"rooms.create\", \"rooms.delete\", \"rooms.token\", \"agents.dispatch\", \"sip.trunks.create\",
      $(ev call_queued call_failed call_ended recording_ready recording_failed webhook_delivered webhook_failed)"
		SUB='"owners.heartbeat", "calls.>"' # calls.>: the console's GET /events
		RESP=false ;;
	room-manager)
		# rooms.join/leave: a browser member joins the local room like any member
		PUB="$js_streams, \"rooms.join\", \"rooms.leave\", $(ev recording_ready)"
		SUB='"rooms.create", "rooms.delete", "rooms.send_data", "rooms.token", "rooms.join", "rooms.leave",
      "recordings.start", "recordings.stop", "calls.>"'
		RESP=true ;;
	twilio-dialer)
		PUB="$js_streams, $(js_reader DIALS twilio-dialer), \"owners.heartbeat\",
      $(ev call_dialing call_ringing call_answered call_failed call_ended)"
		SUB='"sip.trunks.create", "cmd.calls.*.hangup", "calls.*.call_ended", "calls.*.call_failed"'
		RESP=true ;;
	sip-bridge)
		PUB="$js_streams, $(js_reader DIALS sip-bridge), \"owners.heartbeat\",
      \"rooms.join\", \"rooms.leave\",
      $(ev call_dialing call_ringing call_answered call_failed call_hold call_resume call_dtmf call_ended)"
		SUB='"cmd.calls.*.hangup", "calls.*.call_ended", "calls.*.call_failed"'
		RESP=false ;;
	agent-worker)
		PUB="$js_streams, \"cmd.calls.*.hangup\", \"recordings.start\", \"recordings.stop\",
      \"rooms.join\", \"rooms.leave\", \"owners.heartbeat\",
      $(ev agent_joined agent_ready agent_speaking agent_listening transcript recording_started recording_failed call_answered call_ended call_failed)"
		# a web call is the agent's own: its answer and end, and its hangup command
		SUB='"agents.dispatch", "calls.>", "cmd.calls.*.hangup"'
		RESP=true ;;
	viewer)
		PUB=''
		SUB='"calls.>"'
		RESP=false ;;
	esac
}

gen_password() {
	od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

user_block() { # user password
	perms "$1"
	inbox="_INBOX.$1"
	if [ "$1" = viewer ]; then
		pub='deny: [">"]'
	else
		pub="allow: [$PUB]"
		SUB="$SUB, \"$inbox.>\""
	fi
	cat <<EOF
    {
      user: "$1"
      password: "$2"
      permissions: {
        publish: { $pub }
        subscribe: { allow: [$SUB] }
        allow_responses: $RESP
      }
    }
EOF
}

env_value() { # file name
	sed -n "s/^$2=//p" "$1"
}

generate() {
	dir=$1
	shift
	force= tls_cert= tls_key= tls_ca=
	while [ $# -gt 0 ]; do
		case "$1" in
		--force) force=--force; shift ;;
		--tls) [ $# -ge 3 ] || usage; tls_cert=$2; tls_key=$3; shift 3 ;;
		--verify) [ $# -ge 2 ] && [ -n "$tls_cert" ] || usage; tls_ca=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	for f in "$tls_cert" "$tls_key" "$tls_ca"; do
		[ -z "$f" ] || [ -r "$f" ] || { echo "$0: $f: not a readable file" >&2; exit 1; }
	done
	umask 077
	mkdir -p "$dir"
	chmod 700 "$dir"
	for u in $USERS; do
		f="$dir/$u.env"
		if [ "$force" = --force ] || [ ! -s "$f" ]; then
			printf 'NATS_USER=%s\nNATS_PASSWORD=%s\nNATS_INBOX_PREFIX=_INBOX.%s\n' \
				"$u" "$(gen_password)" "$u" >"$f.tmp"
			chmod 600 "$f.tmp"
			mv "$f.tmp" "$f"
		fi
	done
	conf="$dir/nats.conf"
	{
		echo "# generated by scripts/nats-auth.sh: one user per callmesh service + viewer"
		echo "authorization {"
		echo "  users = ["
		for u in $USERS; do
			user_block "$u" "$(env_value "$dir/$u.env" NATS_PASSWORD)"
		done
		echo "  ]"
		echo "}"
		if [ -n "$tls_cert" ]; then
			echo "tls {"
			echo "  cert_file: \"$tls_cert\""
			echo "  key_file: \"$tls_key\""
			[ -z "$tls_ca" ] || printf '  ca_file: "%s"\n  verify: true\n' "$tls_ca"
			echo "}"
		fi
	} >"$conf.tmp"
	chmod 600 "$conf.tmp"
	mv "$conf.tmp" "$conf"
	echo "$conf"
}

viewer() {
	f="$1/viewer.env"
	[ -r "$f" ] || { echo "$0: $f: not generated (run: $0 generate $1)" >&2; exit 1; }
	echo "nats --server ${2:-nats://127.0.0.1:4222} --user viewer --password $(env_value "$f" NATS_PASSWORD) sub 'calls.>'"
}

[ $# -ge 2 ] || usage
case "$1" in
generate) shift; generate "$@" ;;
viewer) [ $# -le 3 ] || usage; viewer "$2" "${3:-}" ;;
*) usage ;;
esac
