/* libs/httpd against a real listener on 127.0.0.1, driven with libcurl. */
#include "harness/test.h"
#include "httpd/httpd.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define TOKEN "k-123"
#define MAX_BODY 1024

struct resp {
	long status;
	char *body;
	size_t len;
	char ctype[128];
	char allow[128];
	char www_auth[128];
};

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t add = size * n;
	char *nb = realloc(r->body, r->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, data, add);
	r->body = nb;
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t want = size * n, left = u->len - u->pos;
	if (want > left)
		want = left;
	if (want > 100)
		want = 100; /* many small chunks */
	memcpy(buf, u->data + u->pos, want);
	u->pos += want;
	return want;
}

static void copy_header(CURL *c, const char *name, char *out, size_t len)
{
	struct curl_header *h = NULL;
	out[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		snprintf(out, len, "%s", h->value);
}

/* One request; chunked sends the body with Transfer-Encoding: chunked. */
static int http(struct resp *r, const char *method, const char *url, const char *bearer,
		const char *body, size_t body_len, bool chunked)
{
	int err = 0;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char auth[256];
	struct upload up = { body, body_len, 0 };

	memset(r, 0, sizeof(*r));
	if (!c)
		return 1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (chunked) {
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &up);
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
		}
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		printf("    curl %s %s: %s\n", method, url, curl_easy_strerror(rc));
		err = 1;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	copy_header(c, "Content-Type", r->ctype, sizeof(r->ctype));
	copy_header(c, "Allow", r->allow, sizeof(r->allow));
	copy_header(c, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return err;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* ---- the server under test ---------------------------------------------- */

static bool check_token(const char *token, void *arg)
{
	(void)arg;
	return token && strcmp(token, TOKEN) == 0;
}

static void on_echo(struct httpd_req *req, void *arg)
{
	(void)arg;
	cJSON *data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "id", httpd_req_param(req, "id"));
	const char *limit = httpd_req_query(req, "limit");
	const char *q = httpd_req_query(req, "q");
	cJSON_AddStringToObject(data, "limit", limit ? limit : "");
	cJSON_AddStringToObject(data, "q", q ? q : "");
	cJSON *body = httpd_req_json(req);
	cJSON_AddItemToObject(data, "body", body ? cJSON_Duplicate(body, true) : cJSON_CreateNull());
	httpd_reply_ok(req, 201, "echoed", data);
}

static void on_public(struct httpd_req *req, void *arg)
{
	(void)arg;
	httpd_reply_raw(req, 200, "text/plain", "hello", 5);
}

static void on_forgetful(struct httpd_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

static void on_invalid(struct httpd_req *req, void *arg)
{
	(void)arg;
	httpd_reply_error(req, 400, "invalid_field", "to_number", "to_number must be E.164");
	httpd_reply_ok(req, 200, "second reply is dropped", NULL);
}

static const struct httpd_route routes[] = {
	{ "POST", "/echo/{id}", on_echo, false },
	{ "PATCH", "/echo/{id}", on_echo, false },
	{ "GET", "/public", on_public, true },
	{ "GET", "/forgetful", on_forgetful, false },
	{ "POST", "/invalid", on_invalid, false },
};

struct server {
	struct httpd *h;
	char base[64];
};

static int server_start(struct server *s)
{
	int port = test_free_port();
	char addr[64];
	const struct httpd_opts opts = { .max_body = MAX_BODY, .auth = check_token, .threads = 2 };
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", port);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return httpd_start(&s->h, addr, routes, CM_ARRAY_LEN(routes), NULL, &opts);
}

static void url(char *out, size_t len, const struct server *s, const char *path)
{
	snprintf(out, len, "%s%s", s->base, path);
}

static cJSON *parse(const struct resp *r)
{
	return r->body ? cJSON_Parse(r->body) : NULL;
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* ---- tests -------------------------------------------------------------- */

static int test_auth(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	char u[256];
	TEST_EQ_INT(server_start(&s), 0);
	url(u, sizeof(u), &s, "/echo/abc");
	TEST_EQ_INT(http(&r, "POST", u, NULL, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 401);
	TEST_CONTAINS(r.www_auth, "Bearer");
	TEST_EQ_STR(r.ctype, "application/json");
	TEST_CONTAINS(r.body, "\"code\":\"unauthorized\"");
	TEST_CONTAINS(r.body, "\"success\":false");
	resp_free(&r);
	TEST_EQ_INT(http(&r, "POST", u, "wrong", "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 401);
	resp_free(&r);
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 201);
	TEST_CONTAINS(r.body, "\"success\":true");
	resp_free(&r);
	/* A public route needs no token. */
	url(u, sizeof(u), &s, "/public");
	TEST_EQ_INT(http(&r, "GET", u, NULL, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.body, "hello");
out:
	resp_free(&r);
	httpd_stop(s.h);
	return err;
}

static int test_not_found_and_method(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	char u[256];
	TEST_EQ_INT(server_start(&s), 0);
	url(u, sizeof(u), &s, "/nope");
	TEST_EQ_INT(http(&r, "GET", u, TOKEN, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 404);
	TEST_EQ_STR(r.ctype, "application/json");
	TEST_CONTAINS(r.body, "\"code\":\"not_found\"");
	resp_free(&r);
	url(u, sizeof(u), &s, "/echo/abc");
	TEST_EQ_INT(http(&r, "DELETE", u, TOKEN, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 405);
	TEST_EQ_STR(r.allow, "POST, PATCH");
	TEST_CONTAINS(r.body, "\"code\":\"method_not_allowed\"");
	resp_free(&r);
	url(u, sizeof(u), &s, "/echo/a%00b");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 400);
	TEST_CONTAINS(r.body, "\"code\":\"invalid_path\"");
out:
	resp_free(&r);
	httpd_stop(s.h);
	return err;
}

static int test_body_too_large(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	char u[256];
	char *big = malloc(MAX_BODY * 2 + 1), *huge = NULL;
	TEST_ASSERT(big != NULL);
	/* Valid JSON, just too long: the cap, not the parser, refuses it. */
	memset(big, ' ', MAX_BODY * 2);
	big[0] = '{';
	big[MAX_BODY * 2 - 1] = '}';
	big[MAX_BODY * 2] = '\0';
	TEST_EQ_INT(server_start(&s), 0);
	url(u, sizeof(u), &s, "/echo/abc");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, big, MAX_BODY * 2, false), 0);
	TEST_EQ_INT(r.status, 413);
	TEST_CONTAINS(r.body, "\"code\":\"body_too_large\"");
	resp_free(&r);
	/* Without Content-Length (chunked) the cap applies as bytes arrive. */
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, big, MAX_BODY * 2, true), 0);
	TEST_EQ_INT(r.status, 413);
	TEST_CONTAINS(r.body, "\"code\":\"body_too_large\"");
	resp_free(&r);
	/* Far over the cap: refused from the headers, the body never read. */
	huge = calloc(1, 8u << 20);
	TEST_ASSERT(huge != NULL);
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, huge, 8u << 20, false), 0);
	TEST_EQ_INT(r.status, 413);
	resp_free(&r);
	/* At the cap exactly: accepted. */
	big[MAX_BODY - 1] = '}';
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, big, MAX_BODY, true), 0);
	TEST_EQ_INT(r.status, 201);
