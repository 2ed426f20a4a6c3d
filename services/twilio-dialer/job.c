/* job — the dial.twilio job (DESIGN.md §3, proto/COMMANDS.md) read and
 * checked: the one parser of what the DIALS stream brings this service.
 * Pure; runs on the puller thread (and in tests/fuzz/fuzz_dial_twilio.c). */
#include "job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct cmd_field job_fields[] = {
	{ "call_id", CMD_UUID, true, 0, 0 },
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "to_number", CMD_STR, true, 2, E164_MAX },
	{ "from_number", CMD_STR, true, 2, E164_MAX },
	{ "ring_timeout_s", CMD_INT, false, 1, 600 },
	{ "max_duration_s", CMD_INT, false, 1, 86400 },
	{ "participant_identity", CMD_NAME, false, 1, LIVEKIT_IDENTITY_MAX },
	{ "trunk", CMD_OBJ, true, 0, 0 },
	{ "created_at", CMD_STR, false, 1, 64 },
	{ "dial_by", CMD_STR, false, 1, 64 },
	{ 0 }
};
static const struct cmd_field trunk_fields_check[] = {
	{ "livekit_sip_trunk_id", CMD_STR, true, 1, 127 },
	{ "krisp_enabled", CMD_BOOL, false, 0, 0 },
	{ 0 }
};

int twilio_job_parse(struct twilio_job *j, const char *data, size_t len, struct cmd_error *e,
		       char *call_id, char *room)
{
	cJSON *job = NULL;
	int err = cmd_parse(&job, data, len, job_fields, e);
	if (err) {
		/* still name the call when we can, to fail it */
		cJSON *raw = cJSON_ParseWithLength(data, len);
		const char *id = cmd_str(raw, "call_id");
		const char *rm = cmd_str(raw, "room");
		if (id && id_is_uuid(id))
			snprintf(call_id, ID_UUID_LEN + 1, "%s", id);
		if (rm && strlen(rm) <= EVENT_ROOM_MAX)
			snprintf(room, EVENT_ROOM_MAX + 1, "%s", rm);
		cJSON_Delete(raw);
		return err;
	}
	const cJSON *trunk = cJSON_GetObjectItemCaseSensitive(job, "trunk");
	for (const struct cmd_field *f = trunk_fields_check; !err && f->name; f++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(trunk, f->name);
		struct cmd_field_error fe;
		if (!v || cJSON_IsNull(v)) {
			if (f->required) {
				cmd_error_set(e, "invalid_field", f->name, "trunk.%s: required",
					      f->name);
				err = EINVAL;
			}
		} else if (cmd_check_field(v, f, &fe)) {
			cmd_error_set(e, "invalid_field", f->name, "trunk.%s", fe.message);
			err = EINVAL;
		}
	}
	const char *to = cmd_str(job, "to_number"), *from = cmd_str(job, "from_number");
	for (int i = 0; !err && i < 2; i++) {
		if (!e164_valid(i ? from : to)) {
			cmd_error_set(e, "invalid_field", i ? "from_number" : "to_number",
				      "%s: not an E.164 number", i ? "from_number" : "to_number");
			err = EINVAL;
		}
	}
	static const char *const times[] = { "created_at", "dial_by" };
	int64_t ms[2] = { 0, 0 };
	for (int i = 0; !err && i < 2; i++) {
		const char *t = cmd_str(job, times[i]);
		if (t && time_parse_iso8601(&ms[i], t) != 0) {
			cmd_error_set(e, "invalid_field", times[i], "%s: must be an RFC 3339 time",
				      times[i]);
			err = EINVAL;
		}
	}
	snprintf(call_id, ID_UUID_LEN + 1, "%s", cmd_str(job, "call_id"));
	snprintf(room, EVENT_ROOM_MAX + 1, "%s", cmd_str(job, "room"));
	if (!err) {
		snprintf(j->call_id, sizeof(j->call_id), "%s", call_id);
		snprintf(j->room, sizeof(j->room), "%s", room);
		const char *ident = cmd_str(job, "participant_identity");
		if (ident)
			snprintf(j->identity, sizeof(j->identity), "%s", ident);
		else
			snprintf(j->identity, sizeof(j->identity), "sip-%s", j->call_id);
		snprintf(j->to, sizeof(j->to), "%s", to);
		snprintf(j->from, sizeof(j->from), "%s", from);
		snprintf(j->trunk_id, sizeof(j->trunk_id), "%s",
			 cmd_str(trunk, "livekit_sip_trunk_id"));
		j->krisp = cmd_bool(trunk, "krisp_enabled", false);
		j->ring_timeout_s = cmd_int(job, "ring_timeout_s", 60);
		j->max_duration_s = cmd_int(job, "max_duration_s", 3600);
		j->created_ms = ms[0];
		j->dial_by_ms = ms[1];
	}
	cJSON_Delete(job);
	return err;
}
