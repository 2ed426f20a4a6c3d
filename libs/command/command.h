/* command — request/reply commands between services (proto/COMMANDS.md):
 * payload validation against a table of fields (fields.h, shared with the
 * API's request bodies), the {"ok":…} reply envelope, and the subjects and
 * payloads every service forms alike (hangup subject, owners.heartbeat). */
#ifndef CALLMESH_COMMAND_H
#define CALLMESH_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "bus/bus.h"
#include "command/fields.h"
#include "core/core.h"

#define CMD_JSON_MAX 65536 /* larger payloads are refused */

/* What an upstream server (LiveKit) answered, carried in an upstream_error
 * reply as {"code","msg","http_status"}. */
struct cmd_upstream {
	int http_status; /* 0 when no HTTP reply came */
	char code[64];
	char msg[256];
};

/* The error of a failed command; code is one of COMMANDS.md's codes. */
struct cmd_error {
	char code[32];
	char message[256];
	char field[64];
	struct cmd_upstream upstream; /* when code is upstream_error */
	bool has_upstream;
};

void cmd_error_set(struct cmd_error *e, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* upstream_error from a failed call `what` to `server` ("livekit"): the
 * message is "<server> <what>: <code>: <msg>", or "<server> <what>:
 * <strerror(err)>" when the server sent no code. Strings borrowed (copied). */
void cmd_error_upstream(struct cmd_error *e, const char *server, const char *what, int err,
			int http_status, const char *code, const char *msg);

/* Parses `len` bytes and checks "v":1 and every field of `fields` (ended by
 * an entry with name NULL). Caller frees *rootp (cJSON_Delete). 0, or EINVAL
 * with *e filled (code invalid_field, field named). */
int cmd_parse(cJSON **rootp, const char *data, size_t len, const struct cmd_field *fields,
	      struct cmd_error *e) CM_MUST_USE;

/* Field readers for a payload cmd_parse() accepted: NULL / `def` when absent. */
const char *cmd_str(const cJSON *root, const char *name);
long cmd_int(const cJSON *root, const char *name, long def);
bool cmd_bool(const cJSON *root, const char *name, bool def);

/* Replies {"ok":true,"data":data} (takes ownership of data; NULL = {}) or
 * {"ok":false,"error":{code,message,field?,upstream?}} to `reply`. */
void cmd_reply_ok(struct bus *bus, const char *reply, cJSON *data);
void cmd_reply_error(struct bus *bus, const char *reply, const struct cmd_error *e);

/* ---- the requesting side ------------------------------------------------
 * Sends `payload` (borrowed) to `subject` and waits up to timeout_ms.
 * On {"ok":true} returns 0 and *datap = the reply's data object (caller
 * frees; {} when absent). Otherwise *ce is filled — code is the responder's
 * error code, "unavailable" when nobody answered (no responder, timeout,
 * NATS down) or "internal" for a reply we could not read — and the result is
 * EAGAIN (unavailable: retrying later may work) or EIO (the responder
 * refused, or replied nonsense). */
int cmd_request(struct bus *bus, cJSON **datap, const char *subject, const cJSON *payload,
		int timeout_ms, struct cmd_error *ce) CM_MUST_USE;

/* ---- subjects and payloads formed alike in every service --------------- */
#define CMD_SUBJECT_MAX 128 /* fits "cmd.calls.<uuid>.hangup" with room to spare */
/* "cmd.calls.<id>.hangup" into buf: 0, ENOSPC when it does not fit, EINVAL
 * when call_id is empty or not one subject token (no '.', '*', '>', spaces). */
int cmd_hangup_subject(char *buf, size_t len, const char *call_id) CM_MUST_USE;
/* Subject "cmd.calls.<id>.<verb>" or "calls.<id>.<type>" → <id> (a UUID) into
 * id (len >= ID_UUID_LEN + 1): 0, or EINVAL for any other subject. */
int cmd_subject_call_id(char *id, size_t len, const char *subject) CM_MUST_USE;
/* The owners.heartbeat payload {"v":1,"source":…,"calls":[…],"max_calls":…,
 * "ts":…} with ts now (RFC 3339); call_ids borrowed (n of them, may be NULL
 * when n is 0); max_calls (the sender's MAX_CALLS) left out when 0.
 * Caller frees; NULL when out of memory. */
char *cmd_heartbeat_json(const char *source, const char *const *call_ids, size_t n,
			 long max_calls);

#endif
