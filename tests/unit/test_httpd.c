/* libs/httpd pure parts: routing table, envelopes, JSON depth check. */
#include "harness/test.h"
#include "httpd/httpd.h"

#include <stdlib.h>

static void nop(struct httpd_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const struct httpd_route routes[] = {
	{ "GET", "/", nop, true },                          /* 0 */
	{ "GET", "/assistants", nop, false },               /* 1 */
	{ "POST", "/assistants", nop, false },              /* 2 */
	{ "GET", "/assistants/{id}", nop, false },          /* 3 */
	{ "PATCH", "/assistants/{id}", nop, false },        /* 4 */
	{ "DELETE", "/assistants/{id}", nop, false },       /* 5 */
	{ "POST", "/calls/{id}/hangup", nop, false },       /* 6 */
	{ "GET", "/calls/stats", nop, false },              /* 7: after nothing that shadows it */
	{ "GET", "/calls/{id}", nop, false },               /* 8 */
	{ "GET", "/a/{x}/b/{y}", nop, false },              /* 9 */
	{ "GET", "/healthz", nop, true },                   /* 10 */
};
#define NROUTES CM_ARRAY_LEN(routes)

static int test_exact(void)
{
	int err = 0;
	struct httpd_params p;
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants", &p), 1);
	TEST_EQ_INT(p.n, 0);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "POST", "/assistants", &p), 2);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/healthz", &p), 10);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/", &p), 0);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/calls/stats", &p), 7);
	/* HEAD is answered by the GET route. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "HEAD", "/healthz", &p), 10);
out:
	return err;
}

static int test_captures(void)
{
	int err = 0;
	struct httpd_params p;
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/abc-123", &p), 3);
	TEST_EQ_INT(p.n, 1);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "abc-123");
	TEST_ASSERT(httpd_params_get(&p, "i") == NULL);
	TEST_ASSERT(httpd_params_get(&p, "idx") == NULL);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "POST", "/calls/c1/hangup", &p), 6);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "c1");
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/a/one/b/two", &p), 9);
	TEST_EQ_INT(p.n, 2);
	TEST_EQ_STR(httpd_params_get(&p, "x"), "one");
	TEST_EQ_STR(httpd_params_get(&p, "y"), "two");
	/* A capture takes one segment, never more or fewer. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a/b", &p),
		    HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/a/one/b", &p),
		    HTTPD_MATCH_NOT_FOUND);
out:
	return err;
}

static int test_not_found_vs_method(void)
{
	int err = 0;
	struct httpd_params p;
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/nope", &p), HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_STR(p.allow, "");
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "DELETE", "/assistants", &p),
		    HTTPD_MATCH_METHOD);
	TEST_EQ_STR(p.allow, "GET, HEAD, POST");
	TEST_EQ_INT(p.n, 0);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "PUT", "/assistants/x", &p),
		    HTTPD_MATCH_METHOD);
	TEST_EQ_STR(p.allow, "GET, HEAD, PATCH, DELETE");
	/* /calls/stats fits two GET patterns: listed once. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "POST", "/calls/stats", &p),
		    HTTPD_MATCH_METHOD);
	TEST_EQ_STR(p.allow, "GET, HEAD");
	/* Methods are case-sensitive tokens. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "get", "/assistants", &p),
		    HTTPD_MATCH_METHOD);
out:
	return err;
}

static int test_slashes(void)
{
	int err = 0;
	struct httpd_params p;
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/", &p), 1);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/x/", &p), 3);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "x");
	/* Only one trailing slash is cosmetic; empty segments match nothing. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants//", &p),
		    HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "POST", "/calls//hangup", &p),
		    HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "//assistants", &p),
		    HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "//", &p), HTTPD_MATCH_NOT_FOUND);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "", &p), HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "assistants", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "*", &p), HTTPD_MATCH_BAD_PATH);
out:
	return err;
}

static int test_long_and_deep(void)
{
	int err = 0;
	struct httpd_params p;
	char *path = malloc(HTTPD_PATH_MAX + 2);
	TEST_ASSERT(path != NULL);
	/* Exactly at the cap: allowed (and simply unknown). */
	memset(path, 'a', HTTPD_PATH_MAX);
	path[0] = '/';
	path[HTTPD_PATH_MAX] = '\0';
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", path, &p), HTTPD_MATCH_NOT_FOUND);
	path[HTTPD_PATH_MAX] = 'a';
	path[HTTPD_PATH_MAX + 1] = '\0';
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", path, &p), HTTPD_MATCH_TOO_LONG);
	/* A capture longer than HTTPD_PARAM_MAX cannot be an id. */
	memcpy(path, "/assistants/", 12);
	memset(path + 12, 'x', HTTPD_PARAM_MAX);
	path[12 + HTTPD_PARAM_MAX] = '\0';
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", path, &p), HTTPD_MATCH_NOT_FOUND);
	path[12 + HTTPD_PARAM_MAX - 1] = '\0';
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", path, &p), 3);
	TEST_EQ_INT(strlen(httpd_params_get(&p, "id")), HTTPD_PARAM_MAX - 1);
	/* More segments than any route may have. */
	size_t pos = 0;
	for (int i = 0; i < HTTPD_SEGMENTS_MAX + 4; i++) {
		path[pos++] = '/';
		path[pos++] = 's';
	}
	path[pos] = '\0';
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", path, &p), HTTPD_MATCH_NOT_FOUND);
out:
	free(path);
	return err;
}

