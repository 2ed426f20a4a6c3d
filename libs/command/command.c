/* Command payloads: parsing (fields.c checks them) and the reply envelope. */
#include "command/command.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmd_error_set(struct cmd_error *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;
	memset(e, 0, sizeof(*e));
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void cmd_error_upstream(struct cmd_error *e, const char *server, const char *what, int err,
			int http_status, const char *code, const char *msg)
{
	code = code ? code : "";
	msg = msg ? msg : "";
	if (code[0])
		cmd_error_set(e, "upstream_error", NULL, "%s %s: %s: %s", server, what, code, msg);
	else
		cmd_error_set(e, "upstream_error", NULL, "%s %s: %s", server, what,
			      cm_strerror(err));
	e->upstream.http_status = http_status;
	snprintf(e->upstream.code, sizeof(e->upstream.code), "%s", code);
	snprintf(e->upstream.msg, sizeof(e->upstream.msg), "%s", msg);
	e->has_upstream = true;
}

int cmd_parse(cJSON **rootp, const char *data, size_t len, const struct cmd_field *fields,
	      struct cmd_error *e)
{
	cJSON *root = NULL;
	int err = 0;
	if (len > CMD_JSON_MAX) {
		cmd_error_set(e, "invalid_field", NULL, "payload over %d bytes", CMD_JSON_MAX);
		return EINVAL;
	}
	root = data && len ? cJSON_ParseWithLength(data, len) : NULL;
	if (!cJSON_IsObject(root)) {
		cmd_error_set(e, "invalid_field", NULL, "payload is not a JSON object");
		err = EINVAL;
		goto out;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
		cmd_error_set(e, "invalid_field", "v", "v: must be 1");
		err = EINVAL;
		goto out;
	}
	for (const struct cmd_field *f = fields; f && f->name; f++) {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, f->name);
		if (!item || cJSON_IsNull(item)) {
			if (f->required) {
				cmd_error_set(e, "invalid_field", f->name, "%s: required", f->name);
				err = EINVAL;
				goto out;
			}
			continue;
		}
		struct cmd_field_error fe;
		err = cmd_check_field(item, f, &fe);
		if (err) {
			cmd_error_set(e, "invalid_field", fe.field, "%s", fe.message);
			goto out;
		}
	}
out:
	if (err) {
		cJSON_Delete(root);
		root = NULL;
	}
	*rootp = root;
	return err;
}

const char *cmd_str(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long cmd_int(const cJSON *root, const char *name, long def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

bool cmd_bool(const cJSON *root, const char *name, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static void send_reply(struct bus *bus, const char *reply, cJSON *root)
{
	char *json = root ? cJSON_PrintUnformatted(root) : NULL;
	static const char oom[] =
		"{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
	const char *out = json ? json : oom;
	if (!reply || !*reply) {
		log_debug("cmd_no_reply", "request without a reply subject");
	} else {
		int err = bus_publish(bus, reply, out, strlen(out));
		if (err)
			log_warn("cmd_reply_failed", "%s", cm_strerror(err));
	}
	free(json);
	cJSON_Delete(root);
}

void cmd_reply_ok(struct bus *bus, const char *reply, cJSON *data)
{
	cJSON *root = cJSON_CreateObject();
	if (!data)
		data = cJSON_CreateObject();
	if (root && data && cJSON_AddTrueToObject(root, "ok") &&
	    cJSON_AddItemToObject(root, "data", data)) {
		send_reply(bus, reply, root);
		return;
	}
	cJSON_Delete(data);
	cJSON_Delete(root);
	send_reply(bus, reply, NULL);
}

void cmd_reply_error(struct bus *bus, const char *reply, const struct cmd_error *e)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	bool ok = root && err && cJSON_AddFalseToObject(root, "ok") &&
		  cJSON_AddStringToObject(err, "code", e->code[0] ? e->code : "internal") &&
		  cJSON_AddStringToObject(err, "message", e->message) &&
		  (!e->field[0] || cJSON_AddStringToObject(err, "field", e->field));
	if (ok && e->has_upstream) {
		cJSON *up = cJSON_AddObjectToObject(err, "upstream");
		ok = up && cJSON_AddStringToObject(up, "service", "livekit") &&
		     cJSON_AddStringToObject(up, "code", e->upstream.code) &&
		     cJSON_AddStringToObject(up, "msg", e->upstream.msg) &&
		     cJSON_AddNumberToObject(up, "http_status", e->upstream.http_status);
	}
	if (!ok) {
		cJSON_Delete(root);
		root = NULL;
	}
	send_reply(bus, reply, root);
}
