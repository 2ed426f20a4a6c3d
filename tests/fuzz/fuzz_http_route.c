/* Fuzzes the HTTP route matcher (and the JSON depth pre-check) with
 * "METHOD PATH\nBODY" inputs against a table shaped like api-gateway's.
 * Beyond not crashing, every answer must be consistent with the table. */
#include "httpd/httpd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nop(struct httpd_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const struct httpd_route routes[] = {
	{ "GET", "/", nop, true },
	{ "GET", "/healthz", nop, true },
	{ "POST", "/web_call/get_token", nop, false },
	{ "POST", "/call/outbound", nop, false },
	{ "GET", "/calls", nop, false },
	{ "GET", "/calls/{id}", nop, false },
	{ "POST", "/calls/{id}/hangup", nop, false },
	{ "POST", "/assistants", nop, false },
	{ "GET", "/assistants", nop, false },
	{ "GET", "/assistants/{id}", nop, false },
	{ "PATCH", "/assistants/{id}", nop, false },
	{ "DELETE", "/assistants/{id}", nop, false },
	{ "GET", "/a/{x}/b/{y}/c/{z}", nop, false },
	{ "POST", "/livekit/webhook", nop, true },
};

static size_t captures(const char *pattern)
{
	size_t n = 0;
	for (; *pattern; pattern++)
		n += *pattern == '{';
	return n;
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* NUL-terminated copies: the matcher takes C strings, as MHD gives. */
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	char *method = buf, *path = buf + strcspn(buf, " \n");
	if (*path)
		*path++ = '\0';
	char *body = path + strcspn(path, "\n");
	if (*body)
		*body++ = '\0';

	struct httpd_params p;
	int rc = httpd_route_match(routes, CM_ARRAY_LEN(routes), method, path, &p);
	if (rc >= 0) {
		const struct httpd_route *r = &routes[rc];
		check((size_t)rc < CM_ARRAY_LEN(routes));
		check(strcmp(r->method, method) == 0 ||
		      (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0));
		check(p.n == captures(r->pattern));
		for (size_t i = 0; i < p.n; i++) {
			size_t len = strlen(p.p[i].value);
			check(len > 0 && len < HTTPD_PARAM_MAX);
			char name[32];
			check(p.p[i].name_len < sizeof(name));
			memcpy(name, p.p[i].name, p.p[i].name_len);
			name[p.p[i].name_len] = '\0';
			check(httpd_params_get(&p, name) != NULL);
		}
	} else if (rc == HTTPD_MATCH_METHOD) {
		check(p.allow[0] != '\0' && p.n == 0);
	} else {
		check(rc == HTTPD_MATCH_NOT_FOUND || rc == HTTPD_MATCH_BAD_PATH ||
		      rc == HTTPD_MATCH_TOO_LONG);
		check(p.n == 0);
	}

	size_t blen = strlen(body);
	if (httpd_json_depth_ok(body, blen, HTTPD_JSON_DEPTH_MAX)) {
		cJSON *j = cJSON_ParseWithLength(body, blen);
		cJSON_Delete(j);
	}
	free(buf);
	return 0;
}
