/* transcript and agent_* events, published to CALLS on calls.<id>.<type>. */
#include "agent.h"

static int publish(struct bus *bus, struct event *ev)
{
	int err = bus_publish_event(bus, ev);
	if (err)
		log_warn("event_publish", "call %s: %s: %s", ev->call_id, event_type_name(ev->type),
			 cm_strerror(err));
	return err;
}

void transcript_publish(struct bus *bus, const char *source, const char *call_id, const char *room,
			const char *speaker, const char *text, int64_t started_at_ms)
{
	struct event *ev = NULL;
	int err = event_new(&ev, EV_TRANSCRIPT, call_id, room, source);
	if (!err)
		err = event_set_str(ev, "speaker", speaker);
	if (!err)
		err = event_set_str(ev, "text", text);
	if (!err)
		err = event_set_bool(ev, "final", true);
	if (!err)
		err = event_set_time(ev, "started_at", started_at_ms);
	if (!err)
		(void)publish(bus, ev);
	else
		log_warn("event_build", "call %s: %s", call_id, cm_strerror(err));
	event_free(ev);
}

void agent_publish_simple(struct bus *bus, const char *source, const char *call_id,
			  const char *room, enum event_type type)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, call_id, room, source);
	if (!err)
		(void)publish(bus, ev);
	else
		log_warn("event_build", "call %s: %s", call_id, cm_strerror(err));
	event_free(ev);
}