static int test_percent(void)
{
	int err = 0;
	struct httpd_params p;
	/* Literal segments compare decoded. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assist%61nts", &p), 1);
	/* %2F stays inside its segment, decoded in the capture. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%2Fb", &p), 3);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "a/b");
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%20b+c", &p), 3);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "a b+c");
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/%C3%A9", &p), 3);
	TEST_EQ_STR(httpd_params_get(&p, "id"), "\xc3\xa9");
	/* Broken or dangerous escapes are a bad request, not a lookup. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%00b", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%zz", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%4", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/%", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a%0Ab", &p),
		    HTTPD_MATCH_BAD_PATH);
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "GET", "/assistants/a\tb", &p),
		    HTTPD_MATCH_BAD_PATH);
	/* An encoded slash never splits: "/calls/x%2Fhangup" is one capture. */
	TEST_EQ_INT(httpd_route_match(routes, NROUTES, "POST", "/calls/x%2Fhangup", &p),
		    HTTPD_MATCH_METHOD);
out:
	return err;
}

static int test_envelopes(void)
{
	int err = 0;
	char *s = NULL;
	cJSON *data = cJSON_CreateObject();
	TEST_ASSERT(data != NULL);
	cJSON_AddStringToObject(data, "call_id", "c\"1");
	s = httpd_envelope_ok("queued", data); /* takes data */
	TEST_EQ_STR(s,
		    "{\"success\":true,\"message\":\"queued\",\"data\":{\"call_id\":\"c\\\"1\"}}");
	free(s);
	s = httpd_envelope_ok(NULL, NULL);
	TEST_EQ_STR(s, "{\"success\":true,\"message\":\"\",\"data\":null}");
	free(s);
	s = httpd_envelope_error("invalid_field", "to_number", "to_number must be E.164");
	TEST_EQ_STR(s, "{\"success\":false,\"message\":\"to_number must be E.164\",\"data\":null,"
		       "\"error\":{\"code\":\"invalid_field\",\"field\":\"to_number\"}}");
	free(s);
	s = httpd_envelope_error("not_found", NULL, "no such call");
	TEST_CONTAINS(s, "\"error\":{\"code\":\"not_found\",\"field\":null}");
out:
	free(s);
	return err;
}

