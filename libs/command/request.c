/* NATS request/reply with the commands' reply envelope. */
#include "command/command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_REPLY_MAX (1 << 20)

static int fail(struct cmd_error *ce, int err, const char *code, const char *msg)
{
	snprintf(ce->code, sizeof(ce->code), "%s", code);
	snprintf(ce->message, sizeof(ce->message), "%s", msg);
	return err;
}

int cmd_request(struct bus *bus, cJSON **datap, const char *subject, const cJSON *payload,
		int timeout_ms, struct cmd_error *ce)
{
	memset(ce, 0, sizeof(*ce));
	char *body = NULL, *reply = NULL, msg[200];
	size_t len = 0;
	cJSON *root = NULL;
	int err;

	ce->code[0] = ce->message[0] = '\0';
	body = cJSON_PrintUnformatted(payload);
	if (!body)
		return fail(ce, EAGAIN, "unavailable", "out of memory");
	err = bus_request(bus, &reply, &len, subject, body, strlen(body), timeout_ms);
	if (err) {
		snprintf(msg, sizeof(msg), "%s: %s", subject,
			 err == ENOENT ? "no responders" : err == ETIMEDOUT ? "timed out"
			 : err == EAGAIN ? "NATS not connected" : cm_strerror(err));
		log_warn("cmd_unavailable", "%s", msg);
		err = fail(ce, EAGAIN, "unavailable", msg);
		goto out;
	}
	root = len <= CMD_REPLY_MAX ? cJSON_ParseWithLength(reply, len) : NULL;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
	if (!cJSON_IsBool(ok)) {
		log_warn("cmd_bad_reply", "%s: reply is not a command envelope", subject);
		err = fail(ce, EIO, "internal", "malformed reply");
		goto out;
	}
	if (cJSON_IsFalse(ok)) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "message");
		snprintf(ce->code, sizeof(ce->code), "%s",
			 cJSON_IsString(code) ? code->valuestring : "internal");
		snprintf(ce->message, sizeof(ce->message), "%s",
			 cJSON_IsString(text) ? text->valuestring : "refused");
		log_warn("cmd_refused", "%s: %s: %s", subject, ce->code, ce->message);
		/* A responder that is itself cut off (LiveKit down) is as good as none. */
		err = strcmp(ce->code, "unavailable") == 0 ? EAGAIN : EIO;
		goto out;
	}
	cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(root, "data");
	if (!cJSON_IsObject(data)) {
		cJSON_Delete(data);
		data = cJSON_CreateObject();
		if (!data) {
			err = fail(ce, EAGAIN, "unavailable", "out of memory");
			goto out;
		}
	}
	*datap = data;
	err = 0;
out:
	cJSON_Delete(root);
	free(reply);
	free(body);
	return err;
}
