/*
 * ws — WebSocket (RFC 6455) server and client, libwebsockets underneath.
 * room-manager serves browser members of local rooms with the server; the
 * tests play the browser with the client.
 *
 * Each server or client runs one thread of its own that owns every
 * libwebsockets object; the handlers below run on it, one at a time, and
 * must return quickly (copy and hand off). ws_send() and ws_close() may be
 * called from any thread: they queue (at most WS_QUEUE_MAX messages per
 * connection) and wake the thread, which writes when the socket can take
 * it.
 *
 * A connection (struct ws_conn) is valid from accept()/open() until its
 * closed() handler returns; the caller must not pass it to ws_send() or
 * ws_close() after that (e.g. stop the threads that send on it inside
 * closed()). Messages are whole: fragments are joined, and a message above
 * WS_MESSAGE_MAX closes the connection with 1009 (message too big).
 */
#ifndef CALLMESH_WS_H
#define CALLMESH_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define WS_MESSAGE_MAX (64 * 1024)  /* bytes of one message, either way */
#define WS_QUEUE_MAX   128          /* messages waiting to be written per connection */
#define WS_REASON_MAX  200          /* bytes of a refusal or close reason */

struct ws_conn;

struct ws_handlers {
	/* Server only: a client asks to upgrade `path` (borrowed; no query).
	 * Read query arguments with ws_conn_arg(). Return 0 to accept, with
	 * *connargp (initially NULL) handed to the handlers below; or an HTTP
	 * status (401, 404, ...) with `reason` (WS_REASON_MAX + 1 bytes)
	 * filled: the client gets that status with the reason in a small
	 * HTML body, and nothing else is called for it. */
	int (*accept)(void **connargp, struct ws_conn *c, const char *path, char *reason,
		      void *arg);
	/* The connection is open (server: after the upgrade; client: the
	 * server said 101). May be NULL. */
	void (*open)(struct ws_conn *c, void *connarg);
	/* One whole message; data borrowed for the call. */
	void (*message)(struct ws_conn *c, bool binary, const uint8_t *data, size_t len,
			void *connarg);
	/* Either side closed or the connection broke; last call for c. */
	void (*closed)(struct ws_conn *c, void *connarg);
};

/* The query argument `name` of the upgrade request being accepted (only
 * inside accept()), URL-decoded into buf (len bytes, NUL-terminated).
 * 0; ENOENT when absent; EMSGSIZE when it does not fit. */
int ws_conn_arg(struct ws_conn *c, const char *name, char *buf, size_t len) CM_MUST_USE;

/* Queues one message (copied). 0; EMSGSIZE above WS_MESSAGE_MAX; EAGAIN
 * when WS_QUEUE_MAX messages already wait (the peer does not read: the
 * message is dropped, the caller decides whether that matters); EPIPE
 * once the connection is closing; ENOMEM. Any thread. */
int ws_send(struct ws_conn *c, bool binary, const void *data, size_t len) CM_MUST_USE;
/* Closes with `code` (1000 normal, 1008 policy, ...) and `reason`
 * (borrowed, cut at WS_REASON_MAX) after the messages already queued. Any
 * thread; closed() follows on the connection's thread. */
void ws_close(struct ws_conn *c, int code, const char *reason);

/* ---- server ------------------------------------------------------------ */

struct ws_server;
/* Listens on `addr` ("host:port", host an IPv4 address or "localhost";
 * borrowed) and serves until ws_server_free(). `h` and `arg` are borrowed
 * and must outlive the server. EADDRINUSE (or another errno of bind()),
 * EINVAL (bad address), ENOMEM. */
int ws_server_new(struct ws_server **sp, const char *addr, const struct ws_handlers *h,
		    void *arg) CM_MUST_USE;
/* The port listened on (useful with port 0). */
int ws_server_port(const struct ws_server *s);
/* Closes every connection (closed() runs for each, on the calling
 * thread), stops the thread and frees. NULL-safe; returns NULL. */
struct ws_server *ws_server_free(struct ws_server *s);

/* ---- client ------------------------------------------------------------ */

struct ws_client;
/* Connects to `url` ("ws://host:port/path?query", borrowed) and waits up
 * to timeout_ms for the upgrade. 0 with *cp set (the handlers' connarg is
 * `arg`; open() has run); EACCES when the server refused the upgrade, with
 * its HTTP status in *statusp (may be NULL); ECONNREFUSED; ETIMEDOUT;
 * EINVAL (not a ws:// URL). `h` and `arg` must outlive the client. */
int ws_client_connect(struct ws_client **cp, const char *url, const struct ws_handlers *h,
		      void *arg, int timeout_ms, int *statusp) CM_MUST_USE;
/* The connection (NULL once closed). */
struct ws_conn *ws_client_conn(struct ws_client *c);
/* True once the connection has closed (closed() has run). Any thread. */
bool ws_client_closed(struct ws_client *c);
/* Closes (if still open), stops the thread and frees. NULL-safe. */
struct ws_client *ws_client_free(struct ws_client *c);

#endif
