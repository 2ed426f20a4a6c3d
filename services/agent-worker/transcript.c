/* transcript and agent_* events, queued for CALLS on calls.<id>.<type>. */
#include "agent.h"

#include "outbox/outbox.h"

void transcript_publish(struct outbox *ob, const char *source, const char *call_id,
			const char *room, const char *speaker, const char *text,
			int64_t started_at_ms)
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
	if (!err) {
		outbox_event(ob, ev);
		return;
	}
	log_warn("event_build", "call %s: %s", call_id, cm_strerror(err));
	event_free(ev);
}

void agent_publish_simple(struct outbox *ob, const char *source, const char *call_id,
			  const char *room, enum event_type type)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, call_id, room, source);
	if (!err) {
		outbox_event(ob, ev);
		return;
	}
	log_warn("event_build", "call %s: %s", call_id, cm_strerror(err));
	event_free(ev);
}
