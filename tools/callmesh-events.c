/* callmesh-events [SUBJECT]: prints every message on SUBJECT (default
 * "calls.>") as "<subject> <payload>", one per line, until Ctrl-C. For
 * machines without the NATS CLI (`nats sub 'calls.>'` does the same).
 * Connects with the services' NATS_* identity variables (e.g. the viewer's
 * from scripts/nats-auth.sh). */
#include "bus/bus.h"

#include <stdio.h>
#include <stdlib.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void on_msg(const struct bus_msg *msg, void *arg)
{
	(void)arg;
	printf("%s %.*s\n", msg->subject, msg->len, msg->data);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *subject = argc > 1 ? argv[1] : "calls.>";
	const char *url = getenv("NATS_URL") && *getenv("NATS_URL") ? getenv("NATS_URL")
								     : "nats://127.0.0.1:4222";
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	int rc = 1;

	log_setup("callmesh-events", LOG_WARN, false);
	lifecycle_install();
	struct bus_auth auth = {
		.creds_file = env("NATS_CREDS"), .nkey = env("NATS_NKEY"),
		.nkey_seed_file = env("NATS_NKEY_SEED"), .user = env("NATS_USER"),
		.password = env("NATS_PASSWORD"), .tls_ca = env("NATS_TLS_CA"),
		.tls_cert = env("NATS_TLS_CERT"), .tls_key = env("NATS_TLS_KEY"),
		.inbox_prefix = env("NATS_INBOX_PREFIX"),
	};
	char shown[512];
	if (bus_connect_auth(&bus, url, "callmesh-events", &auth)) {
		fprintf(stderr, "callmesh-events: cannot connect to %s\n",
			cfg_url_redact(shown, sizeof(shown), url));
		goto out;
	}
	if (bus_subscribe(bus, &sub, subject, NULL, on_msg, NULL)) {
		fprintf(stderr, "callmesh-events: cannot subscribe to %s\n", subject);
		goto out;
	}
	while (!lifecycle_wait(-1))
		;
	rc = 0;
out:
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	return rc;
}
