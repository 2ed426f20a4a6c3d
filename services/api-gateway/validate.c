/* Table-driven checks of request bodies. */
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int verr_set(struct verr *e, const char *code, const char *field, const char *fmt, ...)
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

int validate_no_nul(const char *json, size_t len, struct verr *e)
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
			bool nul = false, is_key = depth > 0 && st[depth - 1].obj && st[depth - 1].expect_key;
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
				char field[VALIDATE_FIELD_MAX];
				nul_path(field, sizeof(field), st, depth, is_key ? key : NULL);
				return verr_set(e, "invalid_field", field,
						"%s must not contain a NUL character (\\u0000)%s; remove it "
						"and send the request again.",
						field[0] ? field : "body", is_key ? " in its name" : "");
			}
		}
	}
	return 0;
}

bool validate_e164(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	size_t n = 0;
	for (const char *p = s + 1; *p; p++, n++)
		if (*p < '0' || *p > '9' || n > 15)
			return false;
	return n >= 7 && n <= 15;
}

bool validate_utf8_text(const char *s, size_t len)
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

bool validate_url(const char *s, size_t max)
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

static int check_object(const cJSON *obj, const struct vfield *table, bool partial,
			const char *prefix, struct verr *e);

static int check_string(const cJSON *v, const struct vfield *f, const char *path, struct verr *e)
{
	if (!cJSON_IsString(v))
		return verr_set(e, "invalid_field", path, "%s must be a string.", path);
	const char *s = v->valuestring;
	size_t len = strlen(s);
	if (!validate_utf8_text(s, len))
		return verr_set(e, "invalid_field", path,
				"%s must be UTF-8 text without control characters.", path);
	switch (f->type) {
	case V_STR:
		if ((long)len < f->min || (long)len > f->max)
			return verr_set(e, "invalid_field", path, "%s must be %ld to %ld bytes long.",
					path, f->min, f->max);
		return 0;
	case V_ENUM:
		if (!enum_has(f->choices, s))
			return verr_set(e, "invalid_field", path, "%s must be one of %s.", path,
					f->choices);
		return 0;
	case V_UUID:
		if (!id_is_uuid(s))
			return verr_set(e, "invalid_field", path, "%s must be a UUID (like 3f2c7d9e-1b4a-4c8e-9f3d-2a6b5c4d3e21).", path);
		return 0;
	case V_E164:
		if (!validate_e164(s))
			return verr_set(e, "invalid_field", path,
					"%s must be an E.164 number, like +918044319240.", path);
		return 0;
	case V_URL:
		if (!validate_url(s, f->max > 0 ? (size_t)f->max : 2048))
			return verr_set(e, "invalid_field", path, "%s must be an http:// or https:// URL.", path);
		return 0;
	case V_HOST:
		if (!host_ok(s, len))
			return verr_set(e, "invalid_field", path,
					"%s must be a host name or an IPv4 address.", path);
		return 0;
	default:
		return verr_set(e, "invalid_field", path, "%s has a JSON type this field does not take.", path);
	}
}

