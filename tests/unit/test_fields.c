/* libs/command/fields.c: the one validator, as the API's request bodies
 * (cmd_check_object: sentences, paths, unknown keys) and command payloads
 * (cmd_parse: "name: …" messages, unknown keys and null pass) use it. */
#include "command/command.h"
#include "harness/test.h"

#include <errno.h>
#include <string.h>

static const struct cmd_rule inner_rules[] = {
	{ "max_reprompts", CMD_INT, false, 0, 10, false, NULL, NULL },
	{ 0 },
};

static const struct cmd_rule body_rules[] = {
	{ "name", CMD_STR, true, 1, 8, false, NULL, NULL },
	{ "mode", CMD_ENUM, false, 0, 0, false, "pipeline|realtime", NULL },
	{ "to", CMD_E164, false, 0, 0, false, NULL, NULL },
	{ "url", CMD_URL, false, 0, 64, true, NULL, NULL },
	{ "config", CMD_OBJ, false, 0, 0, false, NULL, inner_rules },
	{ "meta", CMD_OBJ, false, 0, 2, true, NULL, NULL },
	{ "numbers", CMD_E164_LIST, false, 1, 3, false, NULL, NULL },
	{ 0 },
};

/* cmd_check_object on `json`: 0, or the error's code, field and message. */
static int body(const char *json, struct cmd_field_error *e)
{
	cJSON *o = cJSON_Parse(json);
	memset(e, 0, sizeof(*e));
	int rc = o ? cmd_check_object(o, body_rules, false, NULL, e) : -1;
	cJSON_Delete(o);
	return rc;
}

static int test_body_accepts(void)
{
	int err = 0;
	struct cmd_field_error e;
	TEST_EQ_INT(body("{\"name\":\"a\",\"mode\":\"realtime\",\"to\":\"+918044319240\","
			 "\"url\":null,\"config\":{\"max_reprompts\":3},\"meta\":{\"k\":1},"
			 "\"numbers\":[\"+15550100000\",\"+15550100001\"]}", &e), 0);
out:
	return err;
}

static int test_body_refuses(void)
{
	int err = 0;
	struct cmd_field_error e;
	TEST_EQ_INT(body("{}", &e), EINVAL);
	TEST_EQ_STR(e.code, "missing_field");
	TEST_EQ_STR(e.field, "name");
	TEST_EQ_STR(e.message, "name is required.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"nmae\":1,\"x\":2}", &e), EINVAL);
	TEST_EQ_STR(e.code, "unknown_field");
	TEST_EQ_STR(e.message, "Unknown field(s) nmae, x: remove them or check the spelling.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"name\":\"b\"}", &e), EINVAL);
	TEST_EQ_STR(e.message, "name is given twice; give it once.");
	TEST_EQ_INT(body("{\"name\":\"toolongname\"}", &e), EINVAL);
	TEST_EQ_STR(e.message, "name must be 1 to 8 bytes long.");
	TEST_EQ_INT(body("{\"name\":\"a\\u0001\"}", &e), EINVAL);
	TEST_EQ_STR(e.message, "name must be UTF-8 text without control characters.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"mode\":\"x\"}", &e), EINVAL);
	TEST_EQ_STR(e.message, "mode must be one of pipeline|realtime.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"to\":\"+0123\"}", &e), EINVAL);
	TEST_EQ_STR(e.message, "to must be an E.164 number, like +918044319240.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"mode\":null}", &e), EINVAL);
	TEST_EQ_STR(e.code, "invalid_field");
	TEST_EQ_STR(e.message, "mode may not be null.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"config\":{\"max_reprompts\":11}}", &e), EINVAL);
	TEST_EQ_STR(e.field, "config.max_reprompts");
	TEST_EQ_STR(e.message, "config.max_reprompts must be an integer from 0 to 10.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"meta\":{\"a\":1,\"b\":2,\"c\":3}}", &e), EINVAL);
	TEST_EQ_STR(e.message, "meta may have at most 2 keys.");
	TEST_EQ_INT(body("{\"name\":\"a\",\"numbers\":[\"+15550100000\",\"+15550100000\"]}", &e),
		    EINVAL);
	TEST_EQ_STR(e.field, "numbers[1]");
	TEST_EQ_STR(e.message,
		    "numbers[1] repeats +15550100000, which is listed already; list each once.");
	TEST_EQ_INT(body("[]", &e), EINVAL);
	TEST_EQ_STR(e.code, "invalid_json");
