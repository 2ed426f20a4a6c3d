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
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_THREADS 4
/* A chunked body over the cap is drained (to answer 413) only up to this
 * multiple of the cap; past it the connection is dropped. */
#define DRAIN_FACTOR 4
/* MHD's per-connection memory (read buffer and parsed headers/arguments):
 * above the limits below together (the longest request line the gate lets
 * through and the most header bytes), so that it is our envelope that
 * answers. No larger: libmicrohttpd zeroes the whole pool before each
 * request of a kept-alive connection (docs/decisions.md). */
#define MHD_POOL_BYTES (128u * 1024u)
#define QUERY_ARGS_MAX 64           /* query parameters: more → 414 */
#define QUERY_BYTES_MAX 8192        /* their names and values together → 414 */
#define HEADER_BYTES_MAX (16 * 1024) /* request header names and values → 431 */
#define REAPER_PERIOD_MS 250
/* After the gate's own error reply: how long a connection may go on
 * sending before it is closed (read and dropped meanwhile, so that the
 * close does not reset the reply away). */
#define GATE_LINGER_MS 1000
#define GATE_ACCEPT_BATCH 32
/* The longest request line allowed and its CRLF. */
#define GATE_PEEK_BYTES (HTTPD_REQUEST_LINE_MAX + 2)

/* One per open connection, from accept to close: when the request now
 * arriving must be whole, and whose it is. Listed in httpd.conns. */
struct conn_track {
	struct conn_track *prev, *next;
	int fd;
	struct in_addr addr; /* the client's */
	int64_t since_ms;    /* connection opened or previous reply sent */
	bool armed;          /* a request is arriving: the deadline applies */
	bool gate;           /* the gate still holds it (its request line is read) */
	bool handed;         /* given to MHD, which has not announced it yet */
};

/* A connection the gate holds: its request line is not yet whole, or the
 * gate has answered it and waits for the client to leave. */
struct gate_conn {
	int fd;
	struct sockaddr_in sa;
	struct conn_track *t;
	size_t lowat;     /* SO_RCVLOWAT set (bytes already peeked + 1); 1 at first */
	int64_t close_by; /* 0 while reading; after a reply, lingering until */
};

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
	int64_t request_timeout_ms;
	pthread_mutex_t conns_mu;
	pthread_cond_t conns_cv;
	struct conn_track *conns;
	bool reaper_started, reaper_stop;
	pthread_t reaper;
	/* the accept gate (its thread owns the listener and gconns) */
	int listen_fd, wake_fd;
	unsigned max_conns, per_client;
	struct gate_conn *gconns;
	size_t ngconns;
	struct pollfd *gate_pfd; /* max_conns + 2 */
	char *peek;              /* GATE_PEEK_BYTES */
	bool gate_started;
	pthread_t gate;
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
	struct conn_track *track; /* NULL if MHD gave none */
	bool started;             /* on_request has seen it */
	bool query_too_long;      /* its query string was cut before MHD parsed it */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reply has started (or ended): the request deadline stops applying,
 * until the next request on this connection. */
static void track_arm(struct httpd *h, struct conn_track *t, bool armed)
{
	if (!t)
		return;
	pthread_mutex_lock(&h->conns_mu);
	t->armed = armed;
	t->since_ms = mono_ms();
	pthread_mutex_unlock(&h->conns_mu);
}

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
	track_arm(req->h, req->track, false);
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
	int fd; /* the connection's socket, -1 unknown */
	struct httpd_stream *prev, *next; /* h->streams, under h->streams_mu */
	httpd_stream_read_h *read;
	httpd_stream_done_h *done;
	void *arg;
	bool queued;  /* false while httpd_reply_stream may still fail: no done */
	/* under h->streams_mu: */
	bool parked;  /* suspended in MHD until a wake */
	bool pending; /* a wake came since the last read started */
	bool ending;  /* httpd_free: the next read ends the reply */
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
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = ci ? ci->connect_fd : -1;
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

