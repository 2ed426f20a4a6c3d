/* Publishing call events (DESIGN.md §4) into the CALLS stream. */
#include "bus_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_ACK_TIMEOUT_MS 5000

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
