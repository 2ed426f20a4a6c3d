/* Table-driven checks of JSON objects: command payloads and API request
 * bodies. */
#include "command/fields.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_field_error_set(struct cmd_field_error *e, const char *code, const char *field,
			const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return EINVAL;
}

#define NUL_DEPTH_MAX 32

struct nul_frame {
	bool obj;
	bool expect_key;
	int index;
	char key[64];
};

static void nul_path(char *out, size_t len, const struct nul_frame *st, int depth, const char *key)
{
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < depth && n < len; i++) {
		if (st[i].obj && (i + 1 < depth || !key))
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "." : "", st[i].key);
		else if (!st[i].obj)
			n += (size_t)snprintf(out + n, len - n, "[%d]", st[i].index);
	}
	if (key && n < len)
		snprintf(out + n, len - n, "%s%s", n ? "." : "", key);
}

int cmd_check_no_nul(const char *json, size_t len, struct cmd_field_error *e)
{
	struct nul_frame st[NUL_DEPTH_MAX];
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		if (c == '{' || c == '[') {
			if (depth == NUL_DEPTH_MAX)
				return 0; /* deeper than any body httpd lets through */
			st[depth] = (struct nul_frame){ .obj = c == '{', .expect_key = c == '{' };
			depth++;
		} else if (c == '}' || c == ']') {
			depth -= depth > 0;
		} else if (c == ',' && depth > 0) {
			if (st[depth - 1].obj)
				st[depth - 1].expect_key = true;
			else
				st[depth - 1].index++;
		} else if (c == ':' && depth > 0) {
			st[depth - 1].expect_key = false;
		} else if (c == '"') {
			bool nul = false,
			     is_key = depth > 0 && st[depth - 1].obj && st[depth - 1].expect_key;
			char key[64];
			size_t kn = 0;
			for (i++; i < len && json[i] != '"'; i++) {
				if (json[i] == '\\' && i + 1 < len) {
					if (json[i + 1] == 'u' && i + 5 < len &&
					    strncmp(json + i + 2, "0000", 4) == 0)
						nul = true;
					if (kn + 2 < sizeof(key))
						key[kn++] = json[i], key[kn++] = json[i + 1];
					i++;
				} else if (kn + 1 < sizeof(key)) {
					key[kn++] = json[i];
				}
			}
			key[kn] = '\0';
			if (is_key)
				snprintf(st[depth - 1].key, sizeof(st[depth - 1].key), "%s", key);
			if (nul) {
				char field[CMD_FIELD_PATH_MAX];
				nul_path(field, sizeof(field), st, depth, is_key ? key : NULL);
				return cmd_field_error_set(e, "invalid_field", field,
							   "%s must not contain a NUL character "
							   "(\\u0000)%s; remove it "
							   "and send the request again.",
							   field[0] ? field : "body",
							   is_key ? " in its name" : "");
			}
		}
	}
	return 0;
}

static bool utf8_text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			p++;
			continue;
		}
		int n;
		unsigned cp;
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (end - p <= n)
			return false;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* overlong forms, surrogates and beyond U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += n + 1;
	}
	return true;
}

