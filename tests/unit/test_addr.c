/* libs/core addr_parse and e164_valid: the accepted forms and the edges. */
#include "core/core.h"
#include "harness/test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int test_addr_good(void)
{
	static const struct {
		const char *in;
		uint16_t def;
		const char *host;
		uint16_t port;
	} good[] = {
		{ "127.0.0.1:8080", 0, "127.0.0.1", 8080 },
		{ "localhost:1", 0, "localhost", 1 },
		{ "nats.example.com:65535", 0, "nats.example.com", 65535 },
		{ "0.0.0.0:4222", 0, "0.0.0.0", 4222 },
		{ "example.org", 443, "example.org", 443 },
		{ "[::1]:5060", 0, "::1", 5060 },
		{ "[::1]", 5060, "::1", 5060 },
		{ "[2001:db8::1]:443", 80, "2001:db8::1", 443 },
		{ "[::ffff:10.0.0.1]:7", 0, "::ffff:10.0.0.1", 7 },
		{ "host:00080", 0, "host", 80 },
	};
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(good); i++) {
		struct hostport hp = { "x", 9 };
		int rc = addr_parse(&hp, good[i].in, good[i].def);
		if (rc)
			fprintf(stdout, "    refused %s\n", good[i].in);
		TEST_EQ_INT(rc, 0);
		TEST_EQ_STR(hp.host, good[i].host);
		TEST_EQ_INT(hp.port, good[i].port);
	}
out:
	return err;
}

static int test_addr_bad(void)
{
	char longname[300];
	memset(longname, 'a', 256);
	memcpy(longname + 256, ":80", 4);
	const char *bad[] = {
		"",              ":80",            "host:",         "host:0",
		"host:65536",    "host:99999999",  "host:-1",       "host:+80",
		"host:80x",      "host: 80",       "ho st:80",      "host:80:90",
		"::1",           "::1:80",         "[::1",          "[::1]80",
		"[::1]:",        "[::1]:0",        "[]:80",         "[nothex]:80",
		"[127.0.0.1]:80", "user@host:80",  "host/path:80",  "http://host:80",
		"host\n:80",     longname,         "example.org",   "[::1]",
	};
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		struct hostport hp = { "keep", 9 };
		/* the last two have no port and none by default */
		int rc = addr_parse(&hp, bad[i], 0);
		if (rc != EINVAL)
			fprintf(stdout, "    accepted \"%s\"\n", bad[i]);
		TEST_EQ_INT(rc, EINVAL);
		TEST_EQ_STR(hp.host, "keep"); /* untouched on error */
		TEST_EQ_INT(hp.port, 9);
	}
	struct hostport hp;
	TEST_EQ_INT(addr_parse(&hp, NULL, 80), EINVAL);
	TEST_EQ_INT(addr_parse(NULL, "h:1", 80), EINVAL);
	/* a 255-byte name fits, 256 does not */
	memset(longname, 'a', 255);
	memcpy(longname + 255, ":80", 4);
	TEST_EQ_INT(addr_parse(&hp, longname, 0), 0);
	TEST_EQ_INT(strlen(hp.host), 255);
out:
	return err;
}

static int test_e164(void)
{
	static const char *const good[] = {
		"+14155550100", "+4930123456", "+1234567", "+123456789012345", "+919876543210",
	};
	static const char *const bad[] = {
		"",
		"+",
		"14155550100",
		"+0123456789",
		"+123456",
		"+1234567890123456",
		"+1415555010a",
		"+1 415555010",
		"++14155550100",
		"+1-4155550100",
	};
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(good); i++) {
		if (!e164_valid(good[i]))
			fprintf(stdout, "    refused %s\n", good[i]);
		TEST_ASSERT(e164_valid(good[i]));
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		if (e164_valid(bad[i]))
			fprintf(stdout, "    accepted %s\n", bad[i]);
		TEST_ASSERT(!e164_valid(bad[i]));
	}
	TEST_ASSERT(!e164_valid(NULL));
	TEST_EQ_INT(strlen("+123456789012345"), E164_MAX);
out:
	return err;
}

static int test_addr_listen(void)
{
	int err = 0;
	struct hostport hp = { "keep", 9 };
	TEST_EQ_INT(addr_parse_listen(&hp, "127.0.0.1:0"), 0);
	TEST_EQ_STR(hp.host, "127.0.0.1");
	TEST_EQ_INT(hp.port, 0);
	TEST_EQ_INT(addr_parse_listen(&hp, "[::]:5060"), 0);
	TEST_EQ_STR(hp.host, "::");
	TEST_EQ_INT(hp.port, 5060);
	TEST_EQ_INT(addr_parse_listen(&hp, "0.0.0.0:65535"), 0);
	TEST_EQ_INT(hp.port, 65535);
	/* a listener names its port, even 0 */
	TEST_EQ_INT(addr_parse_listen(&hp, "127.0.0.1"), EINVAL);
	TEST_EQ_INT(addr_parse_listen(&hp, "127.0.0.1:"), EINVAL);
	TEST_EQ_INT(addr_parse_listen(&hp, "127.0.0.1:65536"), EINVAL);
	TEST_EQ_INT(addr_parse(&hp, "127.0.0.1:0", 80), EINVAL);
out:
	return err;
}

static const struct test tests[] = {
	{ "addr_listen", test_addr_listen },
	{ "addr_good", test_addr_good },
	{ "addr_bad", test_addr_bad },
	{ "e164", test_e164 },
};
TEST_MAIN(tests)
