/* command — request/reply commands between services (proto/COMMANDS.md):
 * payload validation against a
 * table of fields (fields.h, shared with the API's request bodies) and the
 * {"ok":…} reply envelope. */
#ifndef CALLMESH_COMMAND_H
#define CALLMESH_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "bus/bus.h"
#include "command/fields.h"
#include "livekit/livekit.h"

#define CMD_JSON_MAX 65536 /* larger payloads are refused */

/* The error of a failed command; code is one of COMMANDS.md's codes. */
struct cmd_error {
	char code[32];
	char message[256];
	char field[64];
	struct livekit_error upstream; /* when code is upstream_error */
	bool has_upstream;
};

void cmd_error_set(struct cmd_error *e, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* upstream_error from a failed livekit_twirp(): LiveKit's code and msg. */
void cmd_error_livekit(struct cmd_error *e, const char *what, int err, const struct livekit_error *lke);

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

#endif
