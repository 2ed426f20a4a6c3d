/* The HTTP server: libmicrohttpd with a thread pool, our routing table,
 * bearer auth, capped bodies, JSON envelopes and request counters. */
#include "httpd/httpd_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_THREADS 4
/* A chunked body over the cap is drained (to answer 413) only up to this
 * multiple of the cap; past it the connection is dropped. */
#define DRAIN_FACTOR 4

struct httpd {
	struct MHD_Daemon *mhd;
	const struct httpd_route *routes;
	size_t nroutes;
	void *arg;
	size_t max_body;
	httpd_auth_h *auth;
	void *auth_arg;
	bool count;
	struct metric *m_requests, *m_4xx, *m_5xx;
	void *owned;
	pthread_mutex_t streams_mu;
	struct httpd_stream *streams; /* streaming replies not yet finished */
};

struct query_value {
	struct query_value *next;
	char s[];
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	const struct httpd_route *route;
	struct httpd_params params;
	char *body;
	size_t body_len, body_cap;
	size_t seen; /* body bytes received, kept or not */
	bool too_large;
	cJSON *json;
	bool replied;
	bool broken; /* the reply could not be queued: close the connection */
	struct query_value *queries;
};

/* ---- replies ------------------------------------------------------------ */

static void count_reply(struct httpd *h, unsigned status)
{
	if (!h->count)
		return;
	metric_add(h->m_requests, 1);
	if (status >= 500)
		metric_add(h->m_5xx, 1);
	else if (status >= 400)
		metric_add(h->m_4xx, 1);
}

/* Adds the headers and queues `resp` (destroyed here either way). */
static void queue_response(struct httpd_req *req, unsigned status, struct MHD_Response *resp,
			   const char *ctype, const struct httpd_header *hdrs, size_t nhdrs)
{
	bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_YES;
	for (size_t i = 0; ok && i < nhdrs; i++)
		ok = MHD_add_response_header(resp, hdrs[i].name, hdrs[i].value) == MHD_YES;
	if (!ok || MHD_queue_response(req->conn, status, resp) != MHD_YES)
		req->broken = true;
	MHD_destroy_response(resp);
	count_reply(req->h, status);
	if (status >= 500 && req->h->count) /* a 503 readyz is routine */
		log_warn("http_5xx", "%s %s -> %u", req->method, req->path, status);
	else
		log_debug("http_reply", "%s %s -> %u", req->method, req->path, status);
}

/* False (and logged) when the request already has its reply. */
static bool first_reply(struct httpd_req *req, unsigned status)
{
	if (req->replied) {
		log_error("httpd_double_reply", "%s %s: second reply (%u) dropped", req->method,
			  req->path, status);
		return false;
	}
	req->replied = true;
	return true;
}

/* Queues `body` (malloc'd, taken over) with the extra headers. */
static void send_reply_hdrs(struct httpd_req *req, unsigned status, const char *ctype,
			    char *body, size_t len, const struct httpd_header *hdrs, size_t nhdrs)
{
	if (!first_reply(req, status)) {
		free(body);
		return;
	}
	if (!body) {
		req->broken = true; /* out of memory rendering: drop the connection */
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		req->broken = true;
		return;
	}
	queue_response(req, status, resp, ctype, hdrs, nhdrs);
}

/* Queues `body` (malloc'd, taken over). One extra header when hname set. */
static void send_reply(struct httpd_req *req, unsigned status, const char *ctype, char *body,
		       size_t len, const char *hname, const char *hvalue)
{
	struct httpd_header hdr = { hname, hvalue };
	send_reply_hdrs(req, status, ctype, body, len, &hdr, hname ? 1 : 0);
}

void httpd_reply_ok(struct httpd_req *req, unsigned status, const char *message, cJSON *data)
{
	char *body = httpd_envelope_ok(message, data);
	send_reply(req, status, "application/json", body, body ? strlen(body) : 0, NULL, NULL);
}