bool httpd_stream_peer_gone(const struct httpd_stream *s)
{
	if (!s || s->fd < 0)
		return false;
	struct pollfd pfd = { .fd = s->fd, .events = POLLRDHUP };
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
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

/* True when every '%' in s starts a valid escape other than %00. */
static bool escapes_ok(const char *s)
{
	for (; s && *s; s++)
		if (*s == '%' && (hexval(s[1]) < 0 || hexval(s[2]) < 0 ||
				  (s[1] == '0' && s[2] == '0')))
			return false;
	return true;
}

/* What the request line and headers hold, summed up before routing. */
struct head_scan {
	size_t nargs, arg_bytes;
	char bad_arg[64];      /* first query parameter badly escaped ("" none) */
	size_t header_bytes;
	const char *content_length;
	bool cl_conflict;      /* two Content-Length headers that differ */
};

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct head_scan *sc = cls;
	(void)kind;
	sc->nargs++;
	sc->arg_bytes += strlen(key) + (value ? strlen(value) + 1 : 0) + 1;
	if (!sc->bad_arg[0] && (!escapes_ok(key) || !escapes_ok(value)))
		snprintf(sc->bad_arg, sizeof(sc->bad_arg), "%s", key);
	return MHD_YES;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct head_scan *sc = cls;
	(void)kind;
	sc->header_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (sc->content_length && strcmp(sc->content_length, value ? value : "") != 0)
			sc->cl_conflict = true;
		else if (!sc->content_length)
			sc->content_length = value ? value : "";
	}
	return MHD_YES;
}

/* What is wrong with a body that is not one JSON object. `end`: where
 * cJSON stopped (at the error when json is NULL), blanks after it skipped. */
static void json_problem(char *msg, size_t cap, const cJSON *json, const char *body, size_t len,
			 const char *end)
{
	size_t at = end && end >= body ? (size_t)(end - body) : 0;
	if (!json && at + 1 >= len) /* cJSON puts an error past the end on the last byte */
		snprintf(msg, cap, "The body is not valid JSON: it ends too soon or its last "
			 "byte (%zu) is wrong; send one whole JSON object.", len);
	else if (!json)
		snprintf(msg, cap, "The body is not valid JSON: the syntax is wrong near byte %zu.",
			 at + 1);
	else if (!cJSON_IsObject(json))
		snprintf(msg, cap, "The body must be a JSON object, not %s.",
			 cJSON_IsArray(json)    ? "an array"
			 : cJSON_IsString(json) ? "a string"
			 : cJSON_IsNumber(json) ? "a number"
			 : cJSON_IsBool(json)   ? "a boolean"
						: "null");
	else
		snprintf(msg, cap, "The body has more after its JSON object (at byte %zu); "
			 "send one JSON object.", at + 1);
}

/* The request line and headers themselves: sizes, escapes, framing. False
 * when the request got its error reply. */
static bool head_ok(struct httpd_req *req)
{
	struct head_scan sc = { 0 };
	char msg[192];
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &sc);
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, scan_header, &sc);
	if (req->query_too_long || sc.nargs > QUERY_ARGS_MAX || sc.arg_bytes > QUERY_BYTES_MAX) {
		snprintf(msg, sizeof(msg),
			 "The query string is too long: send at most %d parameters and %d bytes.",
			 QUERY_ARGS_MAX, QUERY_BYTES_MAX);
		httpd_reply_error(req, MHD_HTTP_URI_TOO_LONG, "uri_too_long", NULL, msg);
		return false;
	}
	if (sc.header_bytes > HEADER_BYTES_MAX) {
		snprintf(msg, sizeof(msg),
			 "The request headers are too large: send at most %d bytes of them.",
			 HEADER_BYTES_MAX);
		httpd_reply_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				  "headers_too_large", NULL, msg);
		return false;
	}
	if (sc.bad_arg[0]) {
		snprintf(msg, sizeof(msg),
			 "The query parameter %s has a bad percent-escape: write %%XX with two hex "
			 "digits (%%25 for a %%).",
			 sc.bad_arg);
		httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_query", sc.bad_arg, msg);
		return false;
	}
	if (sc.cl_conflict) {
		/* the body's framing is unknown: close after the reply */
		reply_error_hdr(req, MHD_HTTP_BAD_REQUEST, "invalid_content_length", NULL,
				"The request has several Content-Length headers that disagree; "
				"send exactly one.",
				MHD_HTTP_HEADER_CONNECTION, "close");
		return false;
	}
	return true;
}

