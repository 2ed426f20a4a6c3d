/* fields — the one table-driven JSON validator (janus_json_parameter
 * style), for command payloads (cmd_parse(), command.h) and the API's
 * request bodies alike: types, lengths, ranges, enums, UUIDs, E.164 numbers,
 * URLs, hosts, nested objects, and unknown or repeated keys. Pure functions;
 * included through command/command.h. */
#ifndef CALLMESH_COMMAND_FIELDS_H
#define CALLMESH_COMMAND_FIELDS_H

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum cmd_type {
	CMD_STR,       /* string, min..max bytes (API bodies: UTF-8 text without control
			* characters but \t \n \r) */
	CMD_UUID,      /* string, a UUID */
	CMD_NAME,      /* string, 1..max printable ASCII without spaces (room, identity) */
	CMD_INT,       /* integer in min..max */
	CMD_BOOL,
	CMD_OBJ,       /* object; checked against `sub` when set, else any object, with at
			* most max keys and CMD_OBJ_BYTES_MAX bytes printed when max > 0 */
	CMD_NUM,       /* any finite number in min..max */
	CMD_ENUM,      /* string, one of `choices` ("a|b|c") */
	CMD_E164,      /* "+" then 7..15 digits, the first not 0 */
	CMD_URL,       /* http:// or https:// with a host, at most max bytes (0: 2048) */
	CMD_HOST,      /* DNS name or IPv4 literal, at most 253 bytes */
	CMD_OBJ_LIST,  /* array of min..max objects, each checked against `sub` */
	CMD_E164_LIST, /* array of min..max distinct E.164 numbers (in a payload: repeats
			* pass, errors name the list, "numbers[2]: not an E.164 number") */
};

/* A command payload's field (flat: no nesting, enums or null). */
struct cmd_field {
	const char *name;
	enum cmd_type type;
	bool required;
	long min, max;
};

/* A field of an API request body: a cmd_field (same first members) that
 * may also be null, name its choices or hold a sub-table. */
struct cmd_rule {
	const char *name;
	enum cmd_type type;
	bool required;
	long min, max;
	bool nullable;               /* JSON null accepted (and means "none") */
	const char *choices;         /* CMD_ENUM */
	const struct cmd_rule *sub;  /* CMD_OBJ / CMD_OBJ_LIST; ended by name NULL */
};

#define CMD_FIELD_PATH_MAX 128
#define CMD_OBJ_BYTES_MAX 16384 /* CMD_OBJ with max > 0: printed size cap */
#define CMD_KEYS_MAX 64         /* keys in one checked object */

/* What was wrong: code "missing_field" | "invalid_field" | "unknown_field",
 * field = dotted path ("assistant_interaction_config.max_reprompts",
 * "trunk_config.numbers[1]"), message for people (a sentence). */
struct cmd_field_error {
	const char *code;
	char field[CMD_FIELD_PATH_MAX];
	char message[256];
};

/* Checks `obj` (must be an object) against `rules`: unknown and repeated
 * keys are refused, null only where nullable. `partial` (PATCH): no field
 * is required, but any present is checked. `prefix` (may be NULL) starts the
 * field paths of a nested object checked on its own ("trunk_config"). 0 or
 * EINVAL with *e filled. Borrows everything. */
int cmd_check_object(const cJSON *obj, const struct cmd_rule *rules, bool partial,
		     const char *prefix, struct cmd_field_error *e) CM_MUST_USE;

/* Checks one command payload field's value `v` (not NULL, not null) against
 * f, as cmd_parse() does: "name: must be …" messages, code invalid_field,
 * strings not checked as text. 0 or EINVAL with *e filled. */
int cmd_check_field(const cJSON *v, const struct cmd_field *f,
		    struct cmd_field_error *e) CM_MUST_USE;

/* Fills *e (for checks a table cannot express). Returns EINVAL. */
int cmd_field_error_set(struct cmd_field_error *e, const char *code, const char *field,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A NUL (\u0000) inside any string of the raw JSON text (keys included):
 * cJSON keeps only what comes before it, so "+9198…\u0000@evil.com" would
 * pass as "+9198…". EINVAL with *e naming the field ("to_number",
 * "trunk_config.numbers[1]"); 0 otherwise. `json` must have parsed. */
int cmd_check_no_nul(const char *json, size_t len, struct cmd_field_error *e) CM_MUST_USE;

#endif