static void reply_error_hdr(struct httpd_req *req, unsigned status, const char *code,
			    const char *field, const char *message, const char *hname,
			    const char *hvalue)
{
	char *body = httpd_envelope_error(code, field, message);
	send_reply(req, status, "application/json", body, body ? strlen(body) : 0, hname, hvalue);
}

void httpd_reply_error(struct httpd_req *req, unsigned status, const char *code,
		       const char *field, const char *message)
{
	reply_error_hdr(req, status, code, field, message, NULL, NULL);
}

static void reply_too_large(struct httpd_req *req)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "The request body is larger than the %zu bytes allowed.",
		 req->h->max_body);
	httpd_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", NULL, msg);
}

void httpd_reply_raw(struct httpd_req *req, unsigned status, const char *content_type,
		     const char *body, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy) {
		if (len)
			memcpy(copy, body, len);
		copy[len] = '\0';
	}
	send_reply(req, status, content_type ? content_type : "application/octet-stream", copy,
		   len, NULL, NULL);
}

void httpd_reply_raw_hdrs(struct httpd_req *req, unsigned status, const char *content_type,
			  const char *body, size_t len, const struct httpd_header *hdrs,
			  size_t nhdrs)
{
	char *copy = malloc(len + 1);
	if (copy) {
		if (len)
			memcpy(copy, body, len);
		copy[len] = '\0';
	}
	send_reply_hdrs(req, status, content_type ? content_type : "application/octet-stream",
			copy, len, hdrs, nhdrs);
}

void httpd_reply_fd(struct httpd_req *req, unsigned status, const char *content_type, int fd,
		    uint64_t offset, uint64_t len, const struct httpd_header *hdrs, size_t nhdrs)
{
	if (!first_reply(req, status)) {
		close(fd);
		return;
	}
	/* MHD takes the fd even when it refuses (it closes it then). */
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (!resp) {
		req->broken = true;
		return;
	}
	queue_response(req, status, resp,
		       content_type ? content_type : "application/octet-stream", hdrs, nhdrs);
}

/* ---- streams ------------------------------------------------------------ */

struct httpd_stream {
	struct httpd *h;
	struct MHD_Connection *conn;
	struct httpd_stream *prev, *next; /* h->streams, under h->streams_mu */
	httpd_stream_read_h *read;
	httpd_stream_done_h *done;
	void *arg;
	bool queued;  /* false while httpd_reply_stream may still fail: no done */
	/* under h->streams_mu: */
	bool parked;  /* suspended in MHD until a wake */
	bool pending; /* a wake came since the last read started */
	bool ending;  /* httpd_stop: the next read ends the reply */
};

/* MHD's content reader: pulls from the owner; parks the connection when
 * there is nothing, unless a wake raced with this read. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct httpd_stream *s = cls;
	struct httpd *h = s->h;
	(void)pos;
	for (int tries = 0; tries < 4; tries++) {
		pthread_mutex_lock(&h->streams_mu);
		bool ending = s->ending;
		s->pending = false;
		pthread_mutex_unlock(&h->streams_mu);
		if (ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		long n = s->read(buf, max, s->arg);
		if (n == HTTPD_STREAM_END || n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n > 0)
			return (ssize_t)n;
		pthread_mutex_lock(&h->streams_mu);
		if (!s->pending && !s->ending) {
			s->parked = true;
			MHD_suspend_connection(s->conn);
			pthread_mutex_unlock(&h->streams_mu);
			return 0;
		}
		pthread_mutex_unlock(&h->streams_mu);
	}
	return 0; /* woken over and over: MHD asks again soon */
}

static void stream_free(void *cls)
{
	struct httpd_stream *s = cls;
	struct httpd *h = s->h;
	pthread_mutex_lock(&h->streams_mu);
	if (s->prev)
		s->prev->next = s->next;
	else if (h->streams == s)
		h->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&h->streams_mu);
	if (s->queued)
		s->done(s->arg);
	free(s);
}

