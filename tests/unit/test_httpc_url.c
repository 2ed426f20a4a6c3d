/* libs/httpc URLs (httpc_url_parse, httpc_url_public): what libcurl's URL
 * parser makes of the forms the services meet, and what is refused. */
#include "core/core.h"
#include "harness/test.h"
#include "httpc/httpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int test_parse_good(void)
{
	static const struct {
		const char *in, *scheme, *host;
		int port;
		bool userinfo;
		const char *path;
	} good[] = {
		{ "https://api.openai.com/v1", "https", "api.openai.com", 443, false, "/v1" },
		{ "http://h", "http", "h", 80, false, "/" },
		{ "ws://h:8080/x", "ws", "h", 8080, false, "/x" },
		/* ws/wss ports are ours: this libcurl may not know the schemes */
		{ "ws://h/rt", "ws", "h", 80, false, "/rt" },
		{ "wss://api.openai.com/v1/realtime", "wss", "api.openai.com", 443, false,
		  "/v1/realtime" },
		/* upper case scheme and host read as lower case; the path as written */
		{ "HTTPS://API.OpenAI.COM:443/V1/", "https", "api.openai.com", 443, false, "/V1/" },
		/* the host is what follows the last '@' before the path */
		{ "http://api.openai.com@evil.example/", "http", "evil.example", 80, true, "/" },
		{ "https://u:p@h:81/a?token=1#f", "https", "h", 81, true, "/a" },
		{ "https://:p@h/", "https", "h", 443, true, "/" },
		/* IPv6 literals lose their brackets */
		{ "http://[::1]:8080/x", "http", "::1", 8080, false, "/x" },
		{ "https://[2001:DB8::1]/", "https", "2001:db8::1", 443, false, "/" },
		{ "http://[::ffff:127.0.0.1]/", "http", "::ffff:127.0.0.1", 80, false, "/" },
		{ "http://[0:0::1]/", "http", "::1", 80, false, "/" },
		/* percent-escapes in the host are decoded, IPv4 shorthands written out */
		{ "http://%31%32%37.0.0.1/", "http", "127.0.0.1", 80, false, "/" },
		{ "http://ex%41mple.com/", "http", "example.com", 80, false, "/" },
		{ "http://127.1/", "http", "127.0.0.1", 80, false, "/" },
		{ "http://0x7f.0.0.1/", "http", "127.0.0.1", 80, false, "/" },
		{ "http://2130706433/", "http", "127.0.0.1", 80, false, "/" },
		/* a trailing dot stays: "h." and "h" may resolve apart (search domains) */
		{ "http://localhost./", "http", "localhost.", 80, false, "/" },
		/* query and fragment are not path */
		{ "http://h?q=1#f", "http", "h", 80, false, "/" },
		{ "http://h/p%20q?x#y", "http", "h", 80, false, "/p%20q" },
		/* libcurl is lenient with slashes, so is the check that follows it */
		{ "http:///x", "http", "x", 80, false, "/" },
		{ "http:/h/p", "http", "h", 80, false, "/p" },
		{ "http://h:65535", "http", "h", 65535, false, "/" },
	};
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(good); i++) {
		struct httpc_url u;
		memset(&u, 'x', sizeof(u));
		int rc = httpc_url_parse(&u, good[i].in);
		if (rc)
			fprintf(stdout, "    refused %s\n", good[i].in);
		TEST_EQ_INT(rc, 0);
		TEST_EQ_STR(u.scheme, good[i].scheme);
		TEST_EQ_STR(u.host, good[i].host);
		TEST_EQ_INT(u.port, good[i].port);
		TEST_EQ_INT(u.userinfo, good[i].userinfo);
		TEST_EQ_STR(u.path, good[i].path);
	}
out:
	return err;
}

static int test_parse_bad(void)
{
	char long_host[400], long_path[1200];
	snprintf(long_host, sizeof(long_host), "http://%0300d/", 0);
	memset(long_host + 7, 'a', 300);
	snprintf(long_path, sizeof(long_path), "http://h/%01100d", 0);
	const char *const bad[] = {
		/* no scheme: refused, never guessed */
		"api.openai.com/v1",
		"//api.openai.com/v1",
		"localhost:8080",
		/* other schemes */
		"ftp://h/",
		"gopher://h/",
		"file:///etc/passwd",
		"https+unix://h/",
		/* no host, bad ports, bad characters */
		"http://",
		"http://h:0/",
		"http://h:65536/",
		"http://h:x/",
		"http://h x/",
		"http://h/a b",
		"http://[::1/",
		/* an escape may not smuggle a delimiter into the host */
		"https://api.openai.com%40evil.example/",
		"http://a%2fb/",
		"http://a%00b/",
		/* a zone id names an interface of this machine */
		"https://[fe80::1%25eth0]/",
		"",
		NULL,
		long_host,
		long_path,
	};
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		struct httpc_url u = { .port = 7 };
		int rc = httpc_url_parse(&u, bad[i]);
		if (rc != EINVAL)
			fprintf(stdout, "    #%zu %.60s: %d\n", i, bad[i] ? bad[i] : "(null)", rc);
		TEST_EQ_INT(rc, EINVAL);
		TEST_EQ_INT(u.port, 7); /* untouched */
	}
out:
	return err;
}

static int test_public(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "http://hookuser:hook-pass-1@127.0.0.1:8080/hook?token=t#f",
		  "http://127.0.0.1:8080/hook" },
		{ "https://u@hooks.example.com/end?x=1", "https://hooks.example.com/end" },
		{ "http://api.openai.com@evil.example/", "http://evil.example/" },
		{ "https://h/a/b", "https://h/a/b" },
		{ "http://h", "http://h/" },
		{ "HTTP://H:80/P", "http://H:80/P" },
		{ "http://[::1]:9/x?y", "http://[::1]:9/x" },
		{ "http://u:p@h#frag", "http://h/" },
		/* any scheme libcurl parses: shown, not judged */
		{ "ftp://u:p@h/x", "ftp://h/x" },
	};
	int err = 0;
	char out[128];
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		TEST_EQ_INT(httpc_url_public(out, sizeof(out), cases[i].in), 0);
		TEST_EQ_STR(out, cases[i].out);
	}
	TEST_EQ_INT(httpc_url_public(out, sizeof(out), "user:pw@h/x"), EINVAL);
	TEST_EQ_STR(out, "");
	TEST_EQ_INT(httpc_url_public(out, sizeof(out), NULL), EINVAL);
	TEST_EQ_STR(out, "");
	TEST_EQ_INT(httpc_url_public(out, 10, "https://hooks.example.com/"), ENAMETOOLONG);
	TEST_EQ_STR(out, "");
out:
	return err;
}

static const struct test tests[] = {
	{ "parse_good", test_parse_good },
	{ "parse_bad", test_parse_bad },
	{ "public", test_public },
};
TEST_MAIN(tests)
