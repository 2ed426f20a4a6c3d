/* callmesh-events [SUBJECT]: prints every message on SUBJECT (default
 * "calls.>") as "<subject> <payload>", one per line, until Ctrl-C. For
 * machines without the NATS CLI (`nats sub 'calls.>'` does the same). */
#include "bus/bus.h"

#include <stdio.h>
#include <stdlib.h>

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
	if (bus_connect(&bus, url, "callmesh-events")) {
		fprintf(stderr, "callmesh-events: cannot connect to %s\n", url);
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