/* A body on POST/PUT/PATCH must say it is JSON: application/json or a
 * +json type (LiveKit's application/webhook+json), parameters allowed. */
static bool json_content_type(const char *v)
{
	if (!v)
		return false;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strcspn(v, ";");
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(v, "application/json", 16) == 0)
		return true;
	return n > 17 && strncasecmp(v, "application/", 12) == 0 &&
	       strncasecmp(v + n - 5, "+json", 5) == 0 &&
	       !memchr(v + 12, '/', n - 12);
}

static bool wants_json(const char *method);

/* Headers are in: everything that can be refused without the body is
 * refused now, so a rejected upload is never read into memory. */
static void on_headers(struct httpd_req *req)
{
	struct httpd *h = req->h;
	if (!head_ok(req))
		return;
	int rc = httpd_route_match(h->routes, h->nroutes, req->method, req->path, &req->params);
	switch (rc) {
	case HTTPD_MATCH_NOT_FOUND:
		httpd_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
				  "No such resource: check the method and path.");
		return;
	case HTTPD_MATCH_METHOD:
		reply_error_hdr(
			req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
			"This method is not allowed here; the Allow header lists those that are.",
			MHD_HTTP_HEADER_ALLOW, req->params.allow);
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
	const char *te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if ((declared > 0 || te) && wants_json(req->method) &&
	    !json_content_type(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_CONTENT_TYPE))) {
		httpd_reply_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				  "Content-Type",
				  "The request body must be JSON: send the header Content-Type: "
				  "application/json.");
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
			char msg[160];
			json_problem(msg, sizeof(msg), req->json, req->body, req->body_len, end);
			httpd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL, msg);
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

static struct httpd_req *req_new(struct httpd *h, struct MHD_Connection *conn)
{
	struct httpd_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->h = h;
	req->conn = conn;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	req->track = ci ? ci->socket_context : NULL;
	return req;
}

/* Called with the request line's URI before MHD splits the query into its
 * per-connection memory: thousands of parameters would exhaust it and the
 * client would get no answer at all. An over-long query is cut here (in
 * MHD's own buffer, which it parses next) and answered 414 once the
 * headers are in. The request state starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd_req *req = req_new(cls, conn);
	char *q = uri ? memchr(uri, '?', strlen(uri)) : NULL;
	if (!req || !q)
		return req;
	size_t nargs = 1, bytes = strlen(q + 1);
	for (const char *p = q + 1; *p; p++)
		nargs += *p == '&';
	if (nargs > QUERY_ARGS_MAX || bytes > QUERY_BYTES_MAX) {
		req->query_too_long = true;
		q[1] = '\0';
	}
	return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct httpd_req *req = *con_cls;
	(void)version;

	if (!req || !req->started) {
		if (!req)
			req = req_new(cls, conn);
		if (!req)
			return MHD_NO;
		req->started = true;
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
	/* The request is whole: its deadline is met, however long the handler takes. */
	track_arm(req->h, req->track, false);
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
	track_arm(req->h, req->track, true); /* the next request's clock starts */
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

static void track_link(struct httpd *h, struct conn_track *t)
{
	pthread_mutex_lock(&h->conns_mu);
	t->next = h->conns;
	if (t->next)
		t->next->prev = t;
	h->conns = t;
	pthread_mutex_unlock(&h->conns_mu);
}

