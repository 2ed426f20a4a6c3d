/* WebSocket server and client over libwebsockets: one context and one
 * service thread each; other threads queue messages and wake the thread
 * with lws_cancel_service(), which asks for a writable callback on every
 * connection that has something queued. */
#include "ws/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH_MAX_LEN 512
#define ARG_MAX_LEN  4096  /* one query argument (a JWT fits) */
#define HEADER_MAX   8192  /* bytes of request headers */

struct ws_msg {                /* one allocation: this, LWS_PRE bytes, the message */
	size_t len;
	bool binary;
	uint8_t buf[];         /* LWS_PRE bytes of headroom, then the message */
};

struct ws_loop {
	struct lws_context *ctx;
	const struct ws_handlers *h;
	void *arg;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	pthread_mutex_t lock;   /* the list of open connections */
	struct ws_conn *conns;
};

struct ws_conn {
	struct ws_loop *loop;
	struct lws *wsi;
	void *connarg;
	bool linked;
	struct ws_conn *next, *prev; /* loop->conns, under loop->lock */

	struct mqueue *q;            /* struct ws_msg, any thread → the service thread;
				      * closed when the connection starts closing */
	pthread_mutex_t lock;        /* the closing state */
	bool closing;
	int close_code;
	char close_reason[WS_REASON_MAX + 1];

	uint8_t *rx;                 /* the message being assembled (service thread) */
	size_t rx_len;
	bool rx_binary;
};

struct ws_server {
	struct ws_loop loop;
	int port;
};

struct ws_client {
	struct ws_loop loop;
	struct ws_conn *slot;        /* the wsi's user data: the connection, or NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum { CLIENT_CONNECTING, CLIENT_OPEN, CLIENT_FAILED, CLIENT_CLOSED } state;
	int status, err;
};

/* ---- logging ------------------------------------------------------------ */

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	(void)level;
	log_warn("ws_error", "%.*s", (int)n, line);
}

/* Errors only: libwebsockets formats every line in one static buffer, so
 * two contexts logging at once (a server and clients in one process, as in
 * the tests) race on it; its warnings come on every refused upgrade, its
 * errors almost never. */
static void lws_log_setup(void)
{
	lws_set_log_level(LLL_ERR, lws_log);
}

/* ---- connections ------------------------------------------------------- */

static struct ws_conn *conn_new(struct ws_loop *l, struct lws *wsi)
{
	struct ws_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rx = malloc(WS_MESSAGE_MAX);
	if (!c->rx) {
		free(c);
		return NULL;
	}
	if (mqueue_new(&c->q, WS_QUEUE_MAX)) {
		free(c->rx);
		free(c);
		return NULL;
	}
	c->loop = l;
	c->wsi = wsi;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void conn_free(struct ws_conn *c)
{
	if (!c)
		return;
	mqueue_free(c->q, free);
	pthread_mutex_destroy(&c->lock);
	free(c->rx);
	free(c);
}

static void conn_link(struct ws_conn *c)
{
	struct ws_loop *l = c->loop;
	pthread_mutex_lock(&l->lock);
	c->next = l->conns;
	c->prev = NULL;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	c->linked = true;
	pthread_mutex_unlock(&l->lock);
}

static void conn_unlink(struct ws_conn *c)
{
	struct ws_loop *l = c->loop;
	pthread_mutex_lock(&l->lock);
	if (c->linked) {
		if (c->prev)
			c->prev->next = c->next;
		else
			l->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->linked = false;
	}
	pthread_mutex_unlock(&l->lock);
}

static void conn_open(struct ws_conn *c)
{
	conn_link(c);
	if (c->loop->h->open)
		c->loop->h->open(c, c->connarg);
}

static void conn_closed(struct ws_conn *c)
{
	conn_unlink(c);
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	mqueue_close(c->q); /* a ws_send racing with closed() gets EPIPE */
	pthread_mutex_unlock(&c->lock);
	if (c->loop->h->closed)
		c->loop->h->closed(c, c->connarg);
}

static int conn_receive(struct ws_conn *c, struct lws *wsi, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		c->rx_len = 0;
		c->rx_binary = lws_frame_is_binary(wsi);
	}
	if (len > WS_MESSAGE_MAX - c->rx_len) {
		static const char why[] = "message too big";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
				 sizeof(why) - 1);
		return -1;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
		size_t n = c->rx_len;
		c->rx_len = 0;
		c->loop->h->message(c, c->rx_binary, c->rx, n, c->connarg);
	}
	return 0;
}

