/* Request bodies checked against a table of fields (janus_json_parameter
 * style): types, lengths, ranges, enums, UUIDs, E.164 numbers, URLs, nested
 * objects, and unknown or duplicated keys. Pure functions. */
#ifndef CALLMESH_GATEWAY_VALIDATE_H
#define CALLMESH_GATEWAY_VALIDATE_H

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

enum vtype {
	V_STR,      /* string, min..max bytes of UTF-8, no control characters but \t \n \r */
	V_INT,      /* integer number in min..max */
	V_NUM,      /* any number in min..max */
	V_BOOL,
	V_ENUM,     /* string, one of `choices` ("a|b|c") */
	V_UUID,
	V_E164,     /* "+" then 7..15 digits, the first not 0 */
	V_URL,      /* http:// or https:// with a host, at most max bytes */
	V_HOST,     /* DNS name or IPv4 literal, at most 253 bytes */
	V_OBJ,      /* object checked against `sub` */
	V_OBJ_LIST, /* array of min..max objects, each checked against `sub` */
	V_E164_LIST,/* array of min..max distinct E.164 numbers */
	V_ANY_OBJ,  /* any object with at most max keys and max_bytes when printed */
};

struct vfield {
	const char *name;
	enum vtype type;
	bool required;
	bool nullable;           /* JSON null accepted (and means "none") */
	long min, max;
	const char *choices;
	const struct vfield *sub; /* V_OBJ / V_OBJ_LIST; terminated by name NULL */
};

#define VALIDATE_FIELD_MAX 128
#define VALIDATE_ANY_OBJ_BYTES 16384 /* V_ANY_OBJ printed size cap */
#define VALIDATE_KEYS_MAX 64         /* keys in one checked object */

/* What was wrong: code "missing_field" | "invalid_field" | "unknown_field",
 * field = dotted path ("assistant_interaction_config.max_reprompts",
 * "trunk_config.numbers[1]"), message for people. */
struct verr {
	const char *code;
	char field[VALIDATE_FIELD_MAX];
	char message[256];
};

/* Checks `obj` (must be an object) against `table`. `partial` (PATCH): no
 * field is required, but any present is checked. `prefix` (may be NULL)
 * starts the field paths of a nested object checked on its own
 * ("trunk_config"). 0 or EINVAL with *e filled. Borrows everything. */
int validate_object(const cJSON *obj, const struct vfield *table, bool partial,
		    const char *prefix, struct verr *e) CM_MUST_USE;

/* Fills *e (for checks a table cannot express). Returns EINVAL. */
int verr_set(struct verr *e, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A NUL (\u0000) inside any string of the raw JSON text (keys included):
 * cJSON keeps only what comes before it, so "+9198…\u0000@evil.com" would
 * pass as "+9198…". EINVAL with *e naming the field ("to_number",
 * "trunk_config.numbers[1]"); 0 otherwise. `json` must have parsed. */
int validate_no_nul(const char *json, size_t len, struct verr *e) CM_MUST_USE;

bool validate_e164(const char *s);
bool validate_url(const char *s, size_t max);
bool validate_utf8_text(const char *s, size_t len);

#endif