out:
	resp_free(&r);
	free(big);
	free(huge);
	httpd_stop(s.h);
	return err;
}

static int test_invalid_json(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	char u[256], deep[100];
	TEST_EQ_INT(server_start(&s), 0);
	url(u, sizeof(u), &s, "/echo/abc");
	const char *bad[] = { "{bad", "[1,2]", "\"str\"", "{\"a\":1} trailing" };
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		TEST_EQ_INT(http(&r, "POST", u, TOKEN, bad[i], strlen(bad[i]), false), 0);
		TEST_EQ_INT(r.status, 400);
		TEST_CONTAINS(r.body, "\"code\":\"invalid_json\"");
		resp_free(&r);
	}
	/* {"a":{"a":…}} past HTTPD_JSON_DEPTH_MAX, on PATCH too. */
	size_t pos = 0;
	for (int i = 0; i < 40; i++)
		pos += (size_t)snprintf(deep + pos, sizeof(deep) - pos, "[");
	TEST_EQ_INT(http(&r, "PATCH", u, TOKEN, deep, pos, false), 0);
	TEST_EQ_INT(r.status, 400);
	TEST_CONTAINS(r.body, "\"code\":\"invalid_json\"");
	resp_free(&r);
	/* No body at all is the handler's business. */
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, "", 0, false), 0);
	TEST_EQ_INT(r.status, 201);
	TEST_CONTAINS(r.body, "\"body\":null");
out:
	resp_free(&r);
	httpd_stop(s.h);
	return err;
}

