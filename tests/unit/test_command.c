/* libs/command's shared subjects and payloads: the hangup subject, the call
 * id a subject names, owners.heartbeat, and the upstream error. */
#include "command/command.h"
#include "harness/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ID "0b6e8c8e-3f2a-4d7e-9c1b-2a5f6d7e8f90"

static int test_hangup_subject(void)
{
	int err = 0;
	char buf[CMD_SUBJECT_MAX], small[20];
	TEST_EQ_INT(cmd_hangup_subject(buf, sizeof(buf), ID), 0);
	TEST_EQ_STR(buf, "cmd.calls." ID ".hangup");
	TEST_EQ_INT(cmd_hangup_subject(small, sizeof(small), ID), ENOSPC);
	TEST_EQ_INT(cmd_hangup_subject(buf, sizeof(buf), ""), EINVAL);
	TEST_EQ_INT(cmd_hangup_subject(buf, sizeof(buf), "a.b"), EINVAL);
	TEST_EQ_INT(cmd_hangup_subject(buf, sizeof(buf), "*"), EINVAL);
	TEST_EQ_INT(cmd_hangup_subject(buf, sizeof(buf), NULL), EINVAL);
out:
	return err;
}

static int test_subject_call_id(void)
{
	int err = 0;
	char id[ID_UUID_LEN + 1];
	TEST_EQ_INT(cmd_subject_call_id(id, sizeof(id), "cmd.calls." ID ".hangup"), 0);
	TEST_EQ_STR(id, ID);
	memset(id, 0, sizeof(id));
	TEST_EQ_INT(cmd_subject_call_id(id, sizeof(id), "calls." ID ".call_ended"), 0);
	TEST_EQ_STR(id, ID);
	static const char *const bad[] = {
		"calls." ID,
		"calls." ID ".",
		"cmd.calls.x.hangup",
		"rooms." ID ".hangup",
		"calls.0b6e8c8e.call_ended",
		"calls." ID "x.call_ended",
		"cmd.calls.0b6e8c8e-3f2a-4d7e-9c1b-2a5f6d7e8f9z.hangup",
		"",
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++)
		TEST_EQ_INT(cmd_subject_call_id(id, sizeof(id), bad[i]), EINVAL);
	TEST_EQ_INT(cmd_subject_call_id(id, ID_UUID_LEN, "calls." ID ".call_ended"), EINVAL);
out:
	return err;
}

static int test_heartbeat_json(void)
{
	int err = 0;
	const char *const ids[] = { ID, "11111111-2222-4333-8444-555555555555" };
	char *json = cmd_heartbeat_json("sip-bridge/host-1", ids, 2, 100);
	char *empty = cmd_heartbeat_json("twilio-dialer/x", NULL, 0, 0);
	cJSON *root = json ? cJSON_Parse(json) : NULL, *root0 = empty ? cJSON_Parse(empty) : NULL;
	TEST_ASSERT(root && root0);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(root, "v")->valuedouble, 1);
	TEST_EQ_STR(cmd_str(root, "source"), "sip-bridge/host-1");
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(root, "calls");
	TEST_EQ_INT(cJSON_GetArraySize(calls), 2);
	TEST_EQ_STR(cJSON_GetArrayItem(calls, 1)->valuestring, ids[1]);
	int64_t ts = 0;
	TEST_EQ_INT(time_parse_iso8601(&ts, cmd_str(root, "ts")), 0);
	TEST_ASSERT(llabs((long long)(ts - time_now_ms())) < 60000);
	/* field order as the services wrote it */
	TEST_ASSERT(strncmp(json, "{\"v\":1,\"source\":", 16) == 0);
	TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root0, "calls")), 0);
	TEST_EQ_INT(cmd_int(root, "max_calls", -1), 100);
	TEST_EQ_INT(cmd_int(root0, "max_calls", -1), -1);
out:
	cJSON_Delete(root);
	cJSON_Delete(root0);
	free(json);
	free(empty);
	return err;
}

static int test_error_upstream(void)
{
	int err = 0;
	struct cmd_error e;
	cmd_error_upstream(&e, "livekit", "CreateRoom", EIO, 400, "malformed", "bad field");
	TEST_EQ_STR(e.code, "upstream_error");
	TEST_EQ_STR(e.message, "livekit CreateRoom: malformed: bad field");
	TEST_ASSERT(e.has_upstream);
	TEST_EQ_INT(e.upstream.http_status, 400);
	TEST_EQ_STR(e.upstream.code, "malformed");
	TEST_EQ_STR(e.upstream.msg, "bad field");
	cmd_error_upstream(&e, "livekit", "DeleteRoom", ETIMEDOUT, 0, "", "");
	TEST_EQ_STR(e.message, "livekit DeleteRoom: timeout");
	TEST_EQ_STR(e.upstream.code, "");
out:
	return err;
}

static const struct test tests[] = {
	{ "hangup_subject", test_hangup_subject },
	{ "subject_call_id", test_subject_call_id },
	{ "heartbeat_json", test_heartbeat_json },
	{ "error_upstream", test_error_upstream },
};
TEST_MAIN(tests)
