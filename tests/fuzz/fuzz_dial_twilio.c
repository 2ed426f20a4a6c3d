/* libFuzzer target for twilio-dialer's dial.twilio job parser,
 * twilio_job_parse() (services/twilio-dialer/job.c): a JSON job from
 * JetStream. What parses must hold what the call thread relies on; a
 * refusal names its field, and the ids it hands back for the failure event
 * are well-formed. */
#include "twilio-dialer/job.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

static bool e164(const char *s)
{
	size_t n = strnlen(s, E164_MAX + 1);
	if (n < 8 || n > E164_MAX || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static void check_call(const struct twilio_job *c, const char *call_id, const char *room)
{
	if (!id_is_uuid(c->call_id) || strcmp(c->call_id, call_id) != 0 ||
	    strcmp(c->room, room) != 0 || !name_ok(c->room, EVENT_ROOM_MAX))
		abort();
	if (!terminated(c->identity, sizeof(c->identity)) || !c->identity[0])
		abort();
	if (!e164(c->to) || !e164(c->from))
		abort();
	if (!terminated(c->trunk_id, sizeof(c->trunk_id)) || !c->trunk_id[0])
		abort();
	if (c->ring_timeout_s < 1 || c->ring_timeout_s > 600 || c->max_duration_s < 1 ||
	    c->max_duration_s > 86400)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so sanitizers see reads past the end */
	char *copy = malloc(size ? size : 1);
	struct twilio_job *c = calloc(1, sizeof(*c));
	if (!copy || !c)
		goto out;
	memcpy(copy, data, size);
	struct cmd_error e;
	char call_id[ID_UUID_LEN + 1] = "", room[EVENT_ROOM_MAX + 1] = "";
	memset(&e, 0, sizeof(e));
	int err = twilio_job_parse(c, copy, size, &e, call_id, room);
	if (!terminated(call_id, sizeof(call_id)) || (call_id[0] && !id_is_uuid(call_id)) ||
	    !terminated(room, sizeof(room)))
		abort();
	if (err == 0)
		check_call(c, call_id, room);
	else if (err != EINVAL || !e.code[0] || !e.message[0] ||
		 !terminated(e.message, sizeof(e.message)) || !terminated(e.field, sizeof(e.field)))
		abort();
out:
	free(c);
	free(copy);
	return 0;
}
