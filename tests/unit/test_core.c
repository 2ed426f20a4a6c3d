/* libs/core: config table, ids, time, status mapping, metrics. */
#include "core/core.h"
#include "harness/test.h"

#include <errno.h>
#include <stdlib.h>

struct demo_cfg {
	const char *name;
	long port;
	bool flag;
	const char *mode;
	const char *addr;
	const char *url;
	const char *secret;
};

static const struct cfg_var demo_vars[] = { { "T_NAME", CFG_STR, "dflt", false, false, 0, 0, NULL,
					      offsetof(struct demo_cfg, name), "" },
					    { "T_PORT", CFG_INT, "10", true, false, 1, 100, NULL,
					      offsetof(struct demo_cfg, port), "" },
					    { "T_FLAG", CFG_BOOL, "false", false, false, 0, 0, NULL,
					      offsetof(struct demo_cfg, flag), "" },
					    { "T_MODE", CFG_ENUM, "a", true, false, 0, 0, "a|bb|c",
					      offsetof(struct demo_cfg, mode), "" },
					    { "T_ADDR", CFG_ADDR, "127.0.0.1:80", true, false, 0, 0,
					      NULL, offsetof(struct demo_cfg, addr), "" },
					    { "T_URL", CFG_URL, "nats://h:1", true, false, 0, 0,
					      "nats|tls", offsetof(struct demo_cfg, url), "" },
					    { "T_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
					      offsetof(struct demo_cfg, secret), "" },
					    { 0 } };

static void clear_env(void)
{
	const char *names[] = { "T_NAME", "T_PORT", "T_FLAG",  "T_MODE",
				"T_ADDR", "T_URL",  "T_SECRET" };
	for (size_t i = 0; i < CM_ARRAY_LEN(names); i++)
		unsetenv(names[i]);
}

static int test_cfg_defaults(void)
{
	int err = 0;
	struct demo_cfg c;
	char msg[256];
	clear_env();
	TEST_EQ_INT(cfg_load(&c, demo_vars, msg, sizeof(msg)), 0);
	TEST_EQ_STR(c.name, "dflt");
	TEST_EQ_INT(c.port, 10);
	TEST_ASSERT(!c.flag);
	TEST_EQ_STR(c.mode, "a");
	TEST_ASSERT(c.secret == NULL);
out:
	return err;
}

static int test_cfg_values(void)
{
	int err = 0;
	struct demo_cfg c;
	char msg[256];
	clear_env();
	setenv("T_PORT", "100", 1);
	setenv("T_FLAG", "yes", 1);
	setenv("T_MODE", "bb", 1);
	setenv("T_URL", "tls://x:4443", 1);
	TEST_EQ_INT(cfg_load(&c, demo_vars, msg, sizeof(msg)), 0);
	TEST_EQ_INT(c.port, 100);
	TEST_ASSERT(c.flag);
	TEST_EQ_STR(c.mode, "bb");
	TEST_EQ_STR(c.url, "tls://x:4443");
out:
	clear_env();
	return err;
}