/* Takes t out of the list and frees it; the caller holds conns_mu. */
static void track_unlink_locked(struct httpd *h, struct conn_track *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else if (h->conns == t)
		h->conns = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

/* Under the lock, so the reaper never shuts down a descriptor that has
 * been reused: the caller closes it afterwards. */
static void track_unlink(struct httpd *h, struct conn_track *t)
{
	pthread_mutex_lock(&h->conns_mu);
	track_unlink_locked(h, t);
	pthread_mutex_unlock(&h->conns_mu);
}

/* Connections come and go: each gets its deadline record (made by the gate
 * at accept, found again here). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct httpd *h = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn_track *t = NULL;
		if (!ci)
			return;
		/* The gate's record: the deadline still counts from accept. */
		pthread_mutex_lock(&h->conns_mu);
		for (t = h->conns; t && !(t->handed && t->fd == ci->connect_fd); t = t->next)
			;
		if (t)
			t->handed = false;
		pthread_mutex_unlock(&h->conns_mu);
		if (!t) {
			t = calloc(1, sizeof(*t));
			if (!t)
				return;
			t->fd = ci->connect_fd;
			t->since_ms = mono_ms();
			t->armed = true;
			track_link(h, t);
		}
		*socket_context = t;
		return;
	}
	struct conn_track *t = *socket_context;
	if (!t)
		return;
	/* MHD closes the socket after this returns: under the lock the reaper
	 * never shuts down a descriptor that has been reused. */
	track_unlink(h, t);
	*socket_context = NULL;
}

/* MHD's own timeout restarts on every byte, so a request dripped in a byte
 * at a time would hold its connection for ever: this thread closes any
 * connection whose request is not whole by its deadline. shutdown() wakes
 * MHD, which then finds the socket at its end and cleans up as usual. */
static void *reaper_main(void *arg)
{
	struct httpd *h = arg;
	pthread_mutex_lock(&h->conns_mu);
	while (!h->reaper_stop) {
		int64_t now = mono_ms();
		for (struct conn_track *t = h->conns; t; t = t->next) {
			/* the gate keeps its own connections' deadline */
			if (t->gate || t->handed || !t->armed ||
			    now - t->since_ms < h->request_timeout_ms)
				continue;
			t->armed = false;
			shutdown(t->fd, SHUT_RDWR);
			log_info("httpd_request_deadline",
				 "a request took over %lld s to arrive; its connection was closed",
				 (long long)(h->request_timeout_ms / 1000));
		}
		struct timespec ts;
		time_deadline(&ts, CLOCK_MONOTONIC, REAPER_PERIOD_MS);
		pthread_cond_timedwait(&h->conns_cv, &h->conns_mu, &ts);
	}
	pthread_mutex_unlock(&h->conns_mu);
	return NULL;
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

/* ---- the accept gate ------------------------------------------------------
 * libmicrohttpd 0.9.75 answers a request line it cannot parse, or an HTTP
 * version other than 1.0/1.1, with its own HTML page before any callback of
 * ours runs. So the listener is ours: this thread accepts, applies the
 * connection limits, peeks (MSG_PEEK: nothing is consumed) until the first
 * request line is whole within the request deadline, answers a bad one
 * with the JSON envelope and hands good connections to MHD with
 * MHD_add_connection. Later requests on a kept-alive connection are MHD's
 * to parse. */

static void gate_drop(struct httpd *h, size_t i)
{
	struct gate_conn *g = &h->gconns[i];
	track_unlink(h, g->t);
	close(g->fd);
	h->gconns[i] = h->gconns[--h->ngconns];
}

static void set_lowat(int fd, size_t n)
{
	int v = (int)n;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
}

/* Reads away what the client has sent so far (the close would otherwise
 * reset the connection, reply and all). */
static bool gate_drain(int fd)
{
	char buf[4096];
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return false;
		if (n < 0)
			return true;
	}
	return true;
}

