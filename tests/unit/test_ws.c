/* libs/ws: a server and clients in one process over 127.0.0.1 — accept and
 * refusal with a status, query arguments, whole messages both ways (a
 * 64 KiB one arrives in fragments and leaves whole), the size cap, close
 * from either side. */
#include "harness/test.h"
#include "ws/ws.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 5000

/* ---- an echo server --------------------------------------------------- */

struct server_state {
	pthread_mutex_t lock;
	int accepted, closed;
	char last_arg[64];
};

static int srv_accept(void **connargp, struct ws_conn *c, const char *path, char *reason, void *arg)
{
	struct server_state *s = arg;
	char who[64];
	if (strcmp(path, "/echo") != 0) {
		snprintf(reason, WS_REASON_MAX + 1, "%s: not here", path);
		return 404;
	}
	int err = ws_conn_arg(c, "who", who, sizeof(who));
	if (err) {
		snprintf(reason, WS_REASON_MAX + 1, "who: %s",
			 err == ENOENT ? "missing" : "too long");
		return 401;
	}
	pthread_mutex_lock(&s->lock);
	s->accepted++;
	snprintf(s->last_arg, sizeof(s->last_arg), "%s", who);
	pthread_mutex_unlock(&s->lock);
	*connargp = s;
	return 0;
}

static void srv_message(struct ws_conn *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
	(void)arg;
	if (!binary && len == 5 && memcmp(data, "close", 5) == 0) {
		ws_close(c, 1000, "asked to");
		return;
	}
	if (ws_send(c, binary, data, len))
		ws_close(c, 1011, "echo failed");
}

static void srv_closed(struct ws_conn *c, void *arg)
{
	struct server_state *s = arg;
	(void)c;
	pthread_mutex_lock(&s->lock);
	s->closed++;
	pthread_mutex_unlock(&s->lock);
}

static const struct ws_handlers srv_handlers = {
	.accept = srv_accept, .message = srv_message, .closed = srv_closed,
};

/* ---- a client that keeps what it gets --------------------------------- */

struct got {
	pthread_mutex_t lock;
	uint8_t *data;
	size_t len, messages;
	bool binary;
};

static void cli_message(struct ws_conn *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
	struct got *g = arg;
	(void)c;
	pthread_mutex_lock(&g->lock);
	free(g->data);
	g->data = malloc(len ? len : 1);
	if (g->data)
		memcpy(g->data, data, len);
	g->len = len;
	g->binary = binary;
	g->messages++;
	pthread_mutex_unlock(&g->lock);
}

static const struct ws_handlers cli_handlers = { .message = cli_message };

static size_t got_messages(struct got *g)
{
	pthread_mutex_lock(&g->lock);
	size_t n = g->messages;
	pthread_mutex_unlock(&g->lock);
	return n;
}

static bool await_messages(struct got *g, size_t want)
{
	int64_t end = time_mono_ms() + WAIT_MS;
	while (got_messages(g) < want && time_mono_ms() < end)
		lifecycle_wait(2);
	return got_messages(g) >= want;
}

static bool await_closed(struct ws_client *c)
{
	int64_t end = time_mono_ms() + WAIT_MS;
	while (!ws_client_closed(c) && time_mono_ms() < end)
		lifecycle_wait(2);
	return ws_client_closed(c);
}

static int server_up(struct ws_server **sp, struct server_state *st, char *base, size_t len)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	int err = ws_server_new(sp, "127.0.0.1:0", &srv_handlers, st);
	if (!err)
		snprintf(base, len, "ws://127.0.0.1:%d", ws_server_port(*sp));
	return err;
}

