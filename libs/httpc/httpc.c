/* httpc over libcurl's easy interface. */
#include "httpc/httpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What one transfer collects; the callbacks see it. */
struct xfer {
	const struct httpc_req *req;
	size_t max;
	char *buf;
	size_t len, cap;
	size_t seen;      /* body bytes, collected or streamed */
	bool too_big, stopped, no_mem, refused, cancelled;
	char refused_addr[INET6_ADDRSTRLEN];
};

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t add = size * n;
	if (x->seen + add > x->max) {
		x->too_big = true;
		return 0;
	}
	x->seen += add;
	if (x->req->on_body) {
		if (!x->req->on_body(data, add, x->req->body_arg)) {
			x->stopped = true;
			return 0;
		}
		return add;
	}
	if (x->len + add + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		while (cap < x->len + add + 1)
			cap *= 2;
		char *nb = realloc(x->buf, cap);
		if (!nb) {
			x->no_mem = true;
			return 0;
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, add);
	x->len += add;
	x->buf[x->len] = '\0';
	return add;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct xfer *x = arg;
	if (x->req->cancelled(x->req->cancel_arg)) {
		x->cancelled = true;
		return 1;
	}
	return 0;
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = arg;
	(void)purpose;
	if (!x->req->allow(&a->addr, x->req->allow_arg)) {
		const void *src =
			a->family == AF_INET6
				? (const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr
				: (const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
		if (!inet_ntop(a->family, src, x->refused_addr, sizeof(x->refused_addr)))
			snprintf(x->refused_addr, sizeof(x->refused_addr), "?");
		x->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Only failures before any byte was sent count as "never reached". */
static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EIO;
	}
}

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int set_body(CURL *c, const struct httpc_req *req, curl_mime **mimep, const char *method)
{
	if (req->parts && req->nparts) {
		curl_mime *mime = curl_mime_init(c);
		if (!mime)
			return ENOMEM;
		*mimep = mime;
		for (size_t i = 0; i < req->nparts; i++) {
			const struct httpc_part *p = &req->parts[i];
			curl_mimepart *part = curl_mime_addpart(mime);
			if (!part || !p->name || curl_mime_name(part, p->name) != CURLE_OK ||
			    curl_mime_data(part, p->data ? p->data : "", p->len) != CURLE_OK ||
			    (p->filename && curl_mime_filename(part, p->filename) != CURLE_OK) ||
			    (p->type && curl_mime_type(part, p->type) != CURLE_OK))
				return p->name ? ENOMEM : EINVAL;
		}
		curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	} else if (req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
		   strcmp(method, "PATCH") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (strcmp(method, "GET") == 0 && !req->body && !*mimep)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	return 0;
}

int httpc_do(struct httpc_resp *resp, const struct httpc_req *req, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	curl_mime *mime = NULL;
	struct xfer x = { .req = req };
	CURL *c = NULL;
	int rc = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!resp)
		return EINVAL;
	memset(resp, 0, sizeof(*resp));
	if (!req || !req->url || req->timeout_ms <= 0) {
		say(err, errlen, "bad request: %s",
		    !req || !req->url ? "no url" : "timeout_ms must be > 0");
		return EINVAL;
	}
	const char *method = req->method ? req->method
			     : req->body || req->parts ? "POST" : "GET";
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		say(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
		return EIO;
	}
	x.max = req->max_response ? req->max_response : HTTPC_RESPONSE_MAX_DEFAULT;
	c = curl_easy_init();
	if (!c) {
		rc = ENOMEM;
		goto out;
	}
	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(hdrs, *h);
		if (!n) {
			rc = ENOMEM;
			goto out;
		}
		hdrs = n;
	}
	if ((rc = set_body(c, req, &mime, method))) {
		say(err, errlen,
		    rc == EINVAL ? "bad request: a multipart part has no name" : "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->protocols ? req->protocols : "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : req->timeout_ms);
	if (req->user_agent)
		curl_easy_setopt(c, CURLOPT_USERAGENT, req->user_agent);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	if (req->allow) {
		curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &x);
	}
	if (req->cancelled) {
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	}

	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body = x.buf;
		resp->len = x.len;
		x.buf = NULL;
	} else if (x.too_big) {
		rc = EMSGSIZE;
		say(err, errlen, "the answer is larger than %zu bytes", x.max);
	} else if (x.no_mem) {
		rc = ENOMEM;
		say(err, errlen, "out of memory reading the answer");
	} else if (x.cancelled || x.stopped) {
		rc = ECANCELED;
		say(err, errlen, "%s", x.cancelled ? "cancelled" : "stopped by the body reader");
	} else if (x.refused) {
		rc = EACCES;
		say(err, errlen, "connecting to %s is not allowed", x.refused_addr);
	} else {
		rc = curl_errno(cc);
		say(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
	}
out:
	if (rc == ENOMEM && err && errlen && !err[0])
		say(err, errlen, "out of memory");
	free(x.buf);
	curl_mime_free(mime);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}

void httpc_resp_fini(struct httpc_resp *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