int httpd_reply_stream(struct httpd_req *req, struct httpd_stream **streamp, unsigned status,
		       const char *content_type, const struct httpd_header *hdrs, size_t nhdrs,
		       httpd_stream_read_h *read, httpd_stream_done_h *done, void *arg)
{
	if (!first_reply(req, status))
		return EINVAL;
	struct httpd_stream *s = calloc(1, sizeof(*s));
	if (!s) {
		req->broken = true;
		return ENOMEM;
	}
	s->h = req->h;
	s->conn = req->conn;
	s->read = read;
	s->done = done;
	s->arg = arg;
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, s, stream_free);
	if (!resp) {
		free(s);
		req->broken = true;
		return ENOMEM;
	}
	pthread_mutex_lock(&req->h->streams_mu);
	s->next = req->h->streams;
	if (s->next)
		s->next->prev = s;
	req->h->streams = s;
	pthread_mutex_unlock(&req->h->streams_mu);
	queue_response(req, status, resp, content_type ? content_type : "text/plain", hdrs,
		       nhdrs);
	if (req->broken)
		return EIO; /* the connection drops it; stream_free ran or will, without done */
	/* Nothing reads or frees the stream before the handler returns: MHD
	 * serves this connection on the thread that runs the handler. */
	s->queued = true;
	*streamp = s;
	return 0;
}

void httpd_stream_wake(struct httpd_stream *s)
{
	if (!s)
		return;
	struct httpd *h = s->h;
	pthread_mutex_lock(&h->streams_mu);
	s->pending = true;
	if (s->parked) {
		s->parked = false;
		MHD_resume_connection(s->conn);
	}
	pthread_mutex_unlock(&h->streams_mu);
}

/* ---- accessors ---------------------------------------------------------- */

const char *httpd_req_method(const struct httpd_req *req)
{
	return req->method;
}

const char *httpd_req_path(const struct httpd_req *req)
{
	return req->path;
}

const char *httpd_req_param(const struct httpd_req *req, const char *name)
{
	return httpd_params_get(&req->params, name);
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_req_body(const struct httpd_req *req, size_t *lenp)
{
	if (lenp)
		*lenp = req->body_len;
	return req->body_len ? req->body : NULL;
}

cJSON *httpd_req_json(const struct httpd_req *req)
{
	return req->json;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

const char *httpd_req_query(struct httpd_req *req, const char *name)
{
	/* MHD hands us the raw value (our unescape callback is a no-op, so
	 * the path keeps its %2F); decode form-style here: '+' then %XX. */
	const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return NULL;
	size_t len = strlen(raw);
	struct query_value *q = malloc(sizeof(*q) + len + 1);
	if (!q)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? hexval(raw[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(raw[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(q);
				return NULL;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		q->s[o++] = c;
	}
	q->s[o] = '\0';
	q->next = req->queries;
	req->queries = q;
	return q->s;
}

/* ---- request flow ------------------------------------------------------- */

static const char *bearer_token(const struct httpd_req *req)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v ? v : NULL;
}

static bool parse_size(const char *s, size_t *vp)
{
	size_t v = 0;
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*s - '0');
	}
	*vp = v;
	return true;
}

/* Headers are in: everything that can be refused without the body is
 * refused now, so a rejected upload is never read into memory. */
static void on_headers(struct httpd_req *req)
{
	struct httpd *h = req->h;
	int rc = httpd_route_match(h->routes, h->nroutes, req->method, req->path, &req->params);
	switch (rc) {
	case HTTPD_MATCH_NOT_FOUND:
		httpd_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL, "No such resource: check the method and path.");
		return;
	case HTTPD_MATCH_METHOD:
		reply_error_hdr(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
				"This method is not allowed here; the Allow header lists those that are.", MHD_HTTP_HEADER_ALLOW, req->params.allow);
		return;
	case HTTPD_MATCH_BAD_PATH:
		httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_path", NULL,
				  "The request path is malformed.");
		return;
	case HTTPD_MATCH_TOO_LONG:
		httpd_reply_error(req, MHD_HTTP_URI_TOO_LONG, "uri_too_long", NULL,
				  "The request path is too long.");
		return;
	default:
		break;
	}
	req->route = &h->routes[rc];
	if (!req->route->public && (!h->auth || !h->auth(bearer_token(req), h->auth_arg))) {
		reply_error_hdr(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
				"A valid API key is required: send Authorization: Bearer <key>.",
				MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				"Bearer realm=\"callmesh\"");
		return;
	}
	size_t declared = 0;
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (parse_size(cl, &declared) && declared > h->max_body) {
		reply_too_large(req);
		return;
	}
	if (declared > 0) {
		req->body = malloc(declared + 1);
		if (!req->body) {
			httpd_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory", NULL,
					  "The server is short of memory; retry in a moment.");
			return;
		}
		req->body_cap = declared + 1;
	}
}