static int test_json_depth(void)
{
	int err = 0;
	char deep[200];
	TEST_ASSERT(httpd_json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
	TEST_ASSERT(!httpd_json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
	/* Brackets inside strings (and escaped quotes) do not count. */
	const char *s = "{\"a\":\"[[[[\\\"{{{{\"}";
	TEST_ASSERT(httpd_json_depth_ok(s, strlen(s), 1));
	memset(deep, '[', sizeof(deep));
	TEST_ASSERT(!httpd_json_depth_ok(deep, sizeof(deep), HTTPD_JSON_DEPTH_MAX));
	TEST_ASSERT(httpd_json_depth_ok(deep, HTTPD_JSON_DEPTH_MAX, HTTPD_JSON_DEPTH_MAX));
out:
	return err;
}

static int test_range(void)
{
	int err = 0;
	uint64_t a = 0, n = 0;
	TEST_EQ_INT(httpd_range_parse(NULL, 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("bytes=0-9", 100, &a, &n), HTTPD_RANGE_PARTIAL);
	TEST_EQ_INT(a, 0);
	TEST_EQ_INT(n, 10);
	TEST_EQ_INT(httpd_range_parse("bytes=90-", 100, &a, &n), HTTPD_RANGE_PARTIAL);
	TEST_EQ_INT(a, 90);
	TEST_EQ_INT(n, 10);
	TEST_EQ_INT(httpd_range_parse("bytes=-30", 100, &a, &n), HTTPD_RANGE_PARTIAL);
	TEST_EQ_INT(a, 70);
	TEST_EQ_INT(n, 30);
	TEST_EQ_INT(httpd_range_parse("bytes=-300", 100, &a, &n), HTTPD_RANGE_PARTIAL);
	TEST_EQ_INT(a, 0);
	TEST_EQ_INT(n, 100);
	TEST_EQ_INT(httpd_range_parse("bytes=50-5000", 100, &a, &n), HTTPD_RANGE_PARTIAL);
	TEST_EQ_INT(n, 50);
	TEST_EQ_INT(httpd_range_parse("bytes=100-", 100, &a, &n), HTTPD_RANGE_UNSATISFIABLE);
	TEST_EQ_INT(httpd_range_parse("bytes=-0", 100, &a, &n), HTTPD_RANGE_UNSATISFIABLE);
	TEST_EQ_INT(httpd_range_parse("bytes=0-", 0, &a, &n), HTTPD_RANGE_UNSATISFIABLE);
	/* ignored: served whole */
	TEST_EQ_INT(httpd_range_parse("bytes=9-2", 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("bytes=0-1,4-5", 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("items=0-1", 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("bytes=x-1", 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("bytes=1-2x", 100, &a, &n), HTTPD_RANGE_WHOLE);
	TEST_EQ_INT(httpd_range_parse("bytes=99999999999999999999999-", 100, &a, &n),
		    HTTPD_RANGE_WHOLE);
out:
	return err;
}

static enum httpd_line line_check(const char *s, size_t max)
{
	struct httpd_line_info li;
	return httpd_request_line_check(s, strlen(s), max, &li);
}

static int test_request_line(void)
{
	int err = 0;
	struct httpd_line_info li;
	const char *ok = "GET /a?b=c HTTP/1.1\r\nHost: t\r\n\r\n";
	TEST_EQ_INT(httpd_request_line_check(ok, strlen(ok), 64, &li), HTTPD_LINE_OK);
	TEST_EQ_STR(li.version, "HTTP/1.1");
	TEST_EQ_INT(li.line_len, 19);
	TEST_EQ_INT(line_check("\r\n\r\nPOST / HTTP/1.0\n", 64), HTTPD_LINE_OK);
	TEST_EQ_INT(line_check("GET / HTTP/1.9\r\n", 64), HTTPD_LINE_OK);
	/* not yet whole */
	TEST_EQ_INT(line_check("", 64), HTTPD_LINE_PARTIAL);
	TEST_EQ_INT(line_check("\r\n", 64), HTTPD_LINE_PARTIAL);
	TEST_EQ_INT(line_check("GE", 64), HTTPD_LINE_PARTIAL);
	TEST_EQ_INT(line_check("GET /x HTTP/1.1", 64), HTTPD_LINE_PARTIAL);
	TEST_EQ_INT(line_check("GET /x HTTP/1.1\r", 64), HTTPD_LINE_PARTIAL);
	/* versions this server does not speak */
	TEST_EQ_INT(httpd_request_line_check("GET / HTTP/2.0\r\n", 16, 64, &li),
		    HTTPD_LINE_VERSION);
	TEST_EQ_STR(li.version, "HTTP/2.0");
	TEST_EQ_INT(line_check("GET / HTTP/3\r\n", 64), HTTPD_LINE_VERSION);
	TEST_EQ_INT(line_check("GET / HTTP/1.10\r\n", 64), HTTPD_LINE_VERSION);
	TEST_EQ_INT(line_check("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 64), HTTPD_LINE_VERSION);
	/* not HTTP, as soon as a byte shows it */
	const char *bad[] = { "GARBAGE\r\n\r\n", "GET /\r\n", "GET  / HTTP/1.1\r\n",
			      " GET / HTTP/1.1\r\n", "GET / HTTP/1.1 x\r\n", "GET / FOO/1.1\r\n",
			      "GET /\x01 HTTP/1.1\r\n", "G(T / HTTP/1.1\r\n", "\x16\x03\x01",
			      "GET / HTTP/1.1\rX\n", "GET / HTTP/1.1111111111111111\r\n",
			      "GET / \r\n", "GET /\xc3\xa9 HTTP/1.1\r\n" };
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		enum httpd_line got = line_check(bad[i], 64);
		if (got != HTTPD_LINE_MALFORMED)
			printf("    case %zu: %d\n", i, (int)got);
		TEST_EQ_INT(got, HTTPD_LINE_MALFORMED);
	}
	/* the limit, whole or still arriving */
	TEST_EQ_INT(line_check("GET /0123456789 HTTP/1.1\r\n", 23), HTTPD_LINE_TOO_LONG);
	TEST_EQ_INT(line_check("GET /0123456789 HTTP/1.1\r\n", 24), HTTPD_LINE_OK);
	TEST_EQ_INT(line_check("GET /0123456789abcdefghij", 16), HTTPD_LINE_TOO_LONG);
	TEST_EQ_INT(line_check("GET /0123456789 HTTP/1.1\r", 24), HTTPD_LINE_PARTIAL);
	TEST_EQ_INT(line_check("\r\nGET /0123456789 HTTP/1.1\r\n", 24), HTTPD_LINE_TOO_LONG);
	TEST_EQ_INT(line_check("\r\n\r\n\r\n", 4), HTTPD_LINE_MALFORMED);
out:
	return err;
}

static const struct test tests[] = {
	{ "range", test_range },
	{ "request_line", test_request_line },
	{ "route_exact", test_exact },
	{ "route_captures", test_captures },
	{ "route_not_found_vs_method", test_not_found_vs_method },
	{ "route_slashes", test_slashes },
	{ "route_long_and_deep", test_long_and_deep },
	{ "route_percent", test_percent },
	{ "envelopes", test_envelopes },
	{ "json_depth", test_json_depth },
};

TEST_MAIN(tests)