/* The envelope with "Connection: close"; the connection then lingers. */
static void gate_reply(struct httpd *h, struct gate_conn *g, unsigned status, const char *code,
		       const char *message)
{
	char head[256];
	char *body = httpd_envelope_error(code, NULL, message);
	const char *reason = MHD_get_reason_phrase_for(status);
	bool open = gate_drain(g->fd);
	if (body && open) {
		size_t blen = strlen(body);
		int hlen = snprintf(head, sizeof(head),
				    "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
				    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				    status, reason && *reason ? reason : "Error", blen);
		struct iovec iov[2] = { { head, (size_t)hlen }, { body, blen } };
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		/* A few hundred bytes into an empty send buffer: whole or not at all. */
		(void)sendmsg(g->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		shutdown(g->fd, SHUT_WR);
	}
	free(body);
	count_reply(h, status);
	char from[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &g->sa.sin_addr, from, sizeof(from));
	log_info("httpd_gate_refused", "%s: %u %s", from, status, code);
	set_lowat(g->fd, 1);
	g->lowat = 1;
	g->close_by = mono_ms() + GATE_LINGER_MS;
}

/* Gives the connection to MHD; the gate forgets it either way. */
static void gate_hand_over(struct httpd *h, size_t i)
{
	struct gate_conn g = h->gconns[i];
	h->gconns[i] = h->gconns[--h->ngconns];
	if (g.lowat > 1)
		set_lowat(g.fd, 1);
	pthread_mutex_lock(&h->conns_mu);
	/* A record MHD never announced (it failed to set the connection up
	 * after accepting it) for a descriptor now reused: gone. */
	for (struct conn_track *t = h->conns, *next; t; t = next) {
		next = t->next;
		if (t->handed && t->fd == g.fd)
			track_unlink_locked(h, t);
	}
	g.t->gate = false;
	g.t->handed = true;
	pthread_mutex_unlock(&h->conns_mu);
	/* MHD closes the socket when it refuses; then it never announces it. */
	if (MHD_add_connection(h->mhd, g.fd, (const struct sockaddr *)&g.sa, sizeof(g.sa)) !=
	    MHD_YES) {
		log_warn("httpd_handover_failed", "MHD refused a connection: %s", strerror(errno));
		pthread_mutex_lock(&h->conns_mu);
		bool unclaimed = g.t->handed;
		pthread_mutex_unlock(&h->conns_mu);
		if (unclaimed)
			track_unlink(h, g.t);
	}
}

/* The request line has grown (or the client left): judge it. */
static void gate_read(struct httpd *h, size_t i)
{
	struct gate_conn *g = &h->gconns[i];
	if (g->close_by) {
		if (!gate_drain(g->fd))
			gate_drop(h, i);
		return;
	}
	ssize_t n = recv(g->fd, h->peek, GATE_PEEK_BYTES, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* Readable with no byte beyond those already peeked: the client shut
	 * its side (SO_RCVLOWAT holds poll back until one more byte). */
	if (n <= 0 || (size_t)n < g->lowat) {
		gate_drop(h, i);
		return;
	}
	struct httpd_line_info li;
	char msg[160];
	switch (httpd_request_line_check(h->peek, (size_t)n, HTTPD_REQUEST_LINE_MAX, &li)) {
	case HTTPD_LINE_PARTIAL:
		g->lowat = (size_t)n + 1;
		set_lowat(g->fd, g->lowat);
		return;
	case HTTPD_LINE_OK:
		gate_hand_over(h, i);
		return;
	case HTTPD_LINE_VERSION:
		snprintf(msg, sizeof(msg),
			 "This server speaks HTTP/1.1 and HTTP/1.0; the request line says %s.",
			 li.version);
		gate_reply(h, g, MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported",
			   msg);
		return;
	case HTTPD_LINE_TOO_LONG:
		snprintf(msg, sizeof(msg), "The request line is longer than the %d bytes allowed.",
			 HTTPD_REQUEST_LINE_MAX);
		gate_reply(h, g, MHD_HTTP_URI_TOO_LONG, "uri_too_long", msg);
		return;
	case HTTPD_LINE_MALFORMED:
		gate_reply(h, g, MHD_HTTP_BAD_REQUEST, "invalid_request_line",
			   "The request line is not HTTP: want METHOD /path HTTP/1.1, then CRLF.");
		return;
	}
}

/* Connections open (the gate's and MHD's) in all and from `addr`. */
static void gate_count(struct httpd *h, const struct in_addr *addr, unsigned *totalp,
		       unsigned *fromp)
{
	unsigned total = 0, from = 0;
	pthread_mutex_lock(&h->conns_mu);
	for (const struct conn_track *t = h->conns; t; t = t->next) {
		if (t->handed)
			continue;
		total++;
		from += addr && t->addr.s_addr == addr->s_addr;
	}
	pthread_mutex_unlock(&h->conns_mu);
	*totalp = total;
	if (fromp)
		*fromp = from;
}

/* Past the total the listener is left alone (new connections wait in the
 * kernel's backlog); past the per-client limit a connection is closed at
 * once, unanswered. False when accept itself fails (back off a moment). */
static bool gate_accept(struct httpd *h)
{
	for (int k = 0; k < GATE_ACCEPT_BATCH; k++) {
		unsigned total = 0, from = 0;
		gate_count(h, NULL, &total, NULL);
		if (total >= h->max_conns || h->ngconns >= h->max_conns)
			return true;
		struct sockaddr_in sa;
		socklen_t salen = sizeof(sa);
		int fd = accept4(h->listen_fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED;
		gate_count(h, &sa.sin_addr, &total, &from);
		struct conn_track *t = from < h->per_client ? calloc(1, sizeof(*t)) : NULL;
		if (!t) {
			close(fd);
			continue;
		}
		t->fd = fd;
		t->addr = sa.sin_addr;
		t->since_ms = mono_ms();
		t->armed = true;
		t->gate = true;
		track_link(h, t);
		h->gconns[h->ngconns++] =
			(struct gate_conn){ .fd = fd, .sa = sa, .t = t, .lowat = 1 };
	}
	return true;
}

static void *gate_main(void *arg)
{
	struct httpd *h = arg;
	int64_t accept_after = 0;
	for (;;) {
		int64_t now = mono_ms();
		/* Deadlines: the request line's, or the linger after a reply. */
		for (size_t i = h->ngconns; i-- > 0;) {
			struct gate_conn *g = &h->gconns[i];
			if (g->close_by ? now >= g->close_by
					: now - g->t->since_ms >= h->request_timeout_ms) {
				if (!g->close_by)
					log_info("httpd_request_deadline",
						 "a request line took over %lld s to arrive; "
						 "its connection was closed",
						 (long long)(h->request_timeout_ms / 1000));
				gate_drop(h, i);
			}
		}
		unsigned total = 0;
		gate_count(h, NULL, &total, NULL);
		struct pollfd *p = h->gate_pfd;
		p[0] = (struct pollfd){ .fd = h->wake_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = total < h->max_conns && now >= accept_after
						      ? h->listen_fd : -1,
					.events = POLLIN };
		for (size_t i = 0; i < h->ngconns; i++)
			p[2 + i] = (struct pollfd){ .fd = h->gconns[i].fd, .events = POLLIN };
		size_t npoll = 2 + h->ngconns;
		if (poll(p, npoll, REAPER_PERIOD_MS) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* From the end: a judged connection leaves by swapping in the last. */
		for (size_t i = npoll - 2; i-- > 0;)
			if (p[2 + i].revents)
				gate_read(h, i);
		if (p[1].revents && !gate_accept(h)) {
			log_warn("httpd_accept_failed", "%s", strerror(errno));
			accept_after = mono_ms() + 100;
		}
	}
	return NULL;
}

/* The listening socket the gate accepts on. */
static int gate_listen(struct httpd *h, const struct sockaddr_in *sa)
{
	int one = 1;
	h->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0)
		return errno;
	if (setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(h->listen_fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 ||
	    listen(h->listen_fd, SOMAXCONN) != 0)
		return errno == EADDRINUSE || errno == EACCES ? EADDRINUSE : errno;
	return 0;
}

/* ---- start/stop ---------------------------------------------------------- */

/* "host:port" with an IPv4 literal or "localhost" as host. */
static int parse_addr(struct sockaddr_in *sa, const char *addr)
{
	struct hostport hp;

	if (!addr || addr_parse(&hp, addr, 0))
		return EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(hp.port);
	if (strcmp(hp.host, "localhost") == 0)
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, hp.host, &sa->sin_addr) != 1)
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
	h->listen_fd = h->wake_fd = -1;
	pthread_mutex_init(&h->streams_mu, NULL);
	pthread_mutex_init(&h->conns_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->conns_cv, &ca);
	pthread_condattr_destroy(&ca);
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
	unsigned max_conns = opts && opts->max_conns ? opts->max_conns : HTTPD_MAX_CONNS;
	unsigned per_client = opts && opts->max_per_client ? opts->max_per_client
							   : HTTPD_MAX_PER_CLIENT;
	unsigned timeout_s = opts && opts->request_timeout_s ? opts->request_timeout_s
							     : HTTPD_REQUEST_TIMEOUT_S;
	h->request_timeout_ms = (int64_t)timeout_s * 1000;
	/* MHD splits the total among the pool's threads: keep at least one
	 * connection per thread. */
	if (max_conns < threads)
		max_conns = threads;
	h->max_conns = max_conns;
	h->per_client = per_client;
	h->gconns = calloc(max_conns, sizeof(*h->gconns));
	h->gate_pfd = calloc(max_conns + 2, sizeof(*h->gate_pfd));
	h->peek = malloc(GATE_PEEK_BYTES);
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!h->gconns || !h->gate_pfd || !h->peek || h->wake_fd < 0) {
		err = ENOMEM;
		goto out;
	}
	err = gate_listen(h, &sa);
	if (err) {
		log_error("httpd_start_failed", "cannot listen on %s: %s", addr, strerror(err));
		goto out;
	}
	/* A pool of one is no pool (MHD warns about it), so the option is only
	 * passed for two or more threads; the logger goes first so MHD never
	 * writes to stderr itself. */
	struct MHD_OptionItem pool[] = {
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	h->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET,
		0, NULL, NULL,
		on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, max_conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_POOL_BYTES,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_END);
	if (!h->mhd) {
		err = EIO;
		log_error("httpd_start_failed", "libmicrohttpd did not start for %s", addr);
		goto out;
	}
	if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
		err = EAGAIN;
		MHD_stop_daemon(h->mhd);
		goto out;
	}
	h->reaper_started = true;
	if (pthread_create(&h->gate, NULL, gate_main, h) != 0) {
		err = EAGAIN;
		h->owned = owned;
		httpd_free(h);
		return err;
	}
	h->gate_started = true;
	h->owned = owned;
	owned = NULL;
	log_info("httpd_listening",
		 "%s (%zu routes, %u threads, %u connections, %u per client, %u s per request)",
		 addr, nroutes, threads, max_conns, per_client, timeout_s);
	*hp = h;
	h = NULL;
out:
	free(owned);
	if (h) {
		if (h->listen_fd >= 0)
			close(h->listen_fd);
		if (h->wake_fd >= 0)
			close(h->wake_fd);
		free(h->gconns);
		free(h->gate_pfd);
		free(h->peek);
		pthread_mutex_destroy(&h->streams_mu);
		pthread_mutex_destroy(&h->conns_mu);
		pthread_cond_destroy(&h->conns_cv);
	}
	free(h);
	return err;
}

