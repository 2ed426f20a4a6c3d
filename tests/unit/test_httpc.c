/* libs/httpc against a real HTTP server: a small one on a thread of this
 * test, on 127.0.0.1 and a port the kernel picks. Status, body, headers,
 * timeout, max_response, streaming, cancel, connection refused and the
 * egress hook. */
#include "core/core.h"
#include "egress/egress.h"
#include "harness/test.h"
#include "httpc/httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX  (256 * 1024)
#define BIG_LEN  100000
#define SLOW_MAX_MS 5000

struct server {
	int lfd, stopfd, port;
	pthread_t th;
	atomic_int accepted;
	/* the last request, written by the server thread before it answers */
	char method[16], path[128], x_test[64];
	char *body;
	size_t body_len;
};

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, int status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Test\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, len);
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

static const char *header_value(const char *head, const char *name, char *out, size_t outlen)
{
	out[0] = '\0';
	const char *p = strcasestr(head, name);
	if (!p)
		return out;
	p += strlen(name);
	while (*p == ' ')
		p++;
	size_t n = strcspn(p, "\r\n");
	snprintf(out, outlen, "%.*s", (int)n, p);
	return out;
}

/* Reads one request (headers and Content-Length body); false on a bad one. */
static bool read_request(struct server *s, int fd, char *buf)
{
	size_t len = 0;
	char *end = NULL;
	while (!end && len < REQ_MAX - 1) {
		ssize_t r = recv(fd, buf + len, REQ_MAX - 1 - len, 0);
		if (r <= 0)
			return false;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end)
		return false;
	char cl[32];
	size_t want =
		(size_t)strtoul(header_value(buf, "\r\nContent-Length:", cl, sizeof(cl)), NULL, 10);
	size_t head_len = (size_t)(end - buf) + 4;
	while (len - head_len < want && len < REQ_MAX - 1) {
		ssize_t r = recv(fd, buf + len, REQ_MAX - 1 - len, 0);
		if (r <= 0)
			return false;
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (sscanf(buf, "%15s %127s", s->method, s->path) != 2)
		return false;
	header_value(buf, "\r\nX-Test:", s->x_test, sizeof(s->x_test));
	free(s->body);
	s->body_len = len - head_len;
	s->body = malloc(s->body_len + 1);
	if (s->body) {
		memcpy(s->body, buf + head_len, s->body_len);
		s->body[s->body_len] = '\0';
	}
	return true;
}

static void serve_one(struct server *s, int fd, char *buf)
{
	if (!read_request(s, fd, buf))
		return;
	if (strncmp(s->path, "/status/", 8) == 0) {
		char body[64];
		int st = (int)strtol(s->path + 8, NULL, 10);
		int n = snprintf(body, sizeof(body), "status %d", st);
		answer(fd, st, body, (size_t)n);
	} else if (strcmp(s->path, "/echo") == 0) {
		answer(fd, 200, s->body ? s->body : "", s->body_len);
	} else if (strcmp(s->path, "/big") == 0) {
		char *big = malloc(BIG_LEN);
		if (big) {
			memset(big, 'b', BIG_LEN);
			answer(fd, 200, big, BIG_LEN);
		}
		free(big);
	} else if (strcmp(s->path, "/slow") == 0) {
		/* never answers: waits for the client to go, or for stop */
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = s->stopfd, .events = POLLIN } };
		poll(p, 2, SLOW_MAX_MS);
	} else {
		answer(fd, 404, "no such path", 12);
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	char *buf = malloc(REQ_MAX);
	for (int guard = 0; buf && guard < 1000; guard++) {
		struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
				       { .fd = s->stopfd, .events = POLLIN } };
		if (poll(p, 2, 10000) <= 0 || (p[1].revents & POLLIN))
			break;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		serve_one(s, fd, buf);
		close(fd);
	}
	free(buf);
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	memset(s, 0, sizeof(*s));
	s->stopfd = eventfd(0, EFD_CLOEXEC);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->stopfd < 0 || s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->lfd, 16) || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) ||
	    pthread_create(&s->th, NULL, server_main, s)) {
		if (s->lfd >= 0)
			close(s->lfd);
		if (s->stopfd >= 0)
			close(s->stopfd);
		return EIO;
	}
	s->port = ntohs(sa.sin_port);
	return 0;
}

static void server_stop(struct server *s)
{
	uint64_t one = 1;
	if (write(s->stopfd, &one, sizeof(one)) != sizeof(one))
		return;
	pthread_join(s->th, NULL);
	close(s->lfd);
	close(s->stopfd);
	free(s->body);
}

static void url(char *buf, size_t len, const struct server *s, const char *path)
{
	snprintf(buf, len, "http://127.0.0.1:%d%s", s->port, path);
}

/* Each test gets a fresh server, stopped after it whatever the outcome. */
static int with_server(int (*fn)(struct server *sp))
{
	struct server s;
	int err = 0;
	TEST_EQ_INT(server_start(&s), 0);
	err = fn(&s);
	server_stop(&s);
out:
	return err;
}

