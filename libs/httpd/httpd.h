/*
 * httpd — callmesh's HTTP server (libmicrohttpd underneath): a routing
 * table, bearer auth, capped JSON bodies and the JSON envelope
 *   {"success":bool,"message":str,"data":…[,"error":{"code":…,"field":…}]}
 * plus the /healthz /readyz /metrics listener every service runs.
 *
 * Handlers run on MHD's pool threads, several at once: whatever `arg`
 * points at must be safe to use from them concurrently.
 */
#ifndef CALLMESH_HTTPD_H
#define CALLMESH_HTTPD_H

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpd;
struct httpd_req;

typedef void(httpd_route_h)(struct httpd_req *req, void *arg);

struct httpd_route {
	const char *method;  /* "GET", "POST", …; a GET route also answers HEAD */
	const char *pattern; /* "/assistants", "/calls/{id}/hangup" */
	httpd_route_h *h;
	bool public;         /* served without a bearer token */
};

/* Returns true when `bearer_token` (NULL when the request had none) may
 * call non-public routes. Called on pool threads. */
typedef bool(httpd_auth_h)(const char *bearer_token, void *arg);

struct httpd_opts {
	size_t max_body;     /* request body cap; 0 = 1 MiB */
	httpd_auth_h *auth;  /* NULL: every non-public route answers 401 */
	void *auth_arg;
	unsigned threads;    /* MHD thread pool size; 0 = 4 */
	/* Limits (0 = the default named): connections open at once in total
	 * (HTTPD_MAX_CONNS) and from one client address (HTTPD_MAX_PER_CLIENT);
	 * beyond them a new connection is closed at once, unanswered. A request
	 * must arrive whole (headers and body) within request_timeout_s of its
	 * connection opening or of the previous reply on it
	 * (HTTPD_REQUEST_TIMEOUT_S), however slowly it trickles in: past that
	 * the connection is closed. Once the reply has started (a stream
	 * included) the deadline no longer applies; an idle connection is also
	 * closed after request_timeout_s without traffic. */
	unsigned max_conns;
	unsigned max_per_client;
	unsigned request_timeout_s;
};
#define HTTPD_MAX_CONNS 256
#define HTTPD_MAX_PER_CLIENT 32
#define HTTPD_REQUEST_TIMEOUT_S 30

/* Serves `routes` (borrowed: must outlive the server; nroutes ≥ 1) on
 * `addr` = "host:port", host an IPv4 literal or "localhost". `arg` goes to
 * every handler; opts may be NULL for defaults. EINVAL for a bad address
 * or pattern, EADDRINUSE when the listener cannot bind. */
int httpd_new(struct httpd **hp, const char *addr, const struct httpd_route *routes,
		size_t nroutes, void *arg, const struct httpd_opts *opts) CM_MUST_USE;
/* Stops listening, waits for running handlers, frees. NULL-safe; NULL. */
struct httpd *httpd_free(struct httpd *h);

/* ---- request accessors: strings are borrowed and live until the reply
 * has been sent; call them only from the handler. */
const char *httpd_req_method(const struct httpd_req *req);
const char *httpd_req_path(const struct httpd_req *req);   /* raw, without query */
const char *httpd_req_param(const struct httpd_req *req, const char *name); /* {name}, decoded */
/* Query argument, percent-decoded; NULL when absent or badly encoded. */
const char *httpd_req_query(struct httpd_req *req, const char *name);
const char *httpd_req_header(const struct httpd_req *req, const char *name);
/* The body (NUL-terminated for convenience) or NULL when there was none. */
const char *httpd_req_body(const struct httpd_req *req, size_t *lenp);
/* The parsed body of a POST/PUT/PATCH (always an object), else NULL. */
cJSON *httpd_req_json(const struct httpd_req *req);

/* ---- replies: exactly one per request, from the handler before it
 * returns; later ones are logged and dropped. A handler that returns
 * without replying gets a 500. */
/* {"success":true,"message":…,"data":…}; takes ownership of data (may be NULL). */
void httpd_reply_ok(struct httpd_req *req, unsigned status, const char *message, cJSON *data);
/* {"success":false,"message":…,"data":null,"error":{"code":…,"field":…}};
 * code is machine-readable ("invalid_field"), field may be NULL. */
