/* libs/httpd against a real listener on 127.0.0.1, driven with libcurl. */
#include "harness/test.h"
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
	cJSON_AddItemToObject(data, "body",
			      body ? cJSON_Duplicate(body, true) : cJSON_CreateNull());
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
	return httpd_new(&s->h, addr, routes, CM_ARRAY_LEN(routes), NULL, &opts);
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
	httpd_free(s.h);
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
	httpd_free(s.h);
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
	httpd_free(s.h);
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
	/* each refused with a message that says what is wrong */
	const struct {
		const char *body, *says;
	} bad[] = {
		{ "{bad", "the syntax is wrong near byte" },
		{ "{\"a\":1", "it ends too soon or its last byte (6) is wrong" },
		{ "[1,2]", "must be a JSON object, not an array" },
		{ "\"str\"", "not a string" },
		{ "{\"a\":1} trailing", "more after its JSON object (at byte 9)" },
		{ "{\"a\":1}{\"b\":2}", "more after its JSON object (at byte 8)" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		TEST_EQ_INT(http(&r, "POST", u, TOKEN, bad[i].body, strlen(bad[i].body), false), 0);
		TEST_EQ_INT(r.status, 400);
		TEST_CONTAINS(r.body, "\"code\":\"invalid_json\"");
		TEST_CONTAINS(r.body, bad[i].says);
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
	httpd_free(s.h);
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
	httpd_free(s.h);
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
	httpd_free(s.h);
	return err;
}

static int test_bad_start(void)
{
	int err = 0;
	struct httpd *h = NULL;
	static const struct httpd_route bad[] = { { "GET", "nope", on_public, true } };
	TEST_EQ_INT(httpd_new(&h, "127.0.0.1", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_new(&h, "127.0.0.1:0", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_new(&h, "example.com:80", routes, 1, NULL, NULL), EINVAL);
	TEST_EQ_INT(httpd_new(&h, "127.0.0.1:8080", bad, 1, NULL, NULL), EINVAL);
	TEST_ASSERT(h == NULL);
	TEST_ASSERT(httpd_free(NULL) == NULL);
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
	TEST_EQ_INT(httpd_health_new(&h, addr, is_ready, &rd, NULL), 0);

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
	TEST_CONTAINS(r.body,
		      "# TYPE test_health_probe_total counter\ntest_health_probe_total 3\n");
	resp_free(&r);

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", port);
	TEST_EQ_INT(http(&r, "POST", u, NULL, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 405);
	TEST_EQ_STR(r.allow, "GET, HEAD");
out:
	resp_free(&r);
	httpd_free(h);
	return err;
}

/* ---- limits and deadlines, over raw sockets ------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP connection to 127.0.0.1:port from source address `from`. */
static int tcp_open(int port, const char *from)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	if (fd < 0)
		return -1;
	inet_pton(AF_INET, from, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads what arrives within timeout_ms into buf (NUL-terminated). Returns
 * the bytes read, and *closedp true when the server closed the connection. */
static size_t recv_for(int fd, char *buf, size_t cap, int timeout_ms, bool *closedp)
{
	size_t got = 0;
	int64_t end = now_ms() + timeout_ms;
	*closedp = false;
	buf[0] = '\0';
	for (int64_t left = timeout_ms; left > 0 && got + 1 < cap; left = end - now_ms()) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0) {
			*closedp = true;
			break;
		}
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

/* A raw GET /public on a new connection from `from`: its status line. */
static int raw_get(int port, const char *from, char *buf, size_t cap, bool *closedp)
{
	int fd = tcp_open(port, from);
	if (fd < 0)
		return -1;
	send_all(fd, "GET /public HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	recv_for(fd, buf, cap, 3000, closedp);
	close(fd);
	return 0;
}

static int limited_start(struct httpd **hp, int *portp, unsigned total, unsigned per_client,
			 unsigned timeout_s)
{
	char addr[64];
	/* One thread: MHD divides the total among its pool's threads. */
	const struct httpd_opts opts = { .max_body = MAX_BODY, .auth = check_token, .threads = 1,
					 .max_conns = total, .max_per_client = per_client,
					 .request_timeout_s = timeout_s };
	*portp = test_free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", *portp);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return httpd_new(hp, addr, routes, CM_ARRAY_LEN(routes), NULL, &opts);
}

/* Past the total limit MHD stops accepting: a fifth connection waits in
 * the kernel's backlog, unanswered, whatever it sends; once the idle ones
 * are gone it is served, and so is a new client. */
static int test_connection_limit(void)
{
	int err = 0, port = 0, idle[4] = { -1, -1, -1, -1 }, fifth = -1;
	struct httpd *h = NULL;
	char buf[512];
	bool closed = false;
	TEST_EQ_INT(limited_start(&h, &port, 4, 4, 30), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(idle); i++) {
		idle[i] = tcp_open(port, i % 2 ? "127.0.0.1" : "127.0.0.2");
		TEST_ASSERT(idle[i] >= 0);
	}
	fifth = tcp_open(port, "127.0.0.3");
	TEST_ASSERT(fifth >= 0);
	TEST_ASSERT(
		send_all(fifth, "GET /public HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
	recv_for(fifth, buf, sizeof(buf), 1000, &closed);
	TEST_EQ_INT(strlen(buf), 0);
	TEST_ASSERT(!closed);
	/* The idle ones are still there and can still be served. */
	TEST_ASSERT(send_all(idle[0], "GET /public HTTP/1.1\r\nHost: t\r\n\r\n"));
	recv_for(idle[0], buf, sizeof(buf), 3000, &closed);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(idle); i++) {
		close(idle[i]);
		idle[i] = -1;
	}
	recv_for(fifth, buf, sizeof(buf), 3000, &closed);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	/* Closed on our side; the server notices soon (bounded retries). */
	bool served = false;
	for (int i = 0; i < 100 && !served; i++) {
		TEST_EQ_INT(raw_get(port, "127.0.0.3", buf, sizeof(buf), &closed), 0);
		served = strncmp(buf, "HTTP/1.1 200", 12) == 0;
		if (!served)
			usleep(20000);
	}
	TEST_ASSERT(served);
out:
	if (fifth >= 0)
		close(fifth);
	for (size_t i = 0; i < CM_ARRAY_LEN(idle); i++)
		if (idle[i] >= 0)
			close(idle[i]);
	httpd_free(h);
	return err;
}

/* One address may hold only so many; another address is still served. */
static int test_per_client_limit(void)
{
	int err = 0, port = 0, idle[2] = { -1, -1 };
	struct httpd *h = NULL;
	char buf[512];
	bool closed = false;
	TEST_EQ_INT(limited_start(&h, &port, 16, 2, 30), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(idle); i++) {
		idle[i] = tcp_open(port, "127.0.0.1");
		TEST_ASSERT(idle[i] >= 0);
	}
	TEST_EQ_INT(raw_get(port, "127.0.0.1", buf, sizeof(buf), &closed), 0);
	TEST_ASSERT(closed);
	TEST_EQ_INT(strlen(buf), 0);
	TEST_EQ_INT(raw_get(port, "127.0.0.2", buf, sizeof(buf), &closed), 0);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
out:
	for (size_t i = 0; i < CM_ARRAY_LEN(idle); i++)
		if (idle[i] >= 0)
			close(idle[i]);
	httpd_free(h);
	return err;
}

/* Sends `first`, then `drip` every 200 ms; returns the ms until the server
 * closed the connection, or -1 if it was still open after max_ms. */
static int64_t drip_until_closed(int port, const char *first, const char *drip, int max_ms)
{
	int fd = tcp_open(port, "127.0.0.1");
	char buf[512];
	bool closed = false;
	int64_t start = now_ms(), took = -1;
	if (fd < 0)
		return -2;
	send_all(fd, first);
	while (now_ms() - start < max_ms) {
		recv_for(fd, buf, sizeof(buf), 200, &closed);
		if (closed || buf[0]) {
			took = now_ms() - start;
			break;
		}
		if (!send_all(fd, drip)) {
			took = now_ms() - start;
			break;
		}
	}
	close(fd);
	return took;
}

/* A request dripped in, each byte well inside the idle timeout, is cut at
 * its deadline: headers, then a body. */
static int test_drip_deadline(void)
{
	int err = 0, port = 0;
	struct httpd *h = NULL;
	char buf[512];
	bool closed = false;
	TEST_EQ_INT(limited_start(&h, &port, 16, 16, 2), 0);
	int64_t took = drip_until_closed(port, "GET /public HTTP/1.1\r\nHost: t\r\n",
					 "X-Drip: 1\r\n", 6000);
	printf("    header drip cut after %lld ms (deadline 2000)\n", (long long)took);
	TEST_ASSERT(took >= 1900 && took <= 3500);
	took = drip_until_closed(
		port,
		"POST /echo/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
		"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
		" ", 6000);
	printf("    body drip cut after %lld ms (deadline 2000)\n", (long long)took);
	TEST_ASSERT(took >= 1900 && took <= 3500);
	/* A keep-alive connection: each request gets its own deadline. */
	int fd = tcp_open(port, "127.0.0.1");
	TEST_ASSERT(fd >= 0);
	for (int i = 0; i < 3; i++) {
		TEST_ASSERT(send_all(fd, "GET /public HTTP/1.1\r\nHost: t\r\n\r\n"));
		recv_for(fd, buf, sizeof(buf), 300, &closed);
		TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
		TEST_ASSERT(!closed);
		recv_for(fd, buf, sizeof(buf), 600, &closed); /* idle, within the deadline */
		TEST_ASSERT(!closed);
	}
	close(fd);
out:
	httpd_free(h);
	return err;
}

/* ---- a stream outlives the request deadline ------------------------------ */

struct ticker {
	pthread_mutex_t mu;
	struct httpd_stream *stream; /* NULL once done ran */
	int sent, pending; /* ticks written; wakes not yet answered by one */
	bool stop;
	atomic_bool done;
};
static struct ticker tick = { .mu = PTHREAD_MUTEX_INITIALIZER };

static long tick_read(char *buf, size_t max, void *arg)
{
	struct ticker *t = arg;
	pthread_mutex_lock(&t->mu);
	int n = 0;
	if (t->pending > 0) {
		t->pending = 0;
		n = snprintf(buf, max, "data: tick %d\n\n", t->sent++);
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void tick_done(void *arg)
{
	struct ticker *t = arg;
	pthread_mutex_lock(&t->mu);
	t->stream = NULL;
	pthread_mutex_unlock(&t->mu);
	atomic_store(&t->done, true);
}

static void on_stream(struct httpd_req *req, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&tick.mu);
	struct httpd_stream *st = NULL;
	if (httpd_reply_stream(req, &st, 200, "text/event-stream", NULL, 0, tick_read, tick_done,
			       &tick) == 0)
		tick.stream = st;
	pthread_mutex_unlock(&tick.mu);
}

static void *waker(void *arg)
{
	struct ticker *t = arg;
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&t->mu);
		bool stop = t->stop;
		if (t->stream) {
			t->pending++;
			httpd_stream_wake(t->stream);
		}
		pthread_mutex_unlock(&t->mu);
		if (stop)
			break;
		usleep(100000);
	}
	return NULL;
}

static const struct httpd_route stream_routes[] = {
	{ "GET", "/events", on_stream, true },
};

static int test_stream_outlives_deadline(void)
{
	int err = 0, port = test_free_port(), fd = -1;
	struct httpd *h = NULL;
	pthread_t w;
	bool waking = false, closed = false;
	char addr[64], buf[4096];
	const struct httpd_opts opts = { .threads = 1, .request_timeout_s = 1 };
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	TEST_EQ_INT(httpd_new(&h, addr, stream_routes, 1, NULL, &opts), 0);
	TEST_EQ_INT(pthread_create(&w, NULL, waker, &tick), 0);
	waking = true;
	fd = tcp_open(port, "127.0.0.1");
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(send_all(fd, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n"));
	recv_for(fd, buf, sizeof(buf), 1000, &closed);
	TEST_CONTAINS(buf, "200 OK");
	/* Three deadlines later the stream still flows. */
	recv_for(fd, buf, sizeof(buf), 2000, &closed);
	TEST_ASSERT(!closed);
	recv_for(fd, buf, sizeof(buf), 1000, &closed);
	TEST_ASSERT(!closed);
	TEST_CONTAINS(buf, "data: tick");
	pthread_mutex_lock(&tick.mu);
	int sent = tick.sent;
	pthread_mutex_unlock(&tick.mu);
	printf("    %d ticks in 4 s through a 1 s request deadline\n", sent);
	TEST_ASSERT(sent >= 20);
out:
	if (fd >= 0)
		close(fd);
	httpd_free(h); /* ends the stream: done runs */
	if (waking) {
		pthread_mutex_lock(&tick.mu);
		tick.stop = true;
		pthread_mutex_unlock(&tick.mu);
		pthread_join(w, NULL);
	}
	if (!err && !atomic_load(&tick.done)) {
		test_failed(__FILE__, __LINE__, "the stream's done never ran");
		err = 1;
	}
	return err;
}

/* ---- errors MHD would answer in HTML, and request framing -------------- */

static int test_envelope_for_limits(void)
{
	int err = 0, port = 0, fd = -1;
	struct httpd *h = NULL;
	bool closed = false;
	size_t cap = 128 * 1024;
	char *req = malloc(cap), *buf = malloc(cap);
	TEST_ASSERT(req && buf);
	TEST_EQ_INT(limited_start(&h, &port, 16, 16, 10), 0);
	struct {
		const char *what;
		int nparams, letters, header_bytes; /* letters: one-letter parameters */
		const char *want;
	} cases[] = {
		{ "480 query parameters", 480, 0, 0, "HTTP/1.1 414" },
		/* enough to exhaust MHD's connection memory if it parsed them */
		{ "6000 query parameters", 6000, 0, 0, "HTTP/1.1 414" },
		{ "20 KiB of headers", 0, 0, 20 * 1024, "HTTP/1.1 431" },
		/* the longest line the gate lets through, as one-letter parameters,
		 * and the most headers under the cap beside it */
		{ "8,000 one-letter parameters and 16 KiB of headers", 0, 8000, 16 * 1024 - 200,
		  "HTTP/1.1 414" },
	};
	for (size_t c = 0; c < CM_ARRAY_LEN(cases); c++) {
		size_t o = (size_t)snprintf(req, cap, "GET /public?");
		for (int i = 0; i < cases[c].nparams; i++)
			o += (size_t)snprintf(req + o, cap - o, "p%d=%d&", i, i);
		for (int i = 0; i < cases[c].letters; i++)
			o += (size_t)snprintf(req + o, cap - o, "a&");
		o += (size_t)snprintf(req + o, cap - o, " HTTP/1.1\r\nHost: t\r\n");
		for (int i = 0; i * 100 < cases[c].header_bytes; i++)
			o += (size_t)snprintf(req + o, cap - o, "X-Pad-%d: %090d\r\n", i, 0);
		snprintf(req + o, cap - o, "Connection: close\r\n\r\n");
		fd = tcp_open(port, "127.0.0.1");
		TEST_ASSERT(fd >= 0);
		TEST_ASSERT(send_all(fd, req));
		recv_for(fd, buf, cap, 3000, &closed);
		close(fd);
		fd = -1;
		printf("    %s -> %.12s\n", cases[c].what, buf);
		TEST_ASSERT(strncmp(buf, cases[c].want, 12) == 0);
		TEST_CONTAINS(buf, "Content-Type: application/json");
		TEST_CONTAINS(buf, "{\"success\":false,");
	}
	/* Two Content-Length headers that disagree. */
	fd = tcp_open(port, "127.0.0.1");
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(send_all(fd, "POST /echo/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
				 "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
				 "Content-Length: 40\r\n\r\n{}"));
	recv_for(fd, buf, cap, 3000, &closed);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 400", 12) == 0);
	TEST_CONTAINS(buf, "\"code\":\"invalid_content_length\"");
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(buf);
	httpd_free(h);
	return err;
}

/* ---- the accept gate: request lines MHD would answer in HTML ------------ */

/* Sends req on a new connection and reads until the server closes. */
static int gate_exchange(int port, const char *req, char *buf, size_t cap, bool *closedp)
{
	int fd = tcp_open(port, "127.0.0.1");
	if (fd < 0)
		return -1;
	bool sent = send_all(fd, req);
	recv_for(fd, buf, cap, 3000, closedp);
	close(fd);
	return sent ? 0 : -1;
}

/* An envelope with `status`, `code` and Connection: close, then the close. */
static int expect_gate_reply(int port, const char *what, const char *req, const char *status,
			     const char *code)
{
	int err = 0;
	char buf[4096], want[96];
	bool closed = false;
	TEST_EQ_INT(gate_exchange(port, req, buf, sizeof(buf), &closed), 0);
	printf("    %s -> %.12s\n", what, buf);
	snprintf(want, sizeof(want), "HTTP/1.1 %s", status);
	TEST_ASSERT(strncmp(buf, want, strlen(want)) == 0);
	TEST_CONTAINS(buf, "Content-Type: application/json\r\n");
	TEST_CONTAINS(buf, "Connection: close\r\n");
	snprintf(want, sizeof(want), "{\"success\":false,");
	TEST_CONTAINS(buf, want);
	snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
	TEST_CONTAINS(buf, want);
	TEST_ASSERT(closed);
out:
	return err;
}

static int gate_cases(int port, const char *path)
{
	int err = 0;
	char req[256];
	size_t big = 300 * 1024;
	char *line = malloc(big + 64);
	TEST_ASSERT(line != NULL);
	snprintf(req, sizeof(req), "GET %s HTTP/2.0\r\nHost: t\r\n\r\n", path);
	TEST_EQ_INT(expect_gate_reply(port, "HTTP/2.0", req, "505", "http_version_not_supported"),
		    0);
	snprintf(req, sizeof(req), "GET %s HTTP/3\r\nHost: t\r\n\r\n", path);
	TEST_EQ_INT(expect_gate_reply(port, "HTTP/3", req, "505", "http_version_not_supported"), 0);
	TEST_EQ_INT(expect_gate_reply(port, "GARBAGE", "GARBAGE\r\n\r\n", "400",
				      "invalid_request_line"), 0);
	TEST_EQ_INT(expect_gate_reply(port, "a TLS hello", "\x16\x03\x01\x02\x00\x01", "400",
				      "invalid_request_line"), 0);
	snprintf(req, sizeof(req), "GET %s FOO/1.1\r\n\r\n", path);
	TEST_EQ_INT(expect_gate_reply(port, "FOO/1.1", req, "400", "invalid_request_line"), 0);
	/* Past MHD's 256 KiB of connection memory, where it answered in HTML. */
	size_t o = (size_t)snprintf(line, big + 64, "GET /");
	memset(line + o, 'a', big);
	snprintf(line + big, 64, " HTTP/1.1\r\nHost: t\r\n\r\n");
	TEST_EQ_INT(expect_gate_reply(port, "300 KiB request line", line, "414", "uri_too_long"),
		    0);
	/* Empty lines before a good request line are allowed (RFC 9112 §2.2),
	 * and a good line still reaches the routes with nothing lost. */
	bool closed = false;
	char buf[4096];
	snprintf(req, sizeof(req), "\r\nGET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		 path);
	TEST_EQ_INT(gate_exchange(port, req, buf, sizeof(buf), &closed), 0);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	/* a request line of several KiB, peeked whole, reaches MHD whole */
	o = (size_t)snprintf(line, big + 64, "GET %s?", path);
	for (int i = 0; i < 60; i++)
		o += (size_t)snprintf(line + o, big + 64 - o, "p%02d=%0100d&", i, i);
	snprintf(line + o, big + 64 - o, " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	TEST_EQ_INT(gate_exchange(port, line, buf, sizeof(buf), &closed), 0);
	printf("    a %zu-byte request line -> %.12s\n", o, buf);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
out:
	free(line);
	return err;
}

static int test_gate(void)
{
	int err = 0, port = 0;
	struct httpd *h = NULL;
	TEST_EQ_INT(limited_start(&h, &port, 16, 16, 2), 0);
	TEST_EQ_INT(gate_cases(port, "/public"), 0);
	/* A request line dripped a byte at a time is cut at the request deadline. */
	int64_t took = drip_until_closed(port, "G", "E", 6000);
	printf("    request line drip cut after %lld ms (deadline 2000)\n", (long long)took);
	TEST_ASSERT(took >= 1900 && took <= 3500);
	/* Connections the gate answered or cut are gone: the limits count
	 * none of them (16 per client, and 20 answered above). */
	bool closed = false;
	char buf[512];
	TEST_EQ_INT(raw_get(port, "127.0.0.1", buf, sizeof(buf), &closed), 0);
	TEST_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
out:
	httpd_free(h);
	return err;
}

/* The health listener sits behind the same gate. */
static int test_gate_health(void)
{
	int err = 0, port = test_free_port();
	struct httpd *h = NULL;
	struct readiness rd;
	char addr[64];
	atomic_init(&rd.ready, true);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	TEST_EQ_INT(httpd_health_new(&h, addr, is_ready, &rd, NULL), 0);
	TEST_EQ_INT(gate_cases(port, "/healthz"), 0);
out:
	httpd_free(h);
	return err;
}

static int test_content_type_and_escapes(void)
{
	int err = 0;
	struct server s = { 0 };
	struct resp r = { 0 };
	char u[256];
	CURL *c = NULL;
	struct curl_slist *hdrs = NULL;
	TEST_EQ_INT(server_start(&s), 0);
	/* A body that is not declared JSON: 415 naming the header. */
	const char *types[] = { "Content-Type: text/plain",
				"Content-Type:", "Content-Type: application/jsonx" };
	url(u, sizeof(u), &s, "/echo/abc");
	for (size_t i = 0; i < CM_ARRAY_LEN(types); i++) {
		c = curl_easy_init();
		TEST_ASSERT(c != NULL);
		hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
		hdrs = curl_slist_append(hdrs, types[i]);
		curl_easy_setopt(c, CURLOPT_URL, u);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
		TEST_EQ_INT(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		TEST_EQ_INT(r.status, 415);
		TEST_CONTAINS(r.body, "\"code\":\"unsupported_media_type\"");
		TEST_CONTAINS(r.body, "\"field\":\"Content-Type\"");
		resp_free(&r);
		memset(&r, 0, sizeof(r));
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		curl_easy_cleanup(c);
		c = NULL;
	}
	/* A parameter with a bad percent-escape is refused, named. */
	url(u, sizeof(u), &s, "/echo/abc?limit=5&q=%zz");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 400);
	TEST_CONTAINS(r.body, "\"code\":\"invalid_query\"");
	TEST_CONTAINS(r.body, "\"field\":\"q\"");
	resp_free(&r);
	/* Conflicting Content-Length through the pool of two threads. */
	{
		int port = (int)strtol(strrchr(s.base, ':') + 1, NULL, 10),
		    fd = tcp_open(port, "127.0.0.1");
		char buf[1024];
		bool closed = false;
		TEST_ASSERT(fd >= 0);
		TEST_ASSERT(send_all(
			fd, "POST /echo/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
			    "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
			    "Content-Length: 30\r\n\r\n{}"));
		recv_for(fd, buf, sizeof(buf), 3000, &closed);
		close(fd);
		TEST_ASSERT(strncmp(buf, "HTTP/1.1 400", 12) == 0);
	}
	url(u, sizeof(u), &s, "/echo/abc?q=%4");
	TEST_EQ_INT(http(&r, "POST", u, TOKEN, "{}", 2, false), 0);
	TEST_EQ_INT(r.status, 400);
out:
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	resp_free(&r);
	httpd_free(s.h);
	return err;
}

static const struct test tests[] = {
	{ "connection_limit", test_connection_limit },
	{ "per_client_limit", test_per_client_limit },
	{ "drip_deadline", test_drip_deadline },
	{ "stream_outlives_deadline", test_stream_outlives_deadline },
	{ "envelope_for_limits", test_envelope_for_limits },
	{ "gate", test_gate },
	{ "gate_health", test_gate_health },
	{ "content_type_and_escapes", test_content_type_and_escapes },
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
