/* httpc URLs over libcurl's URL API (httpc.h): every check reads a URL the
 * way libcurl reads it when it connects. */
#include "httpc/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CURLU_NON_SUPPORT_SCHEME: this libcurl may not speak ws/wss (built
 * without WebSocket support) yet must still parse those URLs; the scheme is
 * checked against our own table. No CURLU_GUESS_SCHEME, ever. */
#define PARSE_FLAGS CURLU_NON_SUPPORT_SCHEME

static const struct {
	const char *scheme;
	int port;
} schemes[] = {
	{ "http", 80 },
	{ "https", 443 },
	{ "ws", 80 },
	{ "wss", 443 },
};

static int curl_err(CURLUcode rc)
{
	return rc == CURLUE_OUT_OF_MEMORY ? ENOMEM : EINVAL;
}

/* Copies one part into out (len bytes); EINVAL when it does not fit. */
static int get_part(CURLU *h, CURLUPart what, char *out, size_t len)
{
	char *s = NULL;
	CURLUcode rc = curl_url_get(h, what, &s, 0);
	int err = rc ? curl_err(rc) : 0;
	if (!err && (size_t)snprintf(out, len, "%s", s) >= len)
		err = EINVAL;
	curl_free(s);
	return err;
}

static bool has_part(CURLU *h, CURLUPart what)
{
	char *s = NULL;
	bool yes = curl_url_get(h, what, &s, 0) == CURLUE_OK;
	curl_free(s);
	return yes;
}

int httpc_url_parse(struct httpc_url *u, const char *url)
{
	struct httpc_url out = { .port = 0 };
	CURLU *h = curl_url();
	int err = 0;

	if (!h)
		return ENOMEM;
	if (!url) {
		err = EINVAL;
		goto out;
	}
	CURLUcode rc = curl_url_set(h, CURLUPART_URL, url, PARSE_FLAGS);
	if (rc) {
		err = curl_err(rc);
		goto out;
	}
	if ((err = get_part(h, CURLUPART_SCHEME, out.scheme, sizeof(out.scheme))) ||
	    (err = get_part(h, CURLUPART_HOST, out.host, sizeof(out.host))) ||
	    (err = get_part(h, CURLUPART_PATH, out.path, sizeof(out.path))))
		goto out;
	size_t i = 0;
	while (i < CM_ARRAY_LEN(schemes) && strcmp(out.scheme, schemes[i].scheme) != 0)
		i++;
	if (i == CM_ARRAY_LEN(schemes) || !out.host[0] || has_part(h, CURLUPART_ZONEID)) {
		err = EINVAL;
		goto out;
	}
	/* libcurl keeps an IPv6 literal's brackets and a name's case */
	size_t n = strlen(out.host);
	if (out.host[0] == '[' && n > 2 && out.host[n - 1] == ']') {
		memmove(out.host, out.host + 1, n - 2);
		out.host[n - 2] = '\0';
	}
	for (char *p = out.host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	/* the URL's own port; none: the scheme's (libcurl's table lacks ws/wss
	 * when it was built without WebSocket support) */
	char *port = NULL;
	rc = curl_url_get(h, CURLUPART_PORT, &port, 0);
	out.port = rc == CURLUE_OK ? (int)strtol(port, NULL, 10) : schemes[i].port;
	curl_free(port);
	if (rc && rc != CURLUE_NO_PORT) {
		err = curl_err(rc);
		goto out;
	}
	if (out.port < 1 || out.port > 65535) {
		err = EINVAL;
		goto out;
	}
	out.userinfo = has_part(h, CURLUPART_USER) || has_part(h, CURLUPART_PASSWORD);
	*u = out;
out:
	curl_url_cleanup(h);
	return err;
}

int httpc_url_public(char *out, size_t len, const char *url)
{
	static const CURLUPart drop[] = { CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS,
					  CURLUPART_QUERY, CURLUPART_FRAGMENT };
	CURLU *h = curl_url();
	char *s = NULL;
	int err = 0;

	if (len)
		out[0] = '\0';
	if (!h)
		return ENOMEM;
	CURLUcode rc = url ? curl_url_set(h, CURLUPART_URL, url, PARSE_FLAGS)
			   : CURLUE_MALFORMED_INPUT;
	for (size_t i = 0; !rc && i < CM_ARRAY_LEN(drop); i++)
		rc = curl_url_set(h, drop[i], NULL, 0);
	if (!rc)
		rc = curl_url_get(h, CURLUPART_URL, &s, 0);
	if (rc)
		err = curl_err(rc);
	else if ((size_t)snprintf(out, len, "%s", s) >= len)
		err = ENAMETOOLONG;
	if (err && len)
		out[0] = '\0';
	curl_free(s);
	curl_url_cleanup(h);
	return err;
}