void httpd_reply_error(struct httpd_req *req, unsigned status, const char *code,
		       const char *field, const char *message);
/* Any body; copied. */
void httpd_reply_raw(struct httpd_req *req, unsigned status, const char *content_type,
		     const char *body, size_t len);

/* An extra response header; both strings borrowed (copied when queued). */
struct httpd_header {
	const char *name, *value;
};
/* Any body (copied) with extra headers (nhdrs may be 0). */
void httpd_reply_raw_hdrs(struct httpd_req *req, unsigned status, const char *content_type,
			  const char *body, size_t len, const struct httpd_header *hdrs,
			  size_t nhdrs);
/* `len` bytes of the open file `fd` from `offset` (sendfile where it can);
 * takes ownership of fd (closed when sent, or at once when the reply cannot
 * be queued). A HEAD request gets the headers only. */
void httpd_reply_fd(struct httpd_req *req, unsigned status, const char *content_type, int fd,
		    uint64_t offset, uint64_t len, const struct httpd_header *hdrs,
		    size_t nhdrs);

/* ---- streaming replies (Server-Sent Events and the like) ----------------
 * The body is pulled from `read` on the connection's thread as the client
 * takes it. read returns the bytes written into buf (≤ max), 0 when there
 * is nothing now — the connection is then parked, costing no thread, until
 * httpd_stream_wake() — or HTTPD_STREAM_END to finish the reply. `done`
 * runs exactly once when the connection is finished with the stream (the
 * client left, the stream ended, the server stops); after it returns the
 * stream handle is gone. The caller makes sure no httpd_stream_wake() runs
 * during or after `done` (its own lock around both). httpd_free() ends
 * every stream (read is no longer called; done runs). */
#define HTTPD_STREAM_END (-1L)
struct httpd_stream;
typedef long(httpd_stream_read_h)(char *buf, size_t max, void *arg);
typedef void(httpd_stream_done_h)(void *arg);
/* Replies with a body of unknown length (chunked). 0 and *streamp on
 * success; then no other reply, and `done(arg)` will run. On failure (ENOMEM,
 * EIO: could not queue) nothing of arg is kept, done never runs, and the
 * connection is closed. */
int httpd_reply_stream(struct httpd_req *req, struct httpd_stream **streamp, unsigned status,
		       const char *content_type, const struct httpd_header *hdrs, size_t nhdrs,
		       httpd_stream_read_h *read, httpd_stream_done_h *done,
		       void *arg) CM_MUST_USE;
/* New data: a parked stream is read again. Any thread. */
void httpd_stream_wake(struct httpd_stream *s);
/* True when the client has closed its side of the stream's connection (or
 * it is gone): a parked stream is not read, so nothing else notices until
 * the next write. Any thread, under the same lock as httpd_stream_wake. */
bool httpd_stream_peer_gone(const struct httpd_stream *s);

/* The envelopes as strings (caller frees; NULL on ENOMEM). httpd_envelope_ok
 * takes ownership of data. Used by the replies above; exported for tests. */
char *httpd_envelope_ok(const char *message, cJSON *data);
char *httpd_envelope_error(const char *code, const char *field, const char *message);
/* False when objects/arrays in the JSON text s[0..len) nest deeper than max
 * (strings are skipped); checked before parsing. */
bool httpd_json_depth_ok(const char *s, size_t len, int max);

/* ---- Range requests (RFC 9110 §14), a pure function --------------------- */
enum httpd_range {
	/* no Range, or one to ignore (several ranges, another unit, malformed) */
	HTTPD_RANGE_WHOLE,
	HTTPD_RANGE_PARTIAL,	   /* [*startp, *startp + *lenp) */
	HTTPD_RANGE_UNSATISFIABLE, /* 416 */
};
/* Reads a Range header value (may be NULL) against a body of `size` bytes:
 * "bytes=a-b", "bytes=a-", "bytes=-n". startp/lenp set for PARTIAL only. */