static int conn_write(struct ws_conn *c, struct lws *wsi)
{
	struct ws_msg *m = mqueue_pop(c->q);
	if (!m) {
		pthread_mutex_lock(&c->lock);
		bool closing = c->closing;
		int code = c->close_code;
		char reason[WS_REASON_MAX + 1];
		snprintf(reason, sizeof(reason), "%s", c->close_reason);
		pthread_mutex_unlock(&c->lock);
		if (!closing)
			return 0;
		lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason,
				 strlen(reason));
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	bool more = mqueue_len(c->q) > 0 || c->closing;
	pthread_mutex_unlock(&c->lock);
	int n = lws_write(wsi, m->buf + LWS_PRE, m->len,
			  m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	size_t len = m->len;
	free(m);
	if (n < (int)len)
		return -1;
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

int ws_send(struct ws_conn *c, bool binary, const void *data, size_t len)
{
	if (!c || (!data && len))
		return EINVAL;
	if (len > WS_MESSAGE_MAX)
		return EMSGSIZE;
	struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len + 1);
	if (!m)
		return ENOMEM;
	m->len = len;
	m->binary = binary;
	if (len)
		memcpy(m->buf + LWS_PRE, data, len);
	/* EPIPE once closing: ws_close and closed() close the queue */
	int err = mqueue_push(c->q, m);
	if (err == ENOSPC)
		err = EAGAIN;
	if (err)
		free(m);
	else
		lws_cancel_service(c->loop->ctx);
	return err;
}

void ws_close(struct ws_conn *c, int code, const char *reason)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (!c->closing) {
		c->closing = true;
		c->close_code = code;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
		mqueue_close(c->q); /* later ws_send: EPIPE; what is queued is still sent */
	}
	pthread_mutex_unlock(&c->lock);
	lws_cancel_service(c->loop->ctx);
}

