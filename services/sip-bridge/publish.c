/* sip-bridge's events and heartbeats go out through one outbox
 * (libs/outbox), so the sofia thread never waits for a JetStream ack. */
#include "publish.h"

#include "outbox/outbox.h"

#include <errno.h>
#include <stdlib.h>

struct publisher {
	struct outbox *ob;
	const char *source;
	struct metric *m_calls_failed;
};

int publisher_new(struct publisher **pubp, struct bus *bus, const char *source)
{
	struct publisher *pub = calloc(1, sizeof(*pub));
	if (!pub)
		return ENOMEM;
	pub->source = source;
	pub->m_calls_failed = metric_counter("sip_bridge_failed_total", "calls failed");
	int err = outbox_new(&pub->ob, bus, "sb-publisher", "sip_bridge_publish_failed_total");
	if (err) {
		free(pub);
		return err;
	}
	*pubp = pub;
	return 0;
}

struct publisher *publisher_free(struct publisher *pub)
{
	if (!pub)
		return NULL;
	pub->ob = outbox_free(pub->ob);
	free(pub);
	return NULL;
}

void publisher_event(struct publisher *pub, struct event *ev)
{
	outbox_event(pub->ob, ev);
}

void publisher_raw(struct publisher *pub, const char *subject, const char *data, size_t len)
{
	outbox_raw(pub->ob, subject, data, len);
}

struct event *publisher_draft(struct publisher *pub, enum event_type type, const char *call_id,
			      const char *room)
{
	struct event *ev = NULL;
	if (event_new(&ev, type, call_id, room, pub->source))
		return NULL;
	return ev;
}

void publisher_call_failed(struct publisher *pub, const char *call_id, const char *room,
			   const char *status, int sip_code, const char *reason)
{
	struct event *ev = publisher_draft(pub, EV_CALL_FAILED, call_id, room);
	if (!ev)
		return;
	if (event_set_str(ev, "status", status) ||
	    (sip_code >= 100 && sip_code <= 699 && event_set_int(ev, "sip_code", sip_code)) ||
	    (reason && event_set_str(ev, "sip_reason", reason))) {
		event_free(ev);
		return;
	}
	metric_add(pub->m_calls_failed, 1);
	publisher_event(pub, ev);
}
