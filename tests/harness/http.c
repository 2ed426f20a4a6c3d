/* A minimal HTTP client for tests, over libcurl. */
#include "test.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct grow {
	char *buf;
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct grow *g = arg;
	size_t add = size * n;
	char *nb = realloc(g->buf, g->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + g->len, data, add);
	g->buf = nb;
	g->len += add;
	g->buf[g->len] = '\0';
	return add;
}

int test_http(long *statusp, char **bodyp, const char *method, const char *url,
	      const char *bearer, const char *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct grow g = { calloc(1, 1), 0 };
	char auth[512];
	int err = 0;
	if (!c || !g.buf) {
		err = ENOMEM;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
	if (bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (curl_easy_perform(c) != CURLE_OK) {
		err = EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, statusp);
out:
	if (!err && bodyp) {
		*bodyp = g.buf;
		g.buf = NULL;
	}
	free(g.buf);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	return err;
}

int test_http_wait(const char *url, long want_status, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		long status = 0;
		if (test_http(&status, NULL, "GET", url, NULL, NULL) == 0 && status == want_status)
			return 0;
		if (waited >= timeout_ms)
			return ETIMEDOUT;
		struct timespec nap = { 0, 50 * 1000000 };
		nanosleep(&nap, NULL);
	}
}
