#!/bin/sh
# secrets.sh — the secrets docker-compose.yml and deploy/k8s read, generated
# on the machine that deploys (none is in the repository).
#
#   deploy/secrets.sh generate DIR
#       DIR/nats.conf, DIR/<service>.env, DIR/viewer.env: one NATS identity
#         per service and the read-only viewer (scripts/nats-auth.sh generate)
#       DIR/secrets-key.env: SECRETS_KEY (base64 of 32 random bytes), for
#         api-gateway and sip-bridge
#       DIR/webhook-signing.env: WEBHOOK_SIGNING_SECRET (64 hex characters),
#         for api-gateway
#   Files that exist are kept (a new SECRETS_KEY would leave every sealed
#   trunk password unreadable: rotate as README.md "Secrets" says, adding
#   SECRETS_KEY_PREVIOUS=<old> to secrets-key.env). DIR mode 0700, files 0600.
#
# DIR is deploy/compose-secrets for docker-compose (CALLMESH_SECRETS_DIR names
# another) and deploy/k8s/secrets for kustomize, which reads files inside its
# own directory only. Both are in .gitignore.
set -eu

usage() {
	echo "usage: $0 generate DIR" >&2
	exit 2
}

if [ $# -ne 2 ] || [ "$1" != generate ]; then usage; fi
dir=$2
here=$(dirname "$0")
command -v openssl >/dev/null || { echo "$0: openssl is needed to generate the keys" >&2; exit 1; }

"$here/../scripts/nats-auth.sh" generate "$dir" >/dev/null
umask 077

write() { # file line
	if [ ! -s "$1" ]; then
		printf '%s\n' "$2" >"$1.tmp"
		chmod 600 "$1.tmp"
		mv "$1.tmp" "$1"
	fi
}
write "$dir/secrets-key.env" "SECRETS_KEY=$(openssl rand -base64 32)"
write "$dir/webhook-signing.env" "WEBHOOK_SIGNING_SECRET=$(openssl rand -hex 32)"
echo "$dir"