enum httpd_range httpd_range_parse(const char *hdr, uint64_t size, uint64_t *startp,
				   uint64_t *lenp);

/* ---- the request line, a pure function (the accept gate's; exported for
 * unit tests) ------------------------------------------------------------ */
#define HTTPD_REQUEST_LINE_MAX 16384 /* longer request lines: 414 at the gate */
enum httpd_line {
	HTTPD_LINE_PARTIAL,   /* no end of line yet: wait for more bytes */
	HTTPD_LINE_OK,        /* METHOD SP target SP HTTP/1.x */
	HTTPD_LINE_MALFORMED, /* not an HTTP request line: 400 */
	HTTPD_LINE_VERSION,   /* HTTP, but not 1.x (HTTP/2.0, HTTP/3): 505 */
	HTTPD_LINE_TOO_LONG,  /* over `max` bytes: 414 */
};
struct httpd_line_info {
	char version[16]; /* as sent (printable ASCII) for OK and VERSION */
	size_t line_len;  /* without the line end or empty lines before, for OK and VERSION */
};
/* Reads the first line of buf[0..len) (empty lines before it skipped, but
 * counted in `max`; the line end may lie just past it).
 * MALFORMED is answered as soon as a byte proves it (a control byte, a
 * method that is no token), without waiting for the line's end. */
enum httpd_line httpd_request_line_check(const char *buf, size_t len, size_t max,
					 struct httpd_line_info *info);

/* ---- routing, a pure function (exported for unit tests and fuzzing) ---- */
#define HTTPD_PATH_MAX 2048     /* longer paths: HTTPD_MATCH_TOO_LONG (414) */
#define HTTPD_SEGMENTS_MAX 16
#define HTTPD_PARAMS_MAX 8
#define HTTPD_PARAM_MAX 256     /* a decoded capture, NUL included */
#define HTTPD_JSON_DEPTH_MAX 32 /* nesting of objects/arrays in a body */

enum {
	HTTPD_MATCH_NOT_FOUND = -1, /* no pattern fits the path: 404 */
	HTTPD_MATCH_METHOD = -2,    /* a pattern fits, not the method: 405, see allow */
	HTTPD_MATCH_BAD_PATH = -3,  /* bad percent-encoding, %00, control bytes: 400 */
	HTTPD_MATCH_TOO_LONG = -4,  /* over HTTPD_PATH_MAX: 414 */
};

struct httpd_params {
	size_t n;
	struct {
		const char *name; /* borrowed from the pattern, not NUL-terminated */
		size_t name_len;
		char value[HTTPD_PARAM_MAX];
	} p[HTTPD_PARAMS_MAX];
	char allow[64]; /* "GET, POST" after HTTPD_MATCH_METHOD */
};

/* Matches `method` and the raw (still percent-encoded) `path` against the
 * table; the first route in table order that fits wins. Segments are
 * compared after percent-decoding; "{name}" captures one non-empty segment.
 * One trailing slash is ignored ("/assistants/" = "/assistants"); an empty
 * inner segment ("/a//b") matches nothing. Returns the route index or a
 * HTTPD_MATCH_* value; params (required) receives captures or Allow. */
int httpd_route_match(const struct httpd_route *routes, size_t n, const char *method,
		      const char *path, struct httpd_params *params);
/* A capture by name, or NULL. */
const char *httpd_params_get(const struct httpd_params *params, const char *name);

/* ---- health listener ---------------------------------------------------- */
/* true when ready; otherwise false and a reason in why. Pool threads. */
typedef bool(httpd_ready_h)(char *why, size_t whylen, void *arg);

/* GET /healthz → 200 {"status":"ok"}; /readyz → 200 {"status":"ready"} or
 * 503 {"status":"not_ready","reason":…}; /metrics → metrics_render() as
 * text/plain; version=0.0.4. No auth. `limits` (may be NULL: defaults)
 * gives max_conns, max_per_client and request_timeout_s; its other fields
 * are ignored. Stop it with httpd_free(). */
int httpd_health_new(struct httpd **hp, const char *addr, httpd_ready_h *ready,
		       void *arg, const struct httpd_opts *limits) CM_MUST_USE;

#endif