static int status_and_body(struct server *sp)
{
	int err = 0;
	struct httpc_resp r = { 0 };
	char u[128], why[256];
	url(u, sizeof(u), sp, "/status/200");
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .url = u, .timeout_ms = 5000 }, why,
			     sizeof(why)),
		    0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.body, "status 200");
	TEST_EQ_INT(r.len, 10);
	TEST_EQ_STR(sp->method, "GET");
	httpc_resp_fini(&r);
	/* any status is an answer */
	url(u, sizeof(u), sp, "/status/503");
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .url = u, .timeout_ms = 5000 }, why,
			     sizeof(why)),
		    0);
	TEST_EQ_INT(r.status, 503);
	TEST_EQ_STR(r.body, "status 503");
	httpc_resp_fini(&r);
	/* a POST with headers and a body reaches the server as sent */
	static const char *const hdrs[] = { "X-Test: hello", "Content-Type: application/json",
					    NULL };
	url(u, sizeof(u), sp, "/echo");
	struct httpc_req post = { .method = "POST",
				  .url = u,
				  .headers = hdrs,
				  .body = "{\"a\":1}xx",
				  .body_len = 7,
				  .timeout_ms = 5000 };
	TEST_EQ_INT(httpc_do(&r, &post, why, sizeof(why)), 0);
	TEST_EQ_INT(r.status, 200);
	TEST_EQ_STR(r.body, "{\"a\":1}");
	TEST_EQ_STR(sp->method, "POST");
	TEST_EQ_STR(sp->x_test, "hello");
	httpc_resp_fini(&r);
	/* multipart parts arrive by name */
	struct httpc_part parts[] = {
		{ .name = "file",
		  .filename = "a.wav",
		  .type = "audio/wav",
		  .data = "RIFF",
		  .len = 4 },
		{ .name = "model", .data = "whisper-1", .len = 9 },
	};
	struct httpc_req mp = { .url = u, .parts = parts, .nparts = 2, .timeout_ms = 5000 };
	TEST_EQ_INT(httpc_do(&r, &mp, why, sizeof(why)), 0);
	TEST_EQ_STR(sp->method, "POST");
	TEST_CONTAINS(r.body, "name=\"file\"; filename=\"a.wav\"");
	TEST_CONTAINS(r.body, "whisper-1");
	/* empty bodies and HEAD: status without a body */
	httpc_resp_fini(&r);
	url(u, sizeof(u), sp, "/echo");
	TEST_EQ_INT(
		httpc_do(&r,
			 &(struct httpc_req){ .method = "DELETE", .url = u, .timeout_ms = 5000 },
			 why, sizeof(why)),
		0);
	TEST_EQ_STR(sp->method, "DELETE");
	TEST_EQ_INT(r.status, 200);
	TEST_ASSERT(r.body == NULL && r.len == 0);
out:
	httpc_resp_fini(&r);
	return err;
}

static int timeout(struct server *sp)
{
	int err = 0;
	struct httpc_resp r = { 0 };
	char u[128], why[256];
	url(u, sizeof(u), sp, "/slow");
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .url = u, .timeout_ms = 300 }, why,
			     sizeof(why)),
		    ETIMEDOUT);
	int64_t took = time_mono_ms() - t0;
	TEST_ASSERT(took >= 250 && took < SLOW_MAX_MS);
	TEST_CONTAINS(why, "timed out");
	TEST_EQ_INT(r.status, 0);
	TEST_ASSERT(r.body == NULL);
out:
	httpc_resp_fini(&r);
	return err;
}

static bool cancel_after(void *arg)
{
	return time_mono_ms() >= *(int64_t *)arg;
}

static int cancel(struct server *sp)
{
	int err = 0;
	struct httpc_resp r = { 0 };
	char u[128], why[256];
	url(u, sizeof(u), sp, "/slow");
	int64_t at = time_mono_ms() + 200;
	struct httpc_req req = {
		.url = u, .timeout_ms = 4000, .cancelled = cancel_after, .cancel_arg = &at
	};
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), ECANCELED);
	TEST_ASSERT(time_mono_ms() - at < 3000);
	TEST_CONTAINS(why, "cancelled");
out:
	httpc_resp_fini(&r);
	return err;
}

struct stream {
	size_t got, calls, stop_after;
};

static bool on_piece(const char *data, size_t len, void *arg)
{
	struct stream *st = arg;
	for (size_t i = 0; i < len; i++)
		if (data[i] != 'b')
			return false;
	st->got += len;
	st->calls++;
	return st->stop_after == 0 || st->got < st->stop_after;
}