int httpd_new(struct httpd **hp, const char *addr, const struct httpd_route *routes,
		size_t nroutes, void *arg, const struct httpd_opts *opts)
{
	return httpd_start_ex(hp, addr, routes, nroutes, arg, opts, true, NULL);
}

struct httpd *httpd_free(struct httpd *h)
{
	if (!h)
		return NULL;
	if (h->gate_started) {
		uint64_t one = 1;
		if (write(h->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			log_error("httpd_stop_wake", "%s", strerror(errno));
		pthread_join(h->gate, NULL);
	}
	while (h->ngconns > 0)
		gate_drop(h, h->ngconns - 1);
	close(h->listen_fd);
	close(h->wake_fd);
	pthread_mutex_lock(&h->conns_mu);
	h->reaper_stop = true;
	pthread_cond_signal(&h->conns_cv);
	pthread_mutex_unlock(&h->conns_mu);
	if (h->reaper_started)
		pthread_join(h->reaper, NULL);
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
	pthread_mutex_destroy(&h->conns_mu);
	pthread_cond_destroy(&h->conns_cv);
	/* records of connections MHD never announced */
	while (h->conns) {
		struct conn_track *t = h->conns;
		h->conns = t->next;
		free(t);
	}
	free(h->gconns);
	free(h->gate_pfd);
	free(h->peek);
	free(h->owned);
	free(h);
	return NULL;
}