int ws_conn_arg(struct ws_conn *c, const char *name, char *buf, size_t len)
{
	char frag[ARG_MAX_LEN];
	size_t nlen = strlen(name);
	for (int i = 0; i < 64; i++) {
		int flen = lws_hdr_fragment_length(c->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
		if (flen <= 0)
			break;
		if ((size_t)flen >= sizeof(frag) ||
		    lws_hdr_copy_fragment(c->wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS,
					  i) < 0)
			continue;
		if (strncmp(frag, name, nlen) != 0 || frag[nlen] != '=')
			continue;
		const char *v = frag + nlen + 1;
		if (strlen(v) >= len)
			return EMSGSIZE;
		memcpy(buf, v, strlen(v) + 1);
		return 0;
	}
	return ENOENT;
}

/* Every connection with something queued (or a close to send) asks to
 * write. Service thread. */
static void loop_wake_writers(struct ws_loop *l)
{
	pthread_mutex_lock(&l->lock);
	for (struct ws_conn *c = l->conns; c; c = c->next) {
		pthread_mutex_lock(&c->lock);
		bool want = mqueue_len(c->q) > 0 || c->closing;
		pthread_mutex_unlock(&c->lock);
		if (want)
			lws_callback_on_writable(c->wsi);
	}
	pthread_mutex_unlock(&l->lock);
}

/* ---- the one callback ----------------------------------------------------- */

static int server_accept(struct ws_loop *l, struct lws *wsi, struct ws_conn **slot)
{
	char path[PATH_MAX_LEN], reason[WS_REASON_MAX + 1] = "";
	if (lws_hdr_copy(wsi, path, (int)sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	struct ws_conn *c = conn_new(l, wsi);
	if (!c) {
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "out of memory");
		return 1;
	}
	int status = l->h->accept(&c->connarg, c, path, reason, l->arg);
	if (status) {
		lws_return_http_status(wsi, (unsigned int)status, reason);
		conn_free(c);
		*slot = NULL;
		return 1;
	}
	*slot = c;
	return 0;
}

static void client_state(struct ws_client *cl, int state, int status, int err)
{
	pthread_mutex_lock(&cl->lock);
	cl->state = state;
	if (status)
		cl->status = status;
	if (err)
		cl->err = err;
	pthread_cond_broadcast(&cl->cond);
	pthread_mutex_unlock(&cl->lock);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct ws_loop *l = ctx ? lws_context_user(ctx) : NULL;
	struct ws_conn **slot = user;
	struct ws_conn *c = slot ? *slot : NULL;
	if (!l)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return slot ? server_accept(l, wsi, slot) : 1;
	case LWS_CALLBACK_HTTP:
		lws_return_http_status(wsi, 426,
				       "this address serves WebSocket only");
		return -1;
	case LWS_CALLBACK_ESTABLISHED:
		if (c)
			conn_open(c);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c) {
			conn_open(c);
			client_state((struct ws_client *)l, CLIENT_OPEN, 101, 0);
		}
		break;
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return c ? conn_receive(c, wsi, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return c ? conn_write(c, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			*slot = NULL;
			conn_closed(c);
			conn_free(c);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			struct ws_client *cl = (struct ws_client *)l;
			conn_closed(c);
			pthread_mutex_lock(&cl->lock);
			cl->slot = NULL;
			pthread_mutex_unlock(&cl->lock);
			conn_free(c);
			client_state(cl, CLIENT_CLOSED, 0, 0);
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		struct ws_client *cl = (struct ws_client *)l;
		int status = (int)lws_http_client_http_response(wsi);
		log_debug("ws_client_error", "%s (HTTP %d)", in ? (const char *)in : "", status);
		client_state(cl, CLIENT_FAILED, status,
			     status > 0 && status != 101 ? EACCES : ECONNREFUSED);
		break;
	}
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		loop_wake_writers(l);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "callmesh", ws_callback, sizeof(struct ws_conn *), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- loops -------------------------------------------------------------- */

static void *loop_main(void *arg)
{
	struct ws_loop *l = arg;
	while (!atomic_load(&l->stop))
		if (lws_service(l->ctx, 0) < 0)
			break;
	return NULL;
}

/* l must be the first member of its server or client: the context's user
 * pointer is the loop, and the callback casts it back. */
static int loop_init(struct ws_loop *l, struct lws_context_creation_info *info,
		     const struct ws_handlers *h, void *arg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, lws_log_setup);
	l->h = h;
	l->arg = arg;
	pthread_mutex_init(&l->lock, NULL);
	info->protocols = protocols;
	info->user = l;
	info->gid = -1;
	info->uid = -1;
	info->max_http_header_data = HEADER_MAX;
	info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	l->ctx = lws_create_context(info);
	return l->ctx ? 0 : ENOMEM;
}

static int loop_run(struct ws_loop *l)
{
	int err = pthread_create(&l->thread, NULL, loop_main, l);
	if (!err)
		l->thread_started = true;
	return err;
}

static void loop_fini(struct ws_loop *l)
{
	if (l->thread_started) {
		atomic_store(&l->stop, true);
		lws_cancel_service(l->ctx);
		pthread_join(l->thread, NULL);
		l->thread_started = false;
	}
	if (l->ctx)
		lws_context_destroy(l->ctx); /* closed() for each open connection */
	l->ctx = NULL;
	pthread_mutex_destroy(&l->lock);
}

/* "host:port", port 0..65535 (0: the kernel picks, for a listener) */
static int split_addr(char *host, size_t hlen, int *portp, const char *addr)
{
	struct hostport hp;
	if (!addr || addr_parse_listen(&hp, addr) || strlen(hp.host) >= hlen)
		return EINVAL;
	memcpy(host, hp.host, strlen(hp.host) + 1);
	*portp = hp.port;
	return 0;
}

/* Binds the address once ourselves: a clear errno for a taken address,
 * where libwebsockets would only fail to create its context. */
static int probe_bind(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return EINVAL;
	int one = 1, err = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		err = errno;
	close(fd);
	return err;
}

int ws_server_new(struct ws_server **sp, const char *addr, const struct ws_handlers *h, void *arg)
{
	char host[128];
	int port = 0;
	if (!sp || !h || !h->accept || !h->message || split_addr(host, sizeof(host), &port, addr))
		return EINVAL;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	int err = probe_bind(host, port);
	if (err) {
		log_error("ws_listen_failed", "%s: %s", addr, strerror(err));
		return err;
	}
	struct ws_server *s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = host;
	err = loop_init(&s->loop, &info, h, arg);
	if (err) {
		/* lws logged why */
		log_error("ws_listen_failed", "%s: cannot listen", addr);
		pthread_mutex_destroy(&s->loop.lock);
		free(s);
		return EADDRINUSE;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(s->loop.ctx, "default");
	s->port = vh ? lws_get_vhost_listen_port(vh) : port;
	err = loop_run(&s->loop);
	if (err) {
		loop_fini(&s->loop);
		free(s);
		return err;
	}
	*sp = s;
	return 0;
}

int ws_server_port(const struct ws_server *s)
{
	return s->port;
}

struct ws_server *ws_server_free(struct ws_server *s)
{
	if (!s)
		return NULL;
	loop_fini(&s->loop);
	free(s);
	return NULL;
}

/* ---- client --------------------------------------------------------------- */

int ws_client_connect(struct ws_client **cp, const char *url, const struct ws_handlers *h,
		      void *arg, int timeout_ms, int *statusp)
{
	char hostport[160], host[128];
	int port = 0, err = 0;
	if (!cp || !url || !h || !h->message || strncmp(url, "ws://", 5) != 0)
		return EINVAL;
	const char *rest = url + 5, *slash = strchr(rest, '/');
	size_t hl = slash ? (size_t)(slash - rest) : strlen(rest);
	if (hl >= sizeof(hostport))
		return EINVAL;
	memcpy(hostport, rest, hl);
	hostport[hl] = '\0';
	if (split_addr(host, sizeof(host), &port, hostport) || port == 0)
		return EINVAL;
	struct ws_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return ENOMEM;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->cond, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	err = loop_init(&cl->loop, &info, h, arg);
	if (err)
		goto out;
	cl->slot = conn_new(&cl->loop, NULL);
	if (!cl->slot) {
		err = ENOMEM;
		goto out;
	}
	cl->slot->connarg = arg;
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = cl->loop.ctx;
	ci.address = host;
	ci.port = port;
	ci.path = slash ? slash : "/";
	ci.host = hostport;
	ci.origin = hostport;
	ci.ietf_version_or_minus_one = -1;
	ci.userdata = &cl->slot;
	ci.pwsi = &cl->slot->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		err = ECONNREFUSED;
		goto out;
	}
	err = loop_run(&cl->loop);
	if (err)
		goto out;
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&cl->lock);
	while (cl->state == CLIENT_CONNECTING && !err)
		err = pthread_cond_timedwait(&cl->cond, &cl->lock, &end);
	if (cl->state == CLIENT_OPEN)
		err = 0;
	else if (cl->state == CLIENT_FAILED || cl->state == CLIENT_CLOSED)
		err = cl->err ? cl->err : ECONNRESET;
	if (statusp)
		*statusp = cl->status;
	pthread_mutex_unlock(&cl->lock);
out:
	if (err) {
		ws_client_free(cl);
		return err;
	}
	*cp = cl;
	return 0;
}

struct ws_conn *ws_client_conn(struct ws_client *c)
{
	pthread_mutex_lock(&c->lock);
	struct ws_conn *conn = c->state == CLIENT_OPEN ? c->slot : NULL;
	pthread_mutex_unlock(&c->lock);
	return conn;
}

bool ws_client_closed(struct ws_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool closed = c->state == CLIENT_CLOSED || c->state == CLIENT_FAILED;
	pthread_mutex_unlock(&c->lock);
	return closed;
}

struct ws_client *ws_client_free(struct ws_client *c)
{
	if (!c)
		return NULL;
	struct ws_conn *conn = ws_client_conn(c);
	if (conn)
		ws_close(conn, LWS_CLOSE_STATUS_NORMAL, "bye");
	/* the close handshake gets up to a second before the context goes */
	if (conn && c->loop.thread_started) {
		struct timespec end;
		clock_gettime(CLOCK_REALTIME, &end);
		end.tv_sec += 1;
		pthread_mutex_lock(&c->lock);
		while (c->state == CLIENT_OPEN &&
		       pthread_cond_timedwait(&c->cond, &c->lock, &end) == 0)
			;
		pthread_mutex_unlock(&c->lock);
	}
	if (c->loop.ctx)
		loop_fini(&c->loop);
	else
		pthread_mutex_destroy(&c->loop.lock);
	/* a connection that never opened (or never got a wsi) is still ours */
	conn_free(c->slot);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}