static int test_echo(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	cJSON *j = NULL;
	char u[256];
	const char *body = "{\"name\":\"O'Brien \\\"x\\\"\",\"n\":[1,2]}";
	TEST_EQ_INT(server_start(&s), 0);
	url(u, sizeof(u), &s, "/echo/a%2Fb%20c/?limit=5&q=x+y%2Bz");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, body, strlen(body), false), 0);
	TEST_EQ_INT(r.status, 201);
	TEST_EQ_STR(r.ctype, "application/json");
	j = parse(&r);
	TEST_ASSERT(j != NULL);
	TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "success")));
	TEST_EQ_STR(json_str(j, "message", NULL), "echoed");
	TEST_EQ_STR(json_str(j, "data", "id"), "a/b c");
	TEST_EQ_STR(json_str(j, "data", "limit"), "5");
	TEST_EQ_STR(json_str(j, "data", "q"), "x y+z");
	cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
	TEST_EQ_STR(json_str(data, "body", "name"), "O'Brien \"x\"");
out:
	cJSON_Delete(j);
	resp_free(&r);
	httpd_stop(s.h);
	return err;
}

static int test_handler_errors(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	cJSON *j = NULL;
	char u[256];
	TEST_EQ_INT(server_start(&s), 0);
	struct metric *m5xx = metric_counter("http_responses_5xx_total", "");
	int64_t before = metric_value(m5xx);
	url(u, sizeof(u), &s, "/forgetful");
	TEST_EQ_INT(http(&r, "GET", u, TOKEN, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 500);
	TEST_CONTAINS(r.body, "\"code\":\"internal_error\"");
	TEST_EQ_INT(metric_value(m5xx), before + 1);
	resp_free(&r);
	/* The first reply wins; the envelope carries code and field. */
	url(u, sizeof(u), &s, "/invalid");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 400);
	j = parse(&r);
	TEST_ASSERT(j != NULL);
	TEST_EQ_STR(json_str(j, "error", "code"), "invalid_field");
	TEST_EQ_STR(json_str(j, "error", "field"), "to_number");
	TEST_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "data")));
out:
	cJSON_Delete(j);
	resp_free(&r);
	httpd_stop(s.h);
	return err;
}

static int test_bad_start(void)
{
	int err = 0;
	struct httpd *h = NULL;
	static const struct httpd_route bad[] = { { "GET", "nope", on_public, true } };
	TEST_EQ_INT(httpd_start(&h, "127.0.0.1", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_start(&h, "127.0.0.1:0", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_start(&h, "example.com:80", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_start(&h, "127.0.0.1:8080", bad, 1, NULL, NULL), EINVAL);
	TEST_ASSERT(h == NULL);
	TEST_ASSERT(httpd_stop(NULL) == NULL);
out:
	return err;
}

/* ---- health listener ----------------------------------------------------- */

struct readiness {
	atomic_bool ready;
};

static bool is_ready(char *why, size_t whylen, void *arg)
{
	struct readiness *rd = arg;
	if (atomic_load(&rd->ready))
		return true;
	snprintf(why, whylen, "database not connected");
	return false;
}

static int test_health(void)
{
	int err = 0;
	struct httpd *h = NULL;
	struct resp r = { 0 };
	struct readiness rd;
	char addr[64], u[256];
	int port = test_free_port();
	atomic_init(&rd.ready, false);
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	metric_add(metric_counter("test_health_probe_total", "a counter for the test"), 3);
	TEST_EQ_INT(httpd_health_start(&h, addr, is_ready, &rd), 0);

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/healthz", port);
	TEST_EQ_INT(http(&r, "GET", u, NULL, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.body, "{\"status\":\"ok\"}");
	TEST_EQ_STR(r.ctype, "application/json");
	resp_free(&r);

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", port);
	TEST_EQ_INT(http(&r, "GET", u, NULL, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 503);
	TEST_EQ_STR(r.body, "{\"status\":\"not_ready\",\"reason\":\"database not connected\"}");
	resp_free(&r);
	atomic_store(&rd.ready, true);
	TEST_EQ_INT(http(&r, "GET", u, NULL, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.body, "{\"status\":\"ready\"}");
	resp_free(&r);

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", port);
	TEST_EQ_INT(http(&r, "GET", u, NULL, NULL, 0, false), 0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.ctype, "text/plain; version=0.0.4");
	TEST_CONTAINS(r.body, "# TYPE test_health_probe_total counter\ntest_health_probe_total 3\n");
	resp_free(&r);

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", port);
	TEST_EQ_INT(http(&r, "POST", u, NULL, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 405);
	TEST_EQ_STR(r.allow, "GET");
out:
	resp_free(&r);
	httpd_stop(h);
	return err;
}

static const struct test tests[] = {
	{ "auth", test_auth },
	{ "not_found_and_method", test_not_found_and_method },
	{ "body_too_large", test_body_too_large },
	{ "invalid_json", test_invalid_json },
	{ "echo_capture_query_body", test_echo },
	{ "handler_errors", test_handler_errors },
	{ "bad_start", test_bad_start },
	{ "health", test_health },
};

TEST_MAIN(tests)