static int check_value(const cJSON *v, const struct vfield *f, const char *path, struct verr *e)
{
	char sub[VALIDATE_FIELD_MAX];
	switch (f->type) {
	case V_STR:
	case V_ENUM:
	case V_UUID:
	case V_E164:
	case V_URL:
	case V_HOST:
		return check_string(v, f, path, e);
	case V_INT: {
		double d = v->valuedouble;
		if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)f->min || d > (double)f->max)
			return verr_set(e, "invalid_field", path, "%s must be an integer from %ld to %ld.",
					path, f->min, f->max);
		return 0;
	}
	case V_NUM:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble < (double)f->min || v->valuedouble > (double)f->max)
			return verr_set(e, "invalid_field", path, "%s must be a number from %ld to %ld.",
					path, f->min, f->max);
		return 0;
	case V_BOOL:
		if (!cJSON_IsBool(v))
			return verr_set(e, "invalid_field", path, "%s must be true or false.", path);
		return 0;
	case V_OBJ:
		if (!cJSON_IsObject(v))
			return verr_set(e, "invalid_field", path, "%s must be a JSON object.", path);
		return check_object(v, f->sub, false, path, e);
	case V_OBJ_LIST:
	case V_E164_LIST: {
		if (!cJSON_IsArray(v))
			return verr_set(e, "invalid_field", path, "%s must be a JSON array.", path);
		int n = cJSON_GetArraySize(v), i = 0;
		if (n < f->min || n > f->max)
			return verr_set(e, "invalid_field", path, "%s must hold %ld to %ld items.",
					path, f->min, f->max);
		for (const cJSON *it = v->child; it; it = it->next, i++) {
			if (snprintf(sub, sizeof(sub), "%s[%d]", path, i) >= (int)sizeof(sub))
				sub[sizeof(sub) - 1] = '\0'; /* a long path is cut, not an error */
			if (f->type == V_OBJ_LIST) {
				if (!cJSON_IsObject(it))
					return verr_set(e, "invalid_field", sub, "%s must be a JSON object.",
							sub);
				if (check_object(it, f->sub, false, sub, e))
					return EINVAL;
				continue;
			}
			if (!cJSON_IsString(it) || !validate_e164(it->valuestring))
				return verr_set(e, "invalid_field", sub,
						"%s must be an E.164 number, like +918044319240.", sub);
			for (const cJSON *prev = v->child; prev != it; prev = prev->next)
				if (strcmp(prev->valuestring, it->valuestring) == 0)
					return verr_set(e, "invalid_field", sub, "%s repeats %s, which is listed already; list each once.",
							sub, it->valuestring);
		}
		return 0;
	}
	case V_ANY_OBJ: {
		if (!cJSON_IsObject(v))
			return verr_set(e, "invalid_field", path, "%s must be a JSON object.", path);
		if (cJSON_GetArraySize(v) > f->max)
			return verr_set(e, "invalid_field", path, "%s may have at most %ld keys.", path, f->max);
		char *printed = cJSON_PrintUnformatted(v);
		size_t len = printed ? strlen(printed) : (size_t)-1;
		free(printed);
		if (len > VALIDATE_ANY_OBJ_BYTES)
			return verr_set(e, "invalid_field", path, "%s may take at most %d bytes as JSON.", path,
					VALIDATE_ANY_OBJ_BYTES);
		return 0;
	}
	}
	return verr_set(e, "invalid_field", path, "%s has a JSON type this field does not take.", path);
}

static int check_object(const cJSON *obj, const struct vfield *table, bool partial,
			const char *prefix, struct verr *e)
{
	char path[VALIDATE_FIELD_MAX];
	int nkeys = 0;

	/* Unknown and duplicated keys first: a typo must not pass silently
	 * as "field missing" or be ignored. */
	for (const cJSON *it = obj->child; it; it = it->next) {
		const char *name = it->string ? it->string : "";
		join_path(path, sizeof(path), prefix, name);
		if (++nkeys > VALIDATE_KEYS_MAX)
			return verr_set(e, "invalid_field", prefix && *prefix ? prefix : NULL,
					"%s has more than %d keys.", prefix && *prefix ? prefix : "The body",
					VALIDATE_KEYS_MAX);
		const struct vfield *f = table;
		while (f->name && strcmp(f->name, name) != 0)
			f++;
		if (!f->name) {
			char list[200] = "";
			size_t used = 0;
			for (const cJSON *u = it; u; u = u->next) {
				const struct vfield *g = table;
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
			return verr_set(e, "unknown_field", path, "Unknown field(s) %s: remove them or check the spelling.", list);
		}
		for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
			if (prev->string && strcmp(prev->string, name) == 0)
				return verr_set(e, "invalid_field", path, "%s is given twice; give it once.", path);
	}
	for (const struct vfield *f = table; f->name; f++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
		join_path(path, sizeof(path), prefix, f->name);
		if (!v) {
			if (f->required && !partial)
				return verr_set(e, "missing_field", path, "%s is required.", path);
			continue;
		}
		if (cJSON_IsNull(v)) {
			if (f->nullable)
				continue;
			return verr_set(e, f->required ? "missing_field" : "invalid_field", path,
					"%s may not be null.", path);
		}
		if (check_value(v, f, path, e))
			return EINVAL;
	}
	return 0;
}

int validate_object(const cJSON *obj, const struct vfield *table, bool partial,
		    const char *prefix, struct verr *e)
{
	if (!cJSON_IsObject(obj))
		return verr_set(e, prefix ? "invalid_field" : "invalid_json", prefix,
				"%s must be a JSON object.", prefix ? prefix : "The body");
	return check_object(obj, table, partial, prefix ? prefix : "", e);
}