static int expect_bad(const char *name, const char *value, const char *want)
{
	int err = 0;
	struct demo_cfg c;
	char msg[256] = "";
	clear_env();
	setenv(name, value, 1);
	TEST_EQ_INT(cfg_load(&c, demo_vars, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, name);
	TEST_CONTAINS(msg, want);
out:
	clear_env();
	return err;
}

static int test_cfg_errors_name_the_variable(void)
{
	int err = 0;
	TEST_EQ_INT(expect_bad("T_PORT", "101", "1..100"), 0);
	TEST_EQ_INT(expect_bad("T_PORT", "0", "1..100"), 0);
	TEST_EQ_INT(expect_bad("T_PORT", "12x", "integer"), 0);
	TEST_EQ_INT(expect_bad("T_FLAG", "maybe", "boolean"), 0);
	TEST_EQ_INT(expect_bad("T_MODE", "b", "a|bb|c"), 0);
	TEST_EQ_INT(expect_bad("T_ADDR", "localhost", "host:port"), 0);
	TEST_EQ_INT(expect_bad("T_ADDR", "h:70000", "host:port"), 0);
	TEST_EQ_INT(expect_bad("T_URL", "http://x", "nats|tls"), 0);
	TEST_EQ_INT(expect_bad("T_URL", "nats://", "URL"), 0);
out:
	return err;
}

static int test_cfg_required(void)
{
	int err = 0;
	static const struct cfg_var vars[] = {
		{ "T_NEED", CFG_STR, NULL, true, false, 0, 0, NULL, 0, "" },
		{ 0 }
	};
	const char *v = NULL;
	char msg[256] = "";
	unsetenv("T_NEED");
	TEST_EQ_INT(cfg_load(&v, vars, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "T_NEED: is required");
	setenv("T_NEED", "x", 1);
	TEST_EQ_INT(cfg_load(&v, vars, msg, sizeof(msg)), 0);
	TEST_EQ_STR(v, "x");
out:
	unsetenv("T_NEED");
	return err;
}

static int test_uuid(void)
{
	int err = 0;
	char a[ID_UUID_LEN + 1], b[ID_UUID_LEN + 1];
	TEST_EQ_INT(id_uuid4(a), 0);
	TEST_EQ_INT(id_uuid4(b), 0);
	TEST_ASSERT(id_is_uuid(a));
	TEST_ASSERT(strcmp(a, b) != 0);
	TEST_ASSERT(a[14] == '4');
	TEST_ASSERT(strchr("89ab", a[19]) != NULL);
	TEST_ASSERT(id_is_uuid("0B6A1D2C-3E4F-4A5B-8C7D-9E0F1A2B3C4D"));
	TEST_ASSERT(!id_is_uuid("0b6a1d2c-3e4f-4a5b-8c7d-9e0f1a2b3c4"));
	TEST_ASSERT(!id_is_uuid("0b6a1d2c_3e4f-4a5b-8c7d-9e0f1a2b3c4d"));
	TEST_ASSERT(!id_is_uuid("zb6a1d2c-3e4f-4a5b-8c7d-9e0f1a2b3c4d"));
	TEST_ASSERT(!id_is_uuid(NULL));
out:
	return err;
}

static int test_time(void)
{
	int err = 0;
	char s[TIME_ISO_LEN + 1];
	int64_t ms = 0;
	time_iso8601(s, 1795460400123LL);
	TEST_EQ_STR(s, "2026-11-23T19:00:00.123Z");
	TEST_EQ_INT(time_parse_iso8601(&ms, s), 0);
	TEST_EQ_INT(ms, 1795460400123LL);
	TEST_EQ_INT(time_parse_iso8601(&ms, "2026-11-23T20:00:00+01:00"), 0);
	TEST_EQ_INT(ms, 1795460400000LL);
	TEST_EQ_INT(time_parse_iso8601(&ms, "2026-11-23 19:00:00Z"), EINVAL);
	TEST_EQ_INT(time_parse_iso8601(&ms, "2026-13-23T19:00:00Z"), EINVAL);
	TEST_EQ_INT(time_parse_iso8601(&ms, "2026-11-23T19:00:00.Z"), EINVAL);
	TEST_EQ_INT(time_parse_iso8601(&ms, "2026-11-23T19:00:00Zjunk"), EINVAL);
	TEST_ASSERT(time_mono_us() > 0);
out:
	return err;
}

static int test_status(void)
{
	int err = 0;
	enum call_status st;
	for (int i = 0; i < CALL_STATUS_COUNT; i++) {
		TEST_EQ_INT(call_status_parse(&st, call_status_name((enum call_status)i)), 0);
		TEST_EQ_INT(st, i);
	}
	TEST_EQ_INT(call_status_parse(&st, "answered"), EINVAL);
	TEST_ASSERT(!call_status_is_terminal(CALL_ON_HOLD));
	TEST_ASSERT(call_status_is_terminal(CALL_COMPLETED));
	TEST_ASSERT(call_status_is_terminal(CALL_FAILED));
	TEST_EQ_INT(call_status_from_sip(486), CALL_BUSY);
	TEST_EQ_INT(call_status_from_sip(600), CALL_BUSY);
	TEST_EQ_INT(call_status_from_sip(480), CALL_NO_ANSWER);
	TEST_EQ_INT(call_status_from_sip(408), CALL_NO_ANSWER);
	TEST_EQ_INT(call_status_from_sip(603), CALL_REJECTED);
	TEST_EQ_INT(call_status_from_sip(403), CALL_REJECTED);
	TEST_EQ_INT(call_status_from_sip(487), CALL_CANCELLED);
	TEST_EQ_INT(call_status_from_sip(404), CALL_UNREACHABLE);
	TEST_EQ_INT(call_status_from_sip(484), CALL_UNREACHABLE);
	TEST_EQ_INT(call_status_from_sip(503), CALL_FAILED);
out:
	return err;
}

static int test_metrics(void)
{
	int err = 0;
	struct metric *c = metric_counter("test_events_total", "events seen");
	struct metric *g = metric_gauge("test_calls_active", "calls now");
	metric_add(c, 3);
	metric_set(g, 7);
	TEST_ASSERT(metric_counter("test_events_total", "x") == c);
	char *text = metrics_render();
	TEST_CONTAINS(text, "# TYPE test_events_total counter\ntest_events_total 3\n");
	TEST_CONTAINS(text, "# TYPE test_calls_active gauge\ntest_calls_active 7\n");
	free(text);
out:
	return err;
}

/* A condvar or timed-lock deadline: now + ms, nanoseconds normalised. */
static int test_time_deadline(void)
{
	int err = 0;
	struct timespec before, d, zero;
	clock_gettime(CLOCK_MONOTONIC, &before);
	time_deadline(&d, CLOCK_MONOTONIC, 1999);
	TEST_ASSERT(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
	int64_t delta_ms =
		(int64_t)(d.tv_sec - before.tv_sec) * 1000 + (d.tv_nsec - before.tv_nsec) / 1000000;
	TEST_ASSERT(delta_ms >= 1999 && delta_ms < 2100);
	time_deadline(&zero, CLOCK_REALTIME, -5); /* the past is now */
	TEST_ASSERT(zero.tv_nsec >= 0 && zero.tv_nsec < 1000000000L);
	TEST_ASSERT(zero.tv_sec >= time_now_ms() / 1000 - 1);
out:
	return err;
}

/* Credentials inside a URL never survive into what is logged. */
static int test_cfg_url_redact(void)
{
	int err = 0;
	static const struct { const char *in, *out;
	} cases[] = {
		{ "nats://127.0.0.1:4222", "nats://127.0.0.1:4222" },
		{ "nats://u:pw@127.0.0.1:4222", "nats://<redacted>@127.0.0.1:4222" },
		{ "tls://tok@a:1,nats://b:2,nats://x:y@c:3",
		  "tls://<redacted>@a:1,nats://b:2,nats://<redacted>@c:3" },
		{ "nats://u:p@ss@host:4222", "nats://<redacted>@host:4222" },
		{ "postgresql://me:secret@db/x?user=@", "postgresql://<redacted>@db/x?user=@" },
		{ "u:pw@host:4222", "<redacted>@host:4222" },
		{ "", "" },
	};
	char out[128];
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++)
		TEST_EQ_STR(cfg_url_redact(out, sizeof(out), cases[i].in), cases[i].out);
	/* truncated output still holds no part of the secret */
	char small[16];
	cfg_url_redact(small, sizeof(small), "nats://user:topsecret@host:4222");
	TEST_ASSERT(strstr(small, "topsecret") == NULL && strstr(small, "user") == NULL);
	TEST_EQ_STR(cfg_url_redact(out, sizeof(out), NULL), "");
out:
	return err;
}

static const struct test tests[] = {
	{ "cfg_defaults", test_cfg_defaults },
	{ "cfg_values", test_cfg_values },
	{ "cfg_errors_name_the_variable", test_cfg_errors_name_the_variable },
	{ "cfg_required", test_cfg_required },
	{ "cfg_url_redact", test_cfg_url_redact },
	{ "uuid", test_uuid },
	{ "time", test_time },
	{ "time_deadline", test_time_deadline },
	{ "status", test_status },
	{ "metrics", test_metrics },
};
TEST_MAIN(tests)
