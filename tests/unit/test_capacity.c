/* services/api-gateway/capacity.c: which workers are full, from their
 * owners.heartbeat; test_api's outbound_at_capacity checks the 503. */
#include "api-gateway/capacity.h"
#include "harness/test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int beat(struct capacity *c, const char *source, int ncalls, int max_calls, int64_t now)
{
	char json[4096];
	int n = snprintf(json, sizeof(json), "{\"v\":1,\"source\":\"%s\",\"calls\":[", source);
	for (int i = 0; i < ncalls; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n,
			      "%s\"00000000-0000-4000-8000-%012d\"", i ? "," : "", i);
	if (max_calls > 0)
		n += snprintf(json + n, sizeof(json) - (size_t)n, "],\"max_calls\":%d", max_calls);
	else
		n += snprintf(json + n, sizeof(json) - (size_t)n, "]");
	snprintf(json + n, sizeof(json) - (size_t)n, ",\"ts\":\"2026-12-03T10:00:00Z\"}");
	return capacity_heartbeat(c, json, strlen(json), now);
}

static int test_full_when_every_live_worker_is(void)
{
	int err = 0;
	long calls = 0, max = 0;
	struct capacity *c = NULL;
	TEST_EQ_INT(capacity_new(&c, NULL), 0);
	/* nothing heard: nothing is known to be full */
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 1000, &calls, &max));
	TEST_EQ_INT(beat(c, "sip-bridge/a", 2, 2, 1000), 0);
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1000, &calls, &max));
	TEST_EQ_INT(calls, 2);
	TEST_EQ_INT(max, 2);
	/* another kind is not counted, its own limit is its own */
	TEST_EQ_INT(beat(c, "twilio-dialer/a", 0, 5, 1000), 0);
	TEST_ASSERT(!capacity_full(c, "twilio-dialer", 1000, &calls, &max));
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1000, &calls, &max));
	/* a name that only starts like the kind is another kind */
	TEST_EQ_INT(beat(c, "sip-bridge-x/a", 0, 9, 1000), 0);
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1000, &calls, &max));
	/* a second bridge with room: calls are taken */
	TEST_EQ_INT(beat(c, "sip-bridge/b", 1, 3, 1500), 0);
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 1500, &calls, &max));
	TEST_EQ_INT(calls, 3);
	TEST_EQ_INT(max, 5);
	/* ... until it too is full */
	TEST_EQ_INT(beat(c, "sip-bridge/b", 3, 3, 2000), 0);
	TEST_ASSERT(capacity_full(c, "sip-bridge", 2000, &calls, &max));
	/* a call ended on a: its next heartbeat says so */
	TEST_EQ_INT(beat(c, "sip-bridge/a", 1, 2, 2500), 0);
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 2500, &calls, &max));
out:
	capacity_free(c);
	return err;
}

static int test_dead_and_unlimited_workers(void)
{
	int err = 0;
	long calls = 0, max = 0;
	struct capacity *c = NULL;
	TEST_EQ_INT(capacity_new(&c, NULL), 0);
	TEST_EQ_INT(beat(c, "sip-bridge/a", 1, 1, 1000), 0);
	TEST_EQ_INT(beat(c, "sip-bridge/b", 0, 1, 1000), 0);
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 1000, &calls, &max));
	/* b stops beating: past CAPACITY_LIVE_MS only a counts */
	TEST_EQ_INT(beat(c, "sip-bridge/a", 1, 1, 1000 + CAPACITY_LIVE_MS), 0);
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1001 + CAPACITY_LIVE_MS, &calls, &max));
	/* every worker gone: unknown, not full */
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 1001 + 2 * CAPACITY_LIVE_MS, &calls, &max));
	/* a worker that states no max_calls sets no limit */
	TEST_EQ_INT(beat(c, "sip-bridge/a", 1, 1, 50000), 0);
	TEST_EQ_INT(beat(c, "sip-bridge/c", 7, 0, 50000), 0);
	TEST_ASSERT(!capacity_full(c, "sip-bridge", 50000, &calls, &max));
out:
	capacity_free(c);
	return err;
}

static int test_malformed_heartbeats_change_nothing(void)
{
	int err = 0;
	long calls = 0, max = 0;
	struct capacity *c = NULL;
	static const char *const bad[] = {
		"", "{", "[]", "{\"v\":2,\"source\":\"sip-bridge/a\",\"calls\":[]}",
		"{\"v\":1,\"calls\":[]}", "{\"v\":1,\"source\":\"\",\"calls\":[]}",
		"{\"v\":1,\"source\":\"sip-bridge/a\"}",
		"{\"v\":1,\"source\":\"sip-bridge/a\",\"calls\":{}}",
		"{\"v\":1,\"source\":\"sip-bridge/a\",\"calls\":[],\"max_calls\":0}",
		"{\"v\":1,\"source\":\"sip-bridge/a\",\"calls\":[],\"max_calls\":\"3\"}",
		"{\"v\":1,\"source\":\"sip-bridge/a\",\"calls\":[],\"max_calls\":1e9}",
	};
	TEST_EQ_INT(capacity_new(&c, NULL), 0);
	TEST_EQ_INT(beat(c, "sip-bridge/a", 1, 1, 1000), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++)
		TEST_EQ_INT(capacity_heartbeat(c, bad[i], strlen(bad[i]), 1000), EINVAL);
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1000, &calls, &max));
	TEST_EQ_INT(calls, 1);
out:
	capacity_free(c);
	return err;
}

static int test_table_is_bounded(void)
{
	int err = 0;
	long calls = 0, max = 0;
	char src[64];
	struct capacity *c = NULL;
	TEST_EQ_INT(capacity_new(&c, NULL), 0);
	/* more workers than the table holds: the one heard from longest ago goes */
	for (int i = 0; i < CAPACITY_SOURCES_MAX + 10; i++) {
		snprintf(src, sizeof(src), "sip-bridge/w%d", i);
		TEST_EQ_INT(beat(c, src, 1, 1, 1000 + i), 0);
	}
	TEST_ASSERT(capacity_full(c, "sip-bridge", 1000 + CAPACITY_SOURCES_MAX + 10, &calls, &max));
	TEST_EQ_INT(calls, CAPACITY_SOURCES_MAX);
out:
	capacity_free(c);
	return err;
}

static const struct test tests[] = {
	{ "full_when_every_live_worker_is", test_full_when_every_live_worker_is },
	{ "dead_and_unlimited_workers", test_dead_and_unlimited_workers },
	{ "malformed_heartbeats_change_nothing", test_malformed_heartbeats_change_nothing },
	{ "table_is_bounded", test_table_is_bounded },
};
TEST_MAIN(tests)