static int test_echo(void)
{
	struct ws_server *s = NULL;
	struct ws_client *c = NULL;
	struct server_state st;
	struct got g = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char base[64], url[128];
	uint8_t *big = malloc(WS_MESSAGE_MAX + 1);
	int err = 0, status = 0;
	TEST_ASSERT(big);
	TEST_EQ_INT(server_up(&s, &st, base, sizeof(base)), 0);
	TEST_ASSERT(ws_server_port(s) > 0);
	snprintf(url, sizeof(url), "%s/echo?x=1&who=tester%%20one", base);
	TEST_EQ_INT(ws_client_connect(&c, url, &cli_handlers, &g, WAIT_MS, &status), 0);
	TEST_EQ_INT(status, 101);
	TEST_EQ_STR(st.last_arg, "tester one");   /* URL-decoded */

	TEST_EQ_INT(ws_send(ws_client_conn(c), false, "hello", 5), 0);
	TEST_ASSERT(await_messages(&g, 1));
	TEST_ASSERT(!g.binary && g.len == 5 && memcmp(g.data, "hello", 5) == 0);

	/* the largest message goes out in fragments and comes back whole */
	for (size_t i = 0; i < WS_MESSAGE_MAX; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	TEST_EQ_INT(ws_send(ws_client_conn(c), true, big, WS_MESSAGE_MAX), 0);
	TEST_ASSERT(await_messages(&g, 2));
	pthread_mutex_lock(&g.lock);
	bool same = g.binary && g.len == WS_MESSAGE_MAX && memcmp(g.data, big, WS_MESSAGE_MAX) == 0;
	pthread_mutex_unlock(&g.lock);
	TEST_ASSERT(same);
	TEST_EQ_INT(ws_send(ws_client_conn(c), true, big, WS_MESSAGE_MAX + 1), EMSGSIZE);

	/* many small ones keep their order */
	for (int i = 0; i < 50; i++) {
		char m[16];
		int n = snprintf(m, sizeof(m), "m%d", i);
		TEST_EQ_INT(ws_send(ws_client_conn(c), false, m, (size_t)n), 0);
	}
	TEST_ASSERT(await_messages(&g, 52));
	TEST_ASSERT(g.len == 3 && memcmp(g.data, "m49", 3) == 0);

	/* the server closes when asked */
	TEST_EQ_INT(ws_send(ws_client_conn(c), false, "close", 5), 0);
	TEST_ASSERT(await_closed(c));
	TEST_ASSERT(ws_client_conn(c) == NULL);
	int64_t end = time_mono_ms() + WAIT_MS;
	for (;;) {
		pthread_mutex_lock(&st.lock);
		int closed = st.closed;
		pthread_mutex_unlock(&st.lock);
		if (closed == 1 || time_mono_ms() > end)
			break;
		lifecycle_wait(2);
	}
	TEST_EQ_INT(st.closed, 1);
out:
	ws_client_free(c);
	ws_server_free(s);
	free(g.data);
	free(big);
	return err;
}

static int test_refusals(void)
{
	struct ws_server *s = NULL;
	struct ws_client *c = NULL;
	struct server_state st;
	struct got g = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char base[64], url[128];
	int err = 0, status = 0;
	TEST_EQ_INT(server_up(&s, &st, base, sizeof(base)), 0);
	snprintf(url, sizeof(url), "%s/elsewhere?who=x", base);
	TEST_EQ_INT(ws_client_connect(&c, url, &cli_handlers, &g, WAIT_MS, &status), EACCES);
	TEST_EQ_INT(status, 404);
	snprintf(url, sizeof(url), "%s/echo", base);
	TEST_EQ_INT(ws_client_connect(&c, url, &cli_handlers, &g, WAIT_MS, &status), EACCES);
	TEST_EQ_INT(status, 401);
	TEST_EQ_INT(st.accepted, 0);
	TEST_EQ_INT(st.closed, 0);  /* closed() only for accepted connections */
	TEST_EQ_INT(ws_client_connect(&c, "http://127.0.0.1:1/", &cli_handlers, &g, WAIT_MS, NULL),
		    EINVAL);
	/* the address is taken */
	struct ws_server *s2 = NULL;
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ws_server_port(s));
	TEST_EQ_INT(ws_server_new(&s2, addr, &srv_handlers, &st), EADDRINUSE);
	TEST_EQ_INT(ws_server_new(&s2, "nowhere", &srv_handlers, &st), EINVAL);
	/* nobody listens any more */
	snprintf(url, sizeof(url), "%s/echo?who=x", base);
	s = ws_server_free(s);
	TEST_ASSERT(ws_client_connect(&c, url, &cli_handlers, &g, WAIT_MS, &status) != 0);
out:
	ws_client_free(c);
	ws_server_free(s);
	free(g.data);
	return err;
}

/* Stopping the server closes its clients, each with closed() on the
 * server side. */
static int test_stop_closes(void)
{
	struct ws_server *s = NULL;
	struct ws_client *c1 = NULL, *c2 = NULL;
	struct server_state st;
	struct got g = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char base[64], url[128];
	int err = 0, status = 0;
	TEST_EQ_INT(server_up(&s, &st, base, sizeof(base)), 0);
	snprintf(url, sizeof(url), "%s/echo?who=x", base);
	TEST_EQ_INT(ws_client_connect(&c1, url, &cli_handlers, &g, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_client_connect(&c2, url, &cli_handlers, &g, WAIT_MS, &status), 0);
	s = ws_server_free(s);
	TEST_EQ_INT(st.closed, 2);
	TEST_ASSERT(await_closed(c1));
	TEST_ASSERT(await_closed(c2));
	TEST_ASSERT(ws_client_conn(c1) == NULL);
out:
	ws_client_free(c1);
	ws_client_free(c2);
	ws_server_free(s);
	return err;
}

static const struct test tests[] = {
	{ "echo", test_echo },
	{ "refusals", test_refusals },
	{ "stop_closes", test_stop_closes },
};

TEST_MAIN(tests)