out:
	return err;
}

static int test_body_no_nul(void)
{
	int err = 0;
	struct cmd_field_error e;
	const char json[] = "{\"a\":{\"to\":\"+9198\\u0000@x\"}}";
	TEST_EQ_INT(cmd_check_no_nul(json, sizeof(json) - 1, &e), EINVAL);
	TEST_EQ_STR(e.field, "a.to");
	TEST_EQ_INT(cmd_check_no_nul("{\"a\":1}", 7, &e), 0);
out:
	return err;
}

static const struct cmd_field payload_fields[] = {
	{ "call_id", CMD_UUID, true, 0, 0 },
	{ "room", CMD_NAME, false, 1, 16 },
	{ "name", CMD_STR, false, 0, 4 },
	{ "ttl_s", CMD_INT, false, 60, 600 },
	{ "flag", CMD_BOOL, false, 0, 0 },
	{ "meta", CMD_OBJ, false, 0, 0 },
	{ "numbers", CMD_E164_LIST, false, 1, 2 },
	{ 0 },
};

#define ID "\"call_id\":\"3f2c7d9e-1b4a-4c8e-9f3d-2a6b5c4d3e21\""

/* cmd_parse on `json`: 0, or the error's field and message in *e. */
static int payload(const char *json, struct cmd_error *e)
{
	cJSON *root = NULL;
	memset(e, 0, sizeof(*e));
	int rc = cmd_parse(&root, json, strlen(json), payload_fields, e);
	cJSON_Delete(root);
	return rc;
}

static int test_payload(void)
{
	int err = 0;
	struct cmd_error e;
	/* unknown keys and null pass; strings are not checked as text */
	TEST_EQ_INT(payload("{\"v\":1," ID ",\"extra\":1,\"name\":null,\"meta\":{\"a\":[]}}", &e),
		    0);
	TEST_EQ_INT(payload("{\"v\":1," ID ",\"name\":\"a\\u0001\"}", &e), 0);
	TEST_EQ_INT(payload("{\"v\":1," ID ",\"numbers\":[\"+15550100000\",\"+15550100000\"]}", &e),
		    0);
	static const struct {
		const char *json, *field, *message;
	} bad[] = {
		{ "{\"v\":2}", "v", "v: must be 1" },
		{ "{\"v\":1}", "call_id", "call_id: required" },
		{ "{\"v\":1,\"call_id\":\"x\"}", "call_id", "call_id: must be a UUID" },
		{ "{\"v\":1," ID ",\"room\":\"a b\"}", "room",
		  "room: must be 1..16 printable ASCII characters without spaces" },
		{ "{\"v\":1," ID ",\"name\":\"abcde\"}", "name",
		  "name: must be a string of 0..4 bytes" },
		{ "{\"v\":1," ID ",\"name\":7}", "name", "name: must be a string of 0..4 bytes" },
		{ "{\"v\":1," ID ",\"ttl_s\":1}", "ttl_s", "ttl_s: must be an integer 60..600" },
		{ "{\"v\":1," ID ",\"flag\":1}", "flag", "flag: must be true or false" },
		{ "{\"v\":1," ID ",\"meta\":[]}", "meta", "meta: must be an object" },
		{ "{\"v\":1," ID ",\"numbers\":[]}", "numbers", "numbers: 1..2 E.164 numbers" },
		{ "{\"v\":1," ID ",\"numbers\":[\"+15550100000\",\"5550100\"]}", "numbers",
		  "numbers[1]: not an E.164 number" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		TEST_EQ_INT(payload(bad[i].json, &e), EINVAL);
		TEST_EQ_STR(e.code, "invalid_field");
		TEST_EQ_STR(e.field, bad[i].field);
		TEST_EQ_STR(e.message, bad[i].message);
	}
out:
	return err;
}

static const struct test tests[] = {
	{ "body_accepts", test_body_accepts },
	{ "body_refuses", test_body_refuses },
	{ "body_no_nul", test_body_no_nul },
	{ "payload", test_payload },
};
TEST_MAIN(tests)
