/* libs/secret envelopes, libs/sip's credential rules and libs/egress's
 * destination policy: the pure parts of issue 13's findings 2, 6 and 10. */
#include "egress/egress.h"
#include "harness/test.h"
#include "secret/secret.h"
#include "sip/sip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_A "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* "0123456789abcdef" x2 */
#define KEY_B "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

static int test_seal_open_roundtrip(void)
{
	int err = 0;
	struct secret_keys *k = NULL;
	char why[160], *sealed = NULL, *again = NULL, *clear = NULL;
	bool stale = true;
	TEST_EQ_INT(secret_keys_load(&k, KEY_A, NULL, why, sizeof(why)), 0);
	TEST_EQ_INT(secret_seal(&sealed, k, "trunk:t1", "s3cret-Pa55", 11), 0);
	TEST_ASSERT(secret_is_sealed(sealed) && secret_is_current(k, sealed));
	TEST_ASSERT(strstr(sealed, "s3cret") == NULL);
	TEST_ASSERT(strpbrk(sealed, "\"\\<> \r\n") == NULL);
	TEST_EQ_INT(secret_open(&clear, &stale, k, "trunk:t1", sealed), 0);
	TEST_EQ_STR(clear, "s3cret-Pa55");
	TEST_ASSERT(!stale);
	/* a fresh nonce each time */
	TEST_EQ_INT(secret_seal(&again, k, "trunk:t1", "s3cret-Pa55", 11), 0);
	TEST_ASSERT(strcmp(again, sealed) != 0);
out:
	free(sealed);
	free(again);
	secret_wipe_free(clear);
	secret_keys_free(k);
	return err;
}

static int test_open_refuses_moved_and_tampered(void)
{
	int err = 0;
	struct secret_keys *k = NULL, *other = NULL;
	char why[160], *sealed = NULL, *clear = NULL;
	TEST_EQ_INT(secret_keys_load(&k, KEY_A, NULL, why, sizeof(why)), 0);
	TEST_EQ_INT(secret_keys_load(&other, KEY_B, NULL, why, sizeof(why)), 0);
	TEST_EQ_INT(secret_seal(&sealed, k, "call:c1", "pw", 2), 0);
	/* moved to another job or row */
	TEST_EQ_INT(secret_open(&clear, NULL, k, "call:c2", sealed), EBADMSG);
	TEST_EQ_INT(secret_open(&clear, NULL, k, "trunk:c1", sealed), EBADMSG);
	/* one bit of the ciphertext */
	size_t n = strlen(sealed);
	sealed[n - 6] = sealed[n - 6] == 'A' ? 'B' : 'A';
	TEST_EQ_INT(secret_open(&clear, NULL, k, "call:c1", sealed), EBADMSG);
	/* a key this process does not hold */
	free(sealed);
	sealed = NULL;
	TEST_EQ_INT(secret_seal(&sealed, other, "call:c1", "pw", 2), 0);
	TEST_EQ_INT(secret_open(&clear, NULL, k, "call:c1", sealed), ENOKEY);
	TEST_EQ_INT(secret_open(&clear, NULL, k, "call:c1", "pw"), EINVAL);
	TEST_EQ_INT(secret_open(&clear, NULL, k, "call:c1", "cms1.zz"), EINVAL);
	TEST_ASSERT(clear == NULL);
out:
	free(sealed);
	secret_keys_free(k);
	secret_keys_free(other);
	return err;
}

/* SECRETS_KEY_PREVIOUS opens what the old key sealed, and says so. */
static int test_rotation(void)
{
	int err = 0;
	struct secret_keys *old = NULL, *rotated = NULL;
	char why[160], *sealed = NULL, *clear = NULL;
	bool stale = false;
	TEST_EQ_INT(secret_keys_load(&old, KEY_A, NULL, why, sizeof(why)), 0);
	TEST_EQ_INT(secret_keys_load(&rotated, KEY_B, KEY_A, why, sizeof(why)), 0);
	TEST_EQ_INT(secret_seal(&sealed, old, "trunk:t", "pw", 2), 0);
	TEST_ASSERT(!secret_is_current(rotated, sealed));
	TEST_EQ_INT(secret_open(&clear, &stale, rotated, "trunk:t", sealed), 0);
	TEST_EQ_STR(clear, "pw");
	TEST_ASSERT(stale);
out:
	free(sealed);
	secret_wipe_free(clear);
	secret_keys_free(old);
	secret_keys_free(rotated);
	return err;
}