/* Keeps body bytes up to the cap; beyond it only counts them. */
static void on_body(struct httpd_req *req, const char *data, size_t len)
{
	req->seen += len;
	if (req->too_large)
		return;
	if (req->body_len + len > req->h->max_body) {
		req->too_large = true;
		free(req->body);
		req->body = NULL;
		req->body_len = req->body_cap = 0;
		return;
	}
	if (req->body_len + len + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;
		while (cap < req->body_len + len + 1)
			cap *= 2;
		if (cap > req->h->max_body + 1)
			cap = req->h->max_body + 1;
		char *b = realloc(req->body, cap);
		if (!b) {
			req->too_large = true; /* cannot hold it: same answer */
			return;
		}
		req->body = b;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

static bool wants_json(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	       strcmp(method, "PATCH") == 0;
}

/* The whole body is in: validate JSON, then run the handler. */
static void on_complete(struct httpd_req *req)
{
	if (req->too_large) {
		reply_too_large(req);
		return;
	}
	if (req->body_len > 0 && wants_json(req->method)) {
		if (!httpd_json_depth_ok(req->body, req->body_len, HTTPD_JSON_DEPTH_MAX)) {
			httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
					  "The JSON body is nested too deeply.");
			return;
		}
		const char *end = NULL;
		req->json = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, false);
		/* cJSON stops after the first value; anything but blanks after
		 * it means the body was not one JSON document. */
		while (end && end < req->body + req->body_len &&
		       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
			end++;
		if (!req->json || !cJSON_IsObject(req->json) || end != req->body + req->body_len) {
			httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
					  "The body must be a JSON object.");
			return;
		}
	}
	req->route->h(req, req->h->arg);
	if (!req->replied) {
		log_error("httpd_no_reply", "%s %s: handler returned without replying", req->method,
			  req->path);
		httpd_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error", NULL,
				  "The server failed on this request; its log says why.");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct httpd_req *req = *con_cls;
	(void)version;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->h = cls;
		req->conn = conn;
		req->method = method;
		req->path = url;
		*con_cls = req;
		on_headers(req);
		return req->broken ? MHD_NO : MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!req->replied)
			on_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		if (req->seen > req->h->max_body * DRAIN_FACTOR)
			return MHD_NO;
		return MHD_YES;
	}
	if (!req->replied)
		on_complete(req);
	return req->broken ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd_req *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!req)
		return;
	while (req->queries) {
		struct query_value *next = req->queries->next;
		free(req->queries);
		req->queries = next;
	}
	cJSON_Delete(req->json);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/* Leaves the URL as sent: decoding before routing would turn "%2F" into a
 * separator. The router and httpd_req_query decode what they need. */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *uri)
{
	(void)cls;
	(void)conn;
	return strlen(uri);
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("httpd_mhd", "%s", msg);
}

/* ---- start/stop ---------------------------------------------------------- */

static int parse_addr(struct sockaddr_in *sa, const char *addr)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	char host[64];
	size_t port = 0;

	if (!colon || (size_t)(colon - addr) >= sizeof(host) || !parse_size(colon + 1, &port) ||
	    port == 0 || port > 65535)
		return EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return EINVAL;
	return 0;
}

