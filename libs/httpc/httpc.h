/*
 * httpc — the one HTTP client: libcurl wrapped once, one blocking request
 * per call (any thread; each call has its own easy handle). curl_global_init
 * runs once per process inside (pthread_once); callers never call curl.
 *
 * Redirects are not followed; only http and https are spoken (unless
 * `protocols` says otherwise); signals are never used (CURLOPT_NOSIGNAL).
 */
#ifndef CALLMESH_HTTPC_H
#define CALLMESH_HTTPC_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTPC_RESPONSE_MAX_DEFAULT ((size_t)1 << 20) /* max_response 0 means this */

/* One part of a multipart/form-data body (all borrowed). */
struct httpc_part {
	const char *name;
	const char *filename; /* NULL: a plain field */
	const char *type;     /* content type, NULL: none */
	const void *data;
	size_t len;
};

/* Streaming reader: called with each piece of the response body as it
 * arrives (borrowed for the call). Return false to stop the transfer:
 * httpc_do then returns ECANCELED. */
typedef bool (httpc_body_h)(const char *data, size_t len, void *arg);

struct httpc_req {
	const char *method;            /* "GET", "POST", … (NULL: GET, or POST with a body) */
	const char *url;
	const char *const *headers;    /* NULL-terminated "Name: value" lines, may be NULL */
	const char *body;              /* borrowed; body_len bytes */
	size_t body_len;
	long timeout_ms;               /* whole request; must be > 0 */
	size_t max_response; /* bytes; larger → EMSGSIZE (0: HTTPC_RESPONSE_MAX_DEFAULT) */
	/* optional egress check per resolved address (libs/egress: egress_allow) */
	bool (*allow)(const struct sockaddr *sa, void *arg);
	void *allow_arg;
	/* ---- optional additions ---- */
	long connect_timeout_ms;       /* 0: timeout_ms */
	const char *user_agent;        /* NULL: no User-Agent header */
	const char *protocols;         /* NULL: "http,https" */
	const struct httpc_part *parts; /* multipart/form-data body instead of `body` */
	size_t nparts;
	httpc_body_h *on_body;         /* streaming: the body goes here, not into resp->body */
	void *body_arg;                /* (max_response still caps the total) */
	bool (*cancelled)(void *arg);  /* polled while the transfer runs; true → ECANCELED */
	void *cancel_arg;
};

/* body NUL-terminated (NULL when empty or streamed), caller frees with httpc_resp_fini */
struct httpc_resp {
	long status;
	char *body;
	size_t len;
};

/* 0 when an HTTP answer arrived (any status: resp->status says which).
 * Otherwise ETIMEDOUT; ECONNREFUSED (nothing was sent: connection refused
 * or the name did not resolve); EMSGSIZE (answer larger than max_response);
 * EACCES (allow refused every address); ECANCELED (cancelled or on_body
 * stopped); ENOMEM; EINVAL (bad request fields); EIO (any other transport
 * failure: the request may have reached the server). err/errlen (may be
 * NULL/0) get a sentence naming the cause (libcurl's detailed message for
 * transport failures; the URL is the caller's to add); resp is always
 * initialised. */
int httpc_do(struct httpc_resp *resp, const struct httpc_req *req, char *err,
	     size_t errlen) CM_MUST_USE;
/* NULL-safe; frees the body and zeroes *resp. */
void httpc_resp_fini(struct httpc_resp *resp);

/* ---- URLs, read as libcurl reads them to connect (curl_url(); the scheme
 * is never guessed: "api.openai.com/v1" is refused, not taken for http) ---- */

/* An http, https, ws or wss URL's parts. */
struct httpc_url {
	char scheme[8];  /* lower case: "http", "https", "ws" or "wss" */
	char host[256];  /* lower case, percent-escapes decoded, IPv4 shorthands
			  * normalised (127.1 → 127.0.0.1), an IPv6 literal
			  * without its brackets ("::1"), a trailing dot kept */
	int port;        /* 1..65535: the URL's, else the scheme's (ws 80, wss 443) */
	bool userinfo;   /* the URL names a user or a password ("http://u@h/") */
	char path[1024]; /* as written (still percent-encoded), "/" at least;
			  * no query, no fragment */
};

/* 0 with *u filled; EINVAL (*u untouched) when url is NULL, is not a URL
 * libcurl accepts, has another scheme, no host, port 0, an IPv6 zone id
 * ("[fe80::1%25eth0]"), or a host or path longer than its field; ENOMEM. */
int httpc_url_parse(struct httpc_url *u, const char *url) CM_MUST_USE;

/* url without its user name, password, query and fragment, as libcurl
 * writes it back (scheme and IPv4 shorthands normalised, "/" for an empty
 * path), NUL-terminated in out: for logs and events that must not carry
 * credentials. Any scheme libcurl parses. EINVAL (out "") when url is not
 * a URL; ENAMETOOLONG (out "") when it does not fit in len bytes; ENOMEM. */
int httpc_url_public(char *out, size_t len, const char *url) CM_MUST_USE;

#endif