static bool host_ok(const char *s, size_t len)
{
	if (len == 0 || len > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool url_ok(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t len = strlen(s);
	if (len > max)
		return false;
	const char *rest;
	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	/* authority: [userinfo@]host[:port], host a name or [v6] */
	size_t alen = strcspn(rest, "/?#");
	const char *at = memchr(rest, '@', alen);
	if (at) {
		alen -= (size_t)(at + 1 - rest);
		rest = at + 1;
	}
	if (alen == 0)
		return false;
	if (rest[0] == '[') {
		const char *close = memchr(rest, ']', alen);
		return close && close > rest + 1;
	}
	const char *colon = memchr(rest, ':', alen);
	size_t hlen = colon ? (size_t)(colon - rest) : alen;
	if (colon) {
		size_t plen = alen - hlen - 1;
		if (plen == 0 || plen > 5)
			return false;
		long port = 0;
		for (size_t i = 0; i < plen; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return false;
			port = port * 10 + (colon[1 + i] - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	return host_ok(rest, hlen);
}

/* 1..max printable ASCII characters, no spaces (rooms, identities) */
static bool printable_name(const char *s, long max)
{
	size_t n = strlen(s);
	if (n == 0 || (long)n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool enum_has(const char *choices, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, s, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static void join_path(char *out, size_t len, const char *prefix, const char *name)
{
	if (prefix && *prefix)
		snprintf(out, len, "%s.%s", prefix, name);
	else
		snprintf(out, len, "%s", name);
}

/* One check: `payload` follows command payloads' rules (cmd_parse()):
 * "name: must be …" messages and strings not checked as text. */
struct check {
	bool payload;
	struct cmd_field_error *e;
};

#define FAIL(c, path, ...) cmd_field_error_set((c)->e, "invalid_field", (path), __VA_ARGS__)

static int check_object(const struct check *c, const cJSON *obj, const struct cmd_rule *table,
			bool partial, const char *prefix);

static int check_string(const struct check *c, const cJSON *v, const struct cmd_rule *f,
			const char *path)
{
	bool str = cJSON_IsString(v);
	const char *s = str ? v->valuestring : "";
	size_t len = strlen(s);
	if (c->payload) {
		switch (f->type) {
		case CMD_STR:
			if (!str || (long)len < f->min || (long)len > f->max)
				return FAIL(c, path, "%s: must be a string of %ld..%ld bytes", path,
					    f->min, f->max);
			return 0;
		case CMD_UUID:
			if (!str || !id_is_uuid(s))
				return FAIL(c, path, "%s: must be a UUID", path);
			return 0;
		case CMD_NAME:
			if (!str || !printable_name(s, f->max))
				return FAIL(c, path,
					    "%s: must be 1..%ld printable ASCII characters without "
					    "spaces",
					    path, f->max);
			return 0;
		default:
			break; /* the API's types read the same in a payload */
		}
	}
	if (!str)
		return FAIL(c, path, "%s must be a string.", path);
	if (!c->payload && !utf8_text_ok(s, len))
		return FAIL(c, path, "%s must be UTF-8 text without control characters.", path);
	switch (f->type) {
	case CMD_STR:
		if ((long)len < f->min || (long)len > f->max)
			return FAIL(c, path, "%s must be %ld to %ld bytes long.", path, f->min,
				    f->max);
		return 0;
	case CMD_NAME:
		if (!printable_name(s, f->max))
			return FAIL(
				c, path,
				"%s must be 1 to %ld printable ASCII characters without spaces.",
				path, f->max);
		return 0;
	case CMD_ENUM:
		if (!enum_has(f->choices, s))
			return FAIL(c, path, "%s must be one of %s.", path, f->choices);
		return 0;
	case CMD_UUID:
		if (!id_is_uuid(s))
			return FAIL(
				c, path,
				"%s must be a UUID (like 3f2c7d9e-1b4a-4c8e-9f3d-2a6b5c4d3e21).",
				path);
		return 0;
	case CMD_E164:
		if (!e164_valid(s))
			return FAIL(c, path, "%s must be an E.164 number, like +918044319240.",
				    path);
		return 0;
	case CMD_URL:
		if (!url_ok(s, f->max > 0 ? (size_t)f->max : 2048))
			return FAIL(c, path, "%s must be an http:// or https:// URL.", path);
		return 0;
	case CMD_HOST:
		if (!host_ok(s, len))
			return FAIL(c, path, "%s must be a host name or an IPv4 address.", path);
		return 0;
	default:
		return FAIL(c, path, "%s has a JSON type this field does not take.", path);
	}
}

static int check_list(const struct check *c, const cJSON *v, const struct cmd_rule *f,
		      const char *path)
{
	char sub[CMD_FIELD_PATH_MAX];
	if (c->payload && f->type == CMD_E164_LIST) {
		/* a payload's error names its top-level field; repeats pass */
		int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1, i = 0;
		if (n < f->min || n > f->max)
			return FAIL(c, path, "%s: %ld..%ld E.164 numbers", path, f->min, f->max);
		for (const cJSON *it = v->child; it; it = it->next, i++)
			if (!cJSON_IsString(it) || !e164_valid(it->valuestring))
				return FAIL(c, path, "%s[%d]: not an E.164 number", path, i);
		return 0;
	}
	if (!cJSON_IsArray(v))
		return FAIL(c, path, "%s must be a JSON array.", path);
	int n = cJSON_GetArraySize(v), i = 0;
	if (n < f->min || n > f->max)
		return FAIL(c, path, "%s must hold %ld to %ld items.", path, f->min, f->max);
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		if (snprintf(sub, sizeof(sub), "%s[%d]", path, i) >= (int)sizeof(sub))
			sub[sizeof(sub) - 1] = '\0'; /* a long path is cut, not an error */
		if (f->type == CMD_OBJ_LIST) {
			if (!cJSON_IsObject(it))
				return FAIL(c, sub, "%s must be a JSON object.", sub);
			if (check_object(c, it, f->sub, false, sub))
				return EINVAL;
			continue;
		}
		if (!cJSON_IsString(it) || !e164_valid(it->valuestring))
			return FAIL(c, sub, "%s must be an E.164 number, like +918044319240.", sub);
		for (const cJSON *prev = v->child; prev != it; prev = prev->next)
			if (strcmp(prev->valuestring, it->valuestring) == 0)
				return FAIL(
					c, sub,
					"%s repeats %s, which is listed already; list each once.",
					sub, it->valuestring);
	}
	return 0;
}

static int check_obj(const struct check *c, const cJSON *v, const struct cmd_rule *f,
		     const char *path)
{
	if (!cJSON_IsObject(v))
		return c->payload ? FAIL(c, path, "%s: must be an object", path)
				  : FAIL(c, path, "%s must be a JSON object.", path);
	if (f->sub)
		return check_object(c, v, f->sub, false, path);
	if (f->max <= 0)
		return 0;
	if (cJSON_GetArraySize(v) > f->max)
		return FAIL(c, path, "%s may have at most %ld keys.", path, f->max);
	char *printed = cJSON_PrintUnformatted(v);
	size_t len = printed ? strlen(printed) : (size_t)-1;
	free(printed);
	if (len > CMD_OBJ_BYTES_MAX)
		return FAIL(c, path, "%s may take at most %d bytes as JSON.", path,
			    CMD_OBJ_BYTES_MAX);
	return 0;
}

static int check_value(const struct check *c, const cJSON *v, const struct cmd_rule *f,
		       const char *path)
{
	switch (f->type) {
	case CMD_STR:
	case CMD_UUID:
	case CMD_NAME:
	case CMD_ENUM:
	case CMD_E164:
	case CMD_URL:
	case CMD_HOST:
		return check_string(c, v, f, path);
	case CMD_INT: {
		double d = v->valuedouble;
		if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)f->min || d > (double)f->max)
			return c->payload ? FAIL(c, path, "%s: must be an integer %ld..%ld", path,
						 f->min, f->max)
					  : FAIL(c, path, "%s must be an integer from %ld to %ld.",
						 path, f->min, f->max);
		return 0;
	}
	case CMD_NUM:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble < (double)f->min || v->valuedouble > (double)f->max)
			return FAIL(c, path, "%s must be a number from %ld to %ld.", path, f->min,
				    f->max);
		return 0;
	case CMD_BOOL:
		if (!cJSON_IsBool(v))
			return c->payload ? FAIL(c, path, "%s: must be true or false", path)
					  : FAIL(c, path, "%s must be true or false.", path);
		return 0;
	case CMD_OBJ:
		return check_obj(c, v, f, path);
	case CMD_OBJ_LIST:
	case CMD_E164_LIST:
		return check_list(c, v, f, path);
	}
	return FAIL(c, path, "%s has a JSON type this field does not take.", path);
}

/* Unknown and repeated keys, before any field: a typo must not pass
 * silently as "field missing" or be ignored. */
static int check_keys(const struct check *c, const cJSON *obj, const struct cmd_rule *table,
		      const char *prefix)
{
	char path[CMD_FIELD_PATH_MAX];
	int nkeys = 0;
	for (const cJSON *it = obj->child; it; it = it->next) {
		const char *name = it->string ? it->string : "";
		join_path(path, sizeof(path), prefix, name);
		if (++nkeys > CMD_KEYS_MAX)
			return FAIL(c, prefix && *prefix ? prefix : NULL,
				    "%s has more than %d keys.",
				    prefix && *prefix ? prefix : "The body", CMD_KEYS_MAX);
		const struct cmd_rule *f = table;
		while (f->name && strcmp(f->name, name) != 0)
			f++;
		if (!f->name) {
			char list[200] = "";
			size_t used = 0;
			for (const cJSON *u = it; u; u = u->next) {
				const struct cmd_rule *g = table;
				const char *un = u->string ? u->string : "";
				while (g->name && strcmp(g->name, un) != 0)
					g++;
				if (g->name)
					continue;
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? ", " : "", un);
				if (w < 0 || (size_t)w >= sizeof(list) - used)
					break;
				used += (size_t)w;
			}
			return cmd_field_error_set(
				c->e, "unknown_field", path,
				"Unknown field(s) %s: remove them or check the spelling.", list);
		}
		for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
			if (prev->string && strcmp(prev->string, name) == 0)
				return FAIL(c, path, "%s is given twice; give it once.", path);
	}
	return 0;
}

static int check_object(const struct check *c, const cJSON *obj, const struct cmd_rule *table,
			bool partial, const char *prefix)
{
	char path[CMD_FIELD_PATH_MAX];
	if (check_keys(c, obj, table, prefix))
		return EINVAL;
	for (const struct cmd_rule *f = table; f->name; f++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
		join_path(path, sizeof(path), prefix, f->name);
		if (!v) {
			if (f->required && !partial)
				return cmd_field_error_set(c->e, "missing_field", path,
							   "%s is required.", path);
			continue;
		}
		if (cJSON_IsNull(v)) {
			if (f->nullable)
				continue;
			return cmd_field_error_set(c->e,
						   f->required ? "missing_field" : "invalid_field",
						   path, "%s may not be null.", path);
		}
		if (check_value(c, v, f, path))
			return EINVAL;
	}
	return 0;
}

int cmd_check_object(const cJSON *obj, const struct cmd_rule *rules, bool partial,
		     const char *prefix, struct cmd_field_error *e)
{
	const struct check c = { .payload = false, .e = e };
	if (!cJSON_IsObject(obj))
		return cmd_field_error_set(e, prefix ? "invalid_field" : "invalid_json", prefix,
					   "%s must be a JSON object.",
					   prefix ? prefix : "The body");
	return check_object(&c, obj, rules, partial, prefix ? prefix : "");
}

int cmd_check_field(const cJSON *v, const struct cmd_field *f, struct cmd_field_error *e)
{
	const struct check c = { .payload = true, .e = e };
	const struct cmd_rule r = {
		.name = f->name,
		.type = f->type,
		.required = f->required,
		.min = f->min,
		.max = f->max,
	};
	return check_value(&c, v, &r, f->name);
}