static int max_response_and_stream(struct server *sp)
{
	int err = 0;
	struct httpc_resp r = { 0 };
	char u[128], why[256];
	url(u, sizeof(u), sp, "/big");
	TEST_EQ_INT(
		httpc_do(&r,
			 &(struct httpc_req){ .url = u, .timeout_ms = 5000, .max_response = 1000 },
			 why, sizeof(why)),
		EMSGSIZE);
	TEST_CONTAINS(why, "larger than 1000 bytes");
	TEST_ASSERT(r.body == NULL);
	/* exactly the limit fits */
	TEST_EQ_INT(httpc_do(&r,
			     &(struct httpc_req){
				     .url = u, .timeout_ms = 5000, .max_response = BIG_LEN },
			     why, sizeof(why)),
		    0);
	TEST_EQ_INT(r.len, BIG_LEN);
	TEST_EQ_INT(strlen(r.body), BIG_LEN);
	httpc_resp_fini(&r);
	/* streamed: every byte reaches the reader, nothing is collected */
	struct stream st = { 0 };
	struct httpc_req req = {
		.url = u, .timeout_ms = 5000, .on_body = on_piece, .body_arg = &st
	};
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), 0);
	TEST_EQ_INT(st.got, BIG_LEN);
	TEST_ASSERT(st.calls >= 1 && r.body == NULL);
	/* the reader stops the transfer */
	st = (struct stream){ .stop_after = 1 };
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), ECANCELED);
	TEST_EQ_INT(st.calls, 1);
	/* the cap holds for a streamed body too */
	st = (struct stream){ 0 };
	req.max_response = 5000;
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), EMSGSIZE);
	TEST_ASSERT(st.got <= 5000);
out:
	httpc_resp_fini(&r);
	return err;
}

struct seen {
	int family, port, calls;
	bool verdict;
};

static bool allow_rec(const struct sockaddr *sa, void *arg)
{
	struct seen *sn = arg;
	sn->calls++;
	sn->family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		sn->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return sn->verdict;
}

static int allow_and_refused(struct server *sp)
{
	int err = 0;
	struct httpc_resp r = { 0 };
	char u[128], why[512];
	url(u, sizeof(u), sp, "/status/204");
	/* allowed: the hook saw the address it connects to */
	struct seen sn = { .verdict = true };
	struct httpc_req req = {
		.url = u, .timeout_ms = 5000, .allow = allow_rec, .allow_arg = &sn
	};
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), 0);
	TEST_EQ_INT(r.status, 204);
	TEST_EQ_INT(sn.family, AF_INET);
	TEST_EQ_INT(sn.port, sp->port);
	TEST_EQ_INT(atomic_load(&sp->accepted), 1);
	httpc_resp_fini(&r);
	/* refused: EACCES, and no connection was made */
	sn = (struct seen){ .verdict = false };
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), EACCES);
	TEST_ASSERT(sn.calls >= 1);
	TEST_CONTAINS(why, "127.0.0.1 is not allowed");
	TEST_EQ_INT(atomic_load(&sp->accepted), 1);
	/* libs/egress as the hook: loopback refused with its sentence */
	char gerr[256] = "";
	struct egress_guard g = { false, gerr, sizeof(gerr) };
	req.allow = egress_allow;
	req.allow_arg = &g;
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), EACCES);
	TEST_CONTAINS(gerr, "127.0.0.1 is a loopback address");
	g.allow_private = true;
	TEST_EQ_INT(httpc_do(&r, &req, why, sizeof(why)), 0);
	TEST_EQ_INT(r.status, 204);
	TEST_EQ_INT(atomic_load(&sp->accepted), 2);
	httpc_resp_fini(&r);
	/* nothing listening: ECONNREFUSED */
	int port = test_free_port();
	TEST_ASSERT(port > 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .url = u, .timeout_ms = 3000 }, why,
			     sizeof(why)),
		    ECONNREFUSED);
	TEST_ASSERT(why[0] != '\0');
	/* bad requests */
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .url = u }, why, sizeof(why)), EINVAL);
	TEST_CONTAINS(why, "timeout_ms");
	TEST_EQ_INT(httpc_do(&r, &(struct httpc_req){ .timeout_ms = 10 }, why, sizeof(why)),
		    EINVAL);
	TEST_EQ_INT(httpc_do(&r,
			     &(struct httpc_req){ .url = "ftp://127.0.0.1/", .timeout_ms = 1000 },
			     why, sizeof(why)),
		    EIO);
out:
	httpc_resp_fini(&r);
	return err;
}

static int test_status_and_body(void)
{
	return with_server(status_and_body);
}

static int test_timeout(void)
{
	return with_server(timeout);
}

static int test_cancel(void)
{
	return with_server(cancel);
}

static int test_max_response_and_stream(void)
{
	return with_server(max_response_and_stream);
}

static int test_allow_and_refused(void)
{
	return with_server(allow_and_refused);
}

static const struct test tests[] = {
	{ "status_and_body", test_status_and_body },
	{ "timeout", test_timeout },
	{ "cancel", test_cancel },
	{ "max_response_and_stream", test_max_response_and_stream },
	{ "allow_and_refused", test_allow_and_refused },
};
TEST_MAIN(tests)
