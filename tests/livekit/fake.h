/*
 * The strict fake LiveKit server (tests/livekit/fake.mjs) from C tests:
 * start it on a free port, script failures, read what it received, verify
 * tokens with livekit-server-sdk. Header-only (static inline) so that any
 * test binary can include it without a change to the harness.
 *
 *   struct fake_lk lk;
 *   TEST_EQ_INT(fake_lk_start(&lk, "devkey", "devsecret", logdir), 0);
 *   ... LIVEKIT_URL=lk.url ...
 *   cJSON *reqs = fake_lk_requests(&lk, "CreateRoom");   // caller cJSON_Delete
 *   fake_lk_stop(&lk);
 */
#ifndef CALLMESH_TESTS_FAKE_LK_H
#define CALLMESH_TESTS_FAKE_LK_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "harness/test.h"

struct fake_lk {
	int pid;
	int port;
	char url[64]; /* http://<host>:<port> */
	char ws[64];  /* ws://<host>:<port>, what RTC clients are given */
};

struct fake_lk_opts {
	const char *key, *secret;
	const char *logdir;      /* fake-livekit.log goes there */
	const char *host;        /* NULL: $CALLMESH_NETNS_ADDR inside a test namespace
				  * (WebRTC media needs a non-loopback address), else 127.0.0.1 */
	const char *webhook_url; /* NULL: no webhooks */
};

static inline int fake_lk_start_opts(struct fake_lk *f, const struct fake_lk_opts *o)
{
	char port[16], log[512], health[96];
	const char *host = o->host ? o->host : getenv("CALLMESH_NETNS_ADDR");
	if (!host || !*host)
		host = "127.0.0.1";
	memset(f, 0, sizeof(*f));
	f->port = test_free_port();
	if (f->port < 0)
		return EIO;
	snprintf(port, sizeof(port), "%d", f->port);
	snprintf(f->url, sizeof(f->url), "http://%s:%d", host, f->port);
	snprintf(f->ws, sizeof(f->ws), "ws://%s:%d", host, f->port);
	snprintf(log, sizeof(log), "%s/fake-livekit.log", o->logdir);
	const char *argv[] = { "node", "tests/livekit/fake.mjs", "--port", port, "--host", host,
			       "--key", o->key, "--secret", o->secret,
			       o->webhook_url ? "--webhook-url" : NULL, o->webhook_url, NULL };
	int err = test_spawn(&f->pid, argv, NULL, log);
	if (err)
		return err;
	snprintf(health, sizeof(health), "%s/__health", f->url);
	err = test_http_wait(health, 200, 20000);
	if (err) {
		test_kill(f->pid);
		f->pid = 0;
	}
	return err;
}

static inline int fake_lk_start(struct fake_lk *f, const char *key, const char *secret,
				const char *logdir)
{
	const struct fake_lk_opts o = { .key = key, .secret = secret, .logdir = logdir,
					.host = "127.0.0.1" };
	return fake_lk_start_opts(f, &o);
}

/* GET a test hook (/__sip/heard?…, /__webhooks …) as JSON; caller cJSON_Delete. */
static inline cJSON *fake_lk_get(struct fake_lk *f, const char *path)
{
	char url[512], *body = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "%s%s", f->url, path);
	cJSON *j = NULL;
	if (test_http(&status, &body, "GET", url, NULL, NULL) == 0 && status == 200)
		j = cJSON_Parse(body);
	free(body);
	return j;
}

static inline void fake_lk_stop(struct fake_lk *f)
{
	if (f->pid > 0) {
		int code = 0;
		kill(f->pid, SIGTERM);
		if (test_wait_exit(f->pid, 5000, &code))
			test_kill(f->pid);
		f->pid = 0;
	}
}

/* POST a test hook (/__script, /__reset, /__verify …); *bodyp may be NULL. */
static inline int fake_lk_post(struct fake_lk *f, const char *hook, const char *json,
			       long *statusp, char **bodyp)
{
	char url[128];
	long status = 0;
	snprintf(url, sizeof(url), "%s%s", f->url, hook);
	int err = test_http(&status, bodyp, "POST", url, NULL, json);
	if (statusp)
		*statusp = status;
	return err ? err : (statusp || status == 200) ? 0 : EIO;
}

/* The next call(s) of `method` fail with a Twirp error / are delayed, e.g.
 * fake_lk_script(f, "{\"method\":\"CreateRoom\",\"error\":{\"code\":\"internal\",\"msg\":\"x\"}}").
 * */
static inline int fake_lk_script(struct fake_lk *f, const char *json)
{
	return fake_lk_post(f, "/__script", json, NULL, NULL);
}

/* The Twirp requests received so far whose method is `method` (NULL: all),
 * as a JSON array of {seq, service, method, status, claims, body, raw}.
 * NULL on failure; caller cJSON_Delete. */
static inline cJSON *fake_lk_requests(struct fake_lk *f, const char *method)
{
	char url[128], *body = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "%s/__requests", f->url);
	if (test_http(&status, &body, "GET", url, NULL, NULL) || status != 200) {
		free(body);
		return NULL;
	}
	cJSON *all = cJSON_Parse(body);
	free(body);
	if (!cJSON_IsArray(all) || !method)
		return all;
	cJSON *out = cJSON_CreateArray();
	const cJSON *r;
	cJSON_ArrayForEach(r, all) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
		if (cJSON_IsString(m) && strcmp(m->valuestring, method) == 0)
			cJSON_AddItemToArray(out, cJSON_Duplicate(r, true));
	}
	cJSON_Delete(all);
	return out;
}

/* Polls until `method` was received at least `n` times (bounded by
 * timeout_ms); returns the last such request (caller cJSON_Delete) or NULL. */
static inline cJSON *fake_lk_wait_request(struct fake_lk *f, const char *method, int n,
					  int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 25) {
		cJSON *reqs = fake_lk_requests(f, method);
		int have = cJSON_GetArraySize(reqs);
		if (have >= n) {
			cJSON *last = cJSON_DetachItemFromArray(reqs, have - 1);
			cJSON_Delete(reqs);
			return last;
		}
		cJSON_Delete(reqs);
		struct timespec nap = { 0, 25 * 1000000 };
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/* Verifies a token with livekit-server-sdk's TokenVerifier (inside the fake,
 * with its key and secret); *claimsp = the claims. 0 or EACCES. */
static inline int fake_lk_verify(struct fake_lk *f, const char *token, cJSON **claimsp)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "token", token);
	char *json = cJSON_PrintUnformatted(req), *body = NULL;
	long status = 0;
	cJSON_Delete(req);
	int err = fake_lk_post(f, "/__verify", json, &status, &body);
	free(json);
	if (!err && status != 200)
		err = EACCES;
	if (!err && claimsp)
		*claimsp = cJSON_Parse(body);
	free(body);
	return err;
}

/* Item helpers for JSON read back from the fake. */
static inline const cJSON *fake_lk_at(const cJSON *o, const char *path)
{
	char part[64];
	const char *p = path;
	while (o && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, (int)strtol(part, NULL, 10))
				     : cJSON_GetObjectItemCaseSensitive(o, part);
		p += n;
		if (*p == '.')
			p++;
	}
	return o;
}

static inline const char *fake_lk_str(const cJSON *o, const char *path)
{
	const cJSON *v = fake_lk_at(o, path);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double fake_lk_num(const cJSON *o, const char *path)
{
	const cJSON *v = fake_lk_at(o, path);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static inline int fake_lk_true(const cJSON *o, const char *path)
{
	return cJSON_IsTrue(fake_lk_at(o, path));
}

#endif