static int test_key_config_errors(void)
{
	int err = 0;
	struct secret_keys *k = NULL;
	char why[160] = "";
	TEST_EQ_INT(secret_keys_load(&k, "", NULL, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "SECRETS_KEY: required");
	TEST_EQ_INT(secret_keys_load(&k, "c2hvcnQ=", NULL, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "SECRETS_KEY: must be base64 of exactly 32");
	TEST_EQ_INT(secret_keys_load(&k, KEY_A, "not base64!", why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "SECRETS_KEY_PREVIOUS:");
	TEST_ASSERT(k == NULL);
out:
	secret_keys_free(k);
	return err;
}

static int test_credential_rules(void)
{
	int err = 0;
	char why[96], big[300];
	static const struct {
		enum sip_cred_field f;
		const char *v;
		const char *why; /* NULL: accepted */
	} cases[] = {
		{ SIP_CRED_USERNAME, "acct-01", NULL },
		{ SIP_CRED_USERNAME, "a:b", "':'" },
		{ SIP_CRED_USERNAME, "a b", "spaces" },
		{ SIP_CRED_USERNAME, "a\"b", "'\"'" },
		{ SIP_CRED_USERNAME, "a<b", "'<'" },
		{ SIP_CRED_USERNAME, "a>b", "'>'" },
		{ SIP_CRED_USERNAME, "a\r\nVia: x", "CR or LF" },
		{ SIP_CRED_USERNAME, "", "empty" },
		{ SIP_CRED_PASSWORD, "p@ss word:1", NULL },
		{ SIP_CRED_PASSWORD, "p\"w", "'\"'" },
		{ SIP_CRED_PASSWORD, "p\nw", "CR or LF" },
		{ SIP_CRED_PASSWORD, "p\x01w", "printable" },
		{ SIP_CRED_PASSWORD, "p\xc3\xa9", "printable" },
		{ SIP_CRED_HOST, "sip.exotel.test", NULL },
		{ SIP_CRED_HOST, "10.0.0.1", NULL },
		{ SIP_CRED_HOST, "[2001:db8::1]", NULL },
		{ SIP_CRED_HOST, "[nothex]", "IPv6" },
		{ SIP_CRED_HOST, "a..b", "valid host" },
		{ SIP_CRED_HOST, "evil.com>;x", "host name" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		int rc = sip_credentials_check(cases[i].f, cases[i].v, strlen(cases[i].v), why,
					       sizeof(why));
		if (!cases[i].why) {
			if (rc)
				fprintf(stdout, "    case %zu refused: %s\n", i, why);
			TEST_EQ_INT(rc, 0);
		} else {
			if (rc == 0)
				fprintf(stdout, "    case %zu accepted\n", i);
			TEST_EQ_INT(rc, EINVAL);
			TEST_CONTAINS(why, cases[i].why);
		}
	}
	memset(big, 'p', sizeof(big));
	TEST_EQ_INT(sip_credentials_check(SIP_CRED_PASSWORD, big, SIP_CRED_PASSWORD_MAX, why,
					  sizeof(why)),
		    0);
	TEST_EQ_INT(sip_credentials_check(SIP_CRED_PASSWORD, big, SIP_CRED_PASSWORD_MAX + 1, why,
					  sizeof(why)),
		    EINVAL);
	TEST_CONTAINS(why, "at most 128");
	/* a NUL inside the given length */
	TEST_EQ_INT(sip_credentials_check(SIP_CRED_USERNAME, "ab\0cd", 5, why, sizeof(why)),
		    EINVAL);
	TEST_CONTAINS(why, "NUL");
out:
	return err;
}

static bool refused4(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };
	inet_pton(AF_INET, a, &s.sin_addr);
	return egress_addr_refused((struct sockaddr *)&s);
}

static bool refused6(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, a, &s.sin6_addr);
	return egress_addr_refused((struct sockaddr *)&s);
}

static int test_egress_addresses(void)
{
	int err = 0;
	static const char *const bad4[] = { "0.0.0.0", "127.0.0.1", "127.5.6.7", "10.1.2.3",
					    "172.16.0.1", "172.31.255.255", "192.168.1.1",
					    "169.254.169.254", "100.64.0.1", "224.0.0.1",
					    "239.255.255.250", "255.255.255.255", "192.0.0.8",
					    "192.0.2.1", "198.18.0.1", "198.19.255.254",
					    "198.51.100.7", "203.0.113.9", "192.88.99.1" };
	static const char *const good4[] = { "8.8.8.8", "172.15.255.255", "172.32.0.1",
					     "192.169.0.1", "100.128.0.1", "1.1.1.1",
					     "198.17.255.255", "198.20.0.1", "192.0.3.1",
					     "203.0.114.1" };
	static const char *const bad6[] = {
		"::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1",
		"::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "2002:7f00:1::1", "2002:c0a8:101::",
		"64:ff9b:1::808:808", "2001:0:4136:e378::1", "2001:db8::1", "100::1", "fec0::1"
	};
	static const char *const good6[] = { "2001:4860:4860::8888", "2606:4700::1111",
					     "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
					     "2002:808:808::1", "2001:1::1", "100:0:0:1::1" };
	for (size_t i = 0; i < CM_ARRAY_LEN(bad4); i++)
		TEST_ASSERT(refused4(bad4[i]));
	for (size_t i = 0; i < CM_ARRAY_LEN(good4); i++)
		TEST_ASSERT(!refused4(good4[i]));
	for (size_t i = 0; i < CM_ARRAY_LEN(bad6); i++)
		TEST_ASSERT(refused6(bad6[i]));
	for (size_t i = 0; i < CM_ARRAY_LEN(good6); i++)
		TEST_ASSERT(!refused6(good6[i]));
out:
	return err;
}

static int test_egress_urls(void)
{
	int err = 0;
	char why[200];
	static const char *const bad[] = { "http://127.0.0.1:8080/hook",
					   "https://[::1]/x",
					   "http://169.254.169.254/latest/meta-data/",
					   "http://localhost/x",
					   "http://LOCALHOST:9/",
					   "http://a.localhost/",
					   "http://user:pw@10.0.0.5/x",
					   "http://127.1/x",
					   "http://2130706433/",
					   "http://0x7f.0.0.1/",
					   "https://[fe80::1]:443/",
					   /* read as libcurl reads them to connect */
					   "http://localhost./",
					   "http://%31%32%37.0.0.1/",
					   "HTTP://127.0.0.1/",
					   "http://api.openai.com@127.0.0.1/",
					   "ws://[::ffff:127.0.0.1]/" };
	static const char *const good[] = { "https://hooks.example.com/end", "http://8.8.8.8/x",
					    "https://[2001:4860:4860::8888]/x",
					    "https://api.openai.com/v1" };
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		int rc = egress_url_check(bad[i], false, why, sizeof(why));
		if (rc == 0)
			fprintf(stdout, "    accepted %s\n", bad[i]);
		TEST_EQ_INT(rc, EINVAL);
		TEST_CONTAINS(why, "OUTBOUND_ALLOW_PRIVATE");
		TEST_EQ_INT(egress_url_check(bad[i], true, why, sizeof(why)), 0);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(good); i++)
		TEST_EQ_INT(egress_url_check(good[i], false, why, sizeof(why)), 0);
	TEST_EQ_INT(egress_url_check("http://127.0.0.1/", false, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "127.0.0.1 is a loopback address");
	/* not an http(s)/ws(s) URL: refused whatever the policy */
	static const char *const not_url[] = { "127.0.0.1:8080", "//8.8.8.8/", "ftp://8.8.8.8/",
					       "https://[fe80::1%25eth0]/" };
	for (size_t i = 0; i < CM_ARRAY_LEN(not_url); i++) {
		TEST_EQ_INT(egress_url_check(not_url[i], true, why, sizeof(why)), EINVAL);
		TEST_CONTAINS(why, "is not an http, https, ws or wss URL");
	}
	/* names are checked once resolved */
	char addr[64];
	TEST_EQ_INT(egress_host_check("localhost", false, addr, sizeof(addr), why, sizeof(why)),
		    EINVAL);
	TEST_EQ_INT(egress_host_check("localhost", true, addr, sizeof(addr), why, sizeof(why)), 0);
out:
	return err;
}

static const struct test tests[] = {
	{ "seal_open_roundtrip", test_seal_open_roundtrip },
	{ "open_refuses_moved_and_tampered", test_open_refuses_moved_and_tampered },
	{ "rotation", test_rotation },
	{ "key_config_errors", test_key_config_errors },
	{ "credential_rules", test_credential_rules },
	{ "egress_addresses", test_egress_addresses },
	{ "egress_urls", test_egress_urls },
};
TEST_MAIN(tests)
