/* Publishing call events (DESIGN.md §4) into the CALLS stream. */
#include "bus_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_ACK_TIMEOUT_MS 5000

/* The event's subject and JSON; *jsonp is the caller's. */
static int encode(char subject[EVENT_SUBJECT_MAX], char **jsonp, const struct event *ev)
{
	int err = event_subject(subject, EVENT_SUBJECT_MAX, ev);
	if (!err)
		err = event_encode(jsonp, ev);
	if (err)
		log_error("bus_event_encode_failed", "id=%s type=%s: %s", ev->id,
			  event_type_name(ev->type), cm_strerror(err));
	return err;
}

int bus_publish_event_send(struct bus_js_pub **pubp, struct bus *bus, const struct event *ev)
{
	char subject[EVENT_SUBJECT_MAX];
	char *json = NULL;

	if (!pubp || !bus || !ev)
		return EINVAL;
	*pubp = NULL;
	int err = encode(subject, &json, ev);
	if (!err)
		err = bus_js_pub_send(pubp, bus, subject, ev->id, json, strlen(json),
				      EVENT_ACK_TIMEOUT_MS);
	free(json);
	return err;
}

int bus_publish_event(struct bus *bus, const struct event *ev)
{
	char subject[EVENT_SUBJECT_MAX];
	char *json = NULL;
	int err;

	if (!bus || !ev)
		return EINVAL;
	err = event_subject(subject, sizeof(subject), ev);
	if (!err)
		err = event_encode(&json, ev);
	if (err) {
		log_error("bus_event_encode_failed", "id=%s type=%s: %s", ev->id,
			  event_type_name(ev->type), cm_strerror(err));
		goto out;
	}
	err = bus_js_publish(bus, subject, ev->id, json, strlen(json), EVENT_ACK_TIMEOUT_MS);
out:
	free(json);
	return err;
}