static int check_routes(const struct httpd_route *routes, size_t n)
{
	if (!routes || n == 0)
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct httpd_route *r = &routes[i];
		if (!r->method || !r->h || !r->pattern || r->pattern[0] != '/')
			goto bad;
		size_t segs = 0, caps = 0;
		for (const char *p = r->pattern; *p; p++) {
			if (*p == '/') {
				segs++;
				if (p[1] == '/' || (p[1] == '\0' && p != r->pattern))
					goto bad; /* empty segment or trailing slash */
			}
			if (*p == '{')
				caps++;
		}
		if (segs > HTTPD_SEGMENTS_MAX || caps > HTTPD_PARAMS_MAX)
			goto bad;
		continue;
bad:
		log_error("httpd_bad_route", "route %zu (%s %s) is malformed", i,
			  r->method ? r->method : "?", r->pattern ? r->pattern : "?");
		return EINVAL;
	}
	return 0;
}

int httpd_start_ex(struct httpd **hp, const char *addr, const struct httpd_route *routes,
		   size_t nroutes, void *arg, const struct httpd_opts *opts, bool count,
		   void *owned)
{
	int err = 0;
	struct httpd *h = NULL;
	struct sockaddr_in sa;

	err = parse_addr(&sa, addr);
	if (err) {
		log_error("httpd_bad_addr", "%s: want host:port (IPv4 or localhost)",
			  addr ? addr : "(null)");
		goto out;
	}
	err = check_routes(routes, nroutes);
	if (err)
		goto out;
	h = calloc(1, sizeof(*h));
	if (!h) {
		err = ENOMEM;
		goto out;
	}
	pthread_mutex_init(&h->streams_mu, NULL);
	h->routes = routes;
	h->nroutes = nroutes;
	h->arg = arg;
	h->max_body = opts && opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
	h->auth = opts ? opts->auth : NULL;
	h->auth_arg = opts ? opts->auth_arg : NULL;
	h->count = count;
	if (count) {
		h->m_requests = metric_counter("http_requests_total", "HTTP requests answered");
		h->m_4xx = metric_counter("http_responses_4xx_total", "HTTP 4xx responses");
		h->m_5xx = metric_counter("http_responses_5xx_total", "HTTP 5xx responses");
	}
	unsigned threads = opts && opts->threads ? opts->threads : DEFAULT_THREADS;
	/* A pool of one is no pool (MHD warns about it), so the option is only
	 * passed for two or more threads; the logger goes first so MHD never
	 * writes to stderr itself. */
	struct MHD_OptionItem pool[] = {
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	h->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL,
		on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_END);
	if (!h->mhd) {
		err = EADDRINUSE;
		log_error("httpd_start_failed", "cannot listen on %s", addr);
		goto out;
	}
	h->owned = owned;
	owned = NULL;
	log_info("httpd_listening", "%s (%zu routes, %u threads)", addr, nroutes, threads);
	*hp = h;
	h = NULL;
out:
	free(owned);
	if (h)
		pthread_mutex_destroy(&h->streams_mu);
	free(h);
	return err;
}

int httpd_start(struct httpd **hp, const char *addr, const struct httpd_route *routes,
		size_t nroutes, void *arg, const struct httpd_opts *opts)
{
	return httpd_start_ex(hp, addr, routes, nroutes, arg, opts, true, NULL);
}

struct httpd *httpd_stop(struct httpd *h)
{
	if (!h)
		return NULL;
	/* MHD refuses to stop with suspended connections: every stream ends
	 * (its next read says so) and parked ones are resumed to hear it. */
	pthread_mutex_lock(&h->streams_mu);
	for (struct httpd_stream *s = h->streams; s; s = s->next) {
		s->ending = true;
		if (s->parked) {
			s->parked = false;
			MHD_resume_connection(s->conn);
		}
	}
	pthread_mutex_unlock(&h->streams_mu);
	MHD_stop_daemon(h->mhd);
	pthread_mutex_destroy(&h->streams_mu);
	free(h->owned);
	free(h);
	return NULL;
}
