/* event-sample: one realistic event of every type, encoded exactly as the
 * services publish them on NATS, one JSON document per line on stdout.
 * tests/js/run.mjs checks each line against the JSON Schemas in proto/. */
#include "event/event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct sample_ctx {
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	int64_t started_ms;
};

static const char *source_of(enum event_type type)
{
	switch (type) {
	case EV_CALL_QUEUED:
	case EV_WEBHOOK_DELIVERED:
	case EV_WEBHOOK_FAILED:
		return "api-gateway/host-1";
	case EV_CALL_DIALING:
	case EV_CALL_RINGING:
	case EV_CALL_ANSWERED:
	case EV_CALL_FAILED:
	case EV_CALL_HOLD:
	case EV_CALL_RESUME:
	case EV_CALL_DTMF:
	case EV_CALL_ENDED:
		return "sip-bridge/host-1";
	case EV_RECORDING_READY:
		return "room-manager/host-1";
	default:
		return "agent-worker/host-1";
	}
}

/* Fills the data of one event; 0 or an errno value from the setters. */
static int fill(struct event *ev, const struct sample_ctx *ctx)
{
	int err = 0;
	switch (ev->type) {
	case EV_CALL_DIALING:
		err = event_set_str(ev, "provider", "exotel");
		break;
	case EV_CALL_RINGING:
		err = event_set_int(ev, "sip_code", 180);
		break;
	case EV_CALL_ANSWERED:
		err = event_set_str(ev, "sip_call_id", "8f1c2a7e@10.0.0.12");
		if (!err)
			err = event_set_str(ev, "participant_identity", "sip-callee");
		break;
	case EV_CALL_FAILED:
		err = event_set_str(ev, "status", "busy");
		if (!err)
			err = event_set_int(ev, "sip_code", 486);
		if (!err)
			err = event_set_str(ev, "sip_reason", "Busy Here");
		break;
	case EV_CALL_HOLD:
		err = event_set_str(ev, "direction", "sendonly");
		if (!err)
			err = event_set_str(ev, "method", "attribute");
		break;
	case EV_CALL_RESUME:
		err = event_set_str(ev, "direction", "sendrecv");
		break;
	case EV_CALL_DTMF:
		err = event_set_str(ev, "digit", "5");
		if (!err)
			err = event_set_int(ev, "duration_ms", 160);
		break;
	case EV_CALL_ENDED:
		err = event_set_str(ev, "reason", "hangup");
		if (!err)
			err = event_set_str(ev, "by", "remote");
		if (!err)
			err = event_set_int(ev, "duration_ms", 73250);
		break;
	case EV_AGENT_JOINED:
		err = event_set_str(ev, "identity", "agent-front-desk");
		break;
	case EV_TRANSCRIPT:
		err = event_set_str(ev, "speaker", "user");
		if (!err)
			err = event_set_str(ev, "text", "What are your opening hours?");
		if (!err)
			err = event_set_bool(ev, "final", true);
		if (!err)
			err = event_set_time(ev, "started_at", ctx->started_ms);
		break;
	case EV_RECORDING_STARTED:
		err = event_set_str(ev, "recording_id", "EG_4kq9Xw2mTz");
		if (!err)
			err = event_set_str(ev, "path", "var/recordings/call.ogg");
		break;
	case EV_RECORDING_FAILED:
		err = event_set_int(ev, "attempt", 1);
		if (!err)
			err = event_set_str(ev, "error", "egress unavailable");
		break;
	case EV_RECORDING_READY:
		err = event_set_str(ev, "path", "var/recordings/call.ogg");
		if (!err)
			err = event_set_str(ev, "recording_id", "EG_4kq9Xw2mTz");
		break;
	case EV_WEBHOOK_DELIVERED:
		err = event_set_str(ev, "url", "https://example.com/hooks/call-ended");
		if (!err)
			err = event_set_int(ev, "status_code", 200);
		if (!err)
			err = event_set_int(ev, "attempts", 1);
		break;
	case EV_WEBHOOK_FAILED:
		err = event_set_str(ev, "url", "https://example.com/hooks/call-ended");
		if (!err)
			err = event_set_str(ev, "error", "HTTP 503");
		if (!err)
			err = event_set_int(ev, "status_code", 503);
		if (!err)
			err = event_set_int(ev, "attempts", 5);
		break;
	default:
		break;
	}
	return err;
}

static int emit(enum event_type type, const struct sample_ctx *ctx)
{
	struct event *ev = NULL;
	char *json = NULL;
	char msg[256] = "";
	int err = event_new(&ev, type, ctx->call_id, ctx->room, source_of(type));
	if (err)
		goto out;
	err = fill(ev, ctx);
	if (err)
		goto out;
	err = event_validate(ev, msg, sizeof(msg));
	if (err)
		goto out;
	err = event_encode(&json, ev);
	if (err)
		goto out;
	if (puts(json) == EOF)
		err = EIO;
out:
	if (err)
		fprintf(stderr, "event-sample: %s: %s%s%s\n", event_type_name(type),
			cm_strerror(err), msg[0] ? ": " : "", msg);
	free(json);
	event_free(ev);
	return err;
}

int main(void)
{
	struct sample_ctx ctx;
	if (id_uuid4(ctx.call_id) != 0)
		return 1;
	snprintf(ctx.room, sizeof(ctx.room), "call-%s", ctx.call_id);
	ctx.started_ms = time_now_ms() - 1500;

	int failed = 0;
	for (int t = 0; t < EV_TYPE_COUNT; t++)
		failed |= emit((enum event_type)t, &ctx) != 0;
	return failed || fflush(stdout) != 0;
}
