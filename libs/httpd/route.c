/* Route matching: a pure function over the routing table, so it can be
 * unit-tested and fuzzed without a socket. */
#include "httpd/httpd.h"

#include <string.h>

/* The path split into decoded segments. Splitting happens before decoding,
 * so "%2F" inside a segment never creates a new one. */
struct segments {
	size_t n;
	size_t off[HTTPD_SEGMENTS_MAX];
	size_t len[HTTPD_SEGMENTS_MAX];
	char buf[HTTPD_PATH_MAX + 1];
};

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Decodes raw[0..len) into out; false on a bad escape or a control byte. */
static bool decode(const char *raw, size_t len, char *out, size_t *outlenp)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '%') {
			if (i + 2 >= len)
				return false; /* truncated escape */
			int h = hex(raw[i + 1]), l = hex(raw[i + 2]);
			if (h < 0 || l < 0)
				return false;
			c = (unsigned char)(h * 16 + l);
			i += 2;
		}
		if (is_ctl(c))
			return false;
		out[o++] = (char)c;
	}
	*outlenp = o;
	return true;
}

/* HTTPD_MATCH_* on failure, 0 on success. */
static int split(const char *path, struct segments *s)
{
	size_t len = strnlen(path, HTTPD_PATH_MAX + 1);
	if (len > HTTPD_PATH_MAX)
		return HTTPD_MATCH_TOO_LONG;
	if (len == 0 || path[0] != '/')
		return HTTPD_MATCH_BAD_PATH;
	s->n = 0;
	if (len == 1)
		return 0; /* "/" has no segments */
	const char *p = path + 1;
	len--;
	if (p[len - 1] == '/')
		len--; /* one trailing slash is cosmetic */
	size_t pos = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (s->n == HTTPD_SEGMENTS_MAX)
			return HTTPD_MATCH_NOT_FOUND; /* deeper than any route */
		size_t dlen = 0;
		if (!decode(p + start, i - start, s->buf + pos, &dlen))
			return HTTPD_MATCH_BAD_PATH;
		s->off[s->n] = pos;
		s->len[s->n] = dlen;
		s->n++;
		pos += dlen;
		start = i + 1;
	}
	return 0;
}

static bool method_fits(const char *route_method, const char *method)
{
	if (strcmp(route_method, method) == 0)
		return true;
	return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* Does `pattern` fit the segments? Captures go into params when given. */
static bool pattern_fits(const char *pattern, const struct segments *s, struct httpd_params *params)
{
	if (!pattern || pattern[0] != '/')
		return false;
	const char *p = pattern + 1;
	size_t i = 0;
	if (params)
		params->n = 0;
	if (*p == '\0')
		return s->n == 0;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t plen = end ? (size_t)(end - p) : strlen(p);
		if (i == s->n)
			return false;
		const char *seg = s->buf + s->off[i];
		size_t slen = s->len[i];
		if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0 || slen >= HTTPD_PARAM_MAX)
				return false;
			if (params) {
				if (params->n == HTTPD_PARAMS_MAX)
					return false;
				params->p[params->n].name = p + 1;
				params->p[params->n].name_len = plen - 2;
				memcpy(params->p[params->n].value, seg, slen);
				params->p[params->n].value[slen] = '\0';
				params->n++;
			}
		} else if (plen != slen || memcmp(p, seg, slen) != 0) {
			return false;
		}
		i++;
		if (!end)
			break;
		p = end + 1;
	}
	return i == s->n;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
	size_t len = strlen(allow), mlen = strlen(method);
	/* Already listed? Compare whole comma-separated tokens. */
	for (const char *t = allow; *t;) {
		const char *e = strchr(t, ',');
		size_t tl = e ? (size_t)(e - t) : strlen(t);
		if (tl == mlen && memcmp(t, method, mlen) == 0)
			return;
		if (!e)
			break;
		t = e + 2;
	}
	size_t need = (len ? 2 : 0) + mlen;
	if (len + need + 1 > cap)
		return;
	if (len) {
		memcpy(allow + len, ", ", 2);
		len += 2;
	}
	memcpy(allow + len, method, mlen);
	allow[len + mlen] = '\0';
}

int httpd_route_match(const struct httpd_route *routes, size_t n, const char *method,
		      const char *path, struct httpd_params *params)
{
	struct segments s;

	params->n = 0;
	params->allow[0] = '\0';
	if (!method || !path)
		return HTTPD_MATCH_BAD_PATH;
	int rc = split(path, &s);
	if (rc != 0)
		return rc;
	bool path_known = false;
	for (size_t i = 0; i < n; i++) {
		if (!routes[i].method || !pattern_fits(routes[i].pattern, &s, params))
			continue;
		if (method_fits(routes[i].method, method))
			return (int)i;
		path_known = true;
	}
	params->n = 0;
	if (!path_known)
		return HTTPD_MATCH_NOT_FOUND;
	for (size_t i = 0; i < n; i++)
		if (routes[i].method && pattern_fits(routes[i].pattern, &s, NULL)) {
			allow_add(params->allow, sizeof(params->allow), routes[i].method);
			if (strcmp(routes[i].method, "GET") == 0) /* served as GET is */
				allow_add(params->allow, sizeof(params->allow), "HEAD");
		}
	return HTTPD_MATCH_METHOD;
}

const char *httpd_params_get(const struct httpd_params *params, const char *name)
{
	if (!params || !name)
		return NULL;
	size_t len = strlen(name);
	for (size_t i = 0; i < params->n && i < HTTPD_PARAMS_MAX; i++)
		if (params->p[i].name_len == len && memcmp(params->p[i].name, name, len) == 0)
			return params->p[i].value;
	return NULL;
}
